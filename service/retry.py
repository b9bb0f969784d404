"""Exponential back-off for background retries: a variant that failed to load is tried again until it loads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

MAX_DOUBLINGS = 64  # 2.0 ** n overflows a float past n = 1023; any cap is reached long before 64 doublings


@dataclass(frozen=True)
class Backoff:
    """Waits of `first_s`, doubling after each failure in a row, never longer than `max_s`; `first_s` 0: no retries."""

    first_s: float
    max_s: float

    @property
    def enabled(self) -> bool:
        return self.first_s > 0

    def delay_s(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row (1, 2, ...)."""
        return min(self.first_s * 2.0 ** min(max(failures - 1, 0), MAX_DOUBLINGS), self.max_s)


async def retry_with_backoff(
    attempt: Callable[[], Awaitable[bool]], backoff: Backoff, waiting: Callable[[float], None]
) -> None:
    """After a first failure: wait, call `attempt`, and again with longer waits, until it answers True (it loaded, or
    there is nothing left to retry). `waiting(seconds)` hears of each wait before it begins."""
    failures = 1
    while True:
        delay = backoff.delay_s(failures)
        waiting(delay)
        await asyncio.sleep(delay)
        if await attempt():
            return
        failures += 1
