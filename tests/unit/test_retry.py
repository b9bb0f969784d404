"""`service.retry`: the back-off of background load retries: doubling waits, capped, never overflowing."""

from __future__ import annotations

import asyncio

from service.retry import Backoff, retry_with_backoff


def test_waits_double_up_to_the_cap() -> None:
    backoff = Backoff(first_s=1.0, max_s=60.0)
    assert [backoff.delay_s(failures) for failures in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay_s(10_000) == 60.0  # days of failures: still the cap, no float overflow
    assert backoff.enabled and not Backoff(first_s=0.0, max_s=60.0).enabled


def test_retries_until_the_attempt_says_done() -> None:
    answers, waits = iter([False, False, True]), []

    async def attempt() -> bool:
        return next(answers)

    asyncio.run(retry_with_backoff(attempt, Backoff(first_s=0.001, max_s=0.002), waits.append))
    assert waits == [0.001, 0.002, 0.002]
