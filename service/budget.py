"""Budgets for decoded image pixels: per request, and across the concurrent requests of one worker process.

A per-image pixel limit alone lets a 4 MB request of 64 blank 4096x4096 PNGs decode to 4 GB. Each request
therefore takes a `PixelLease`: before an image's pixels are decoded (its size is read from the header), the
lease takes width x height from the request's own allowance (413 beyond it) and from the worker's shared
`PixelBudget` (503 + Retry-After when concurrent requests already hold it). The lease gives everything back
when the request has been answered, since the decoded images live until their batch has run.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from service.errors import ImageBudgetExhausted, PayloadTooLarge


class PixelBudget:
    """Decoded pixels held by the in-flight requests of this process; thread-safe (images decode in threads)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        return self._held

    def try_take(self, pixels: int) -> bool:
        with self._lock:
            if self._held + pixels > self.limit:
                return False
            self._held += pixels
            return True

    def give_back(self, pixels: int) -> None:
        with self._lock:
            self._held = max(0, self._held - pixels)


@lru_cache(maxsize=4)
def shared_budget(limit: int) -> PixelBudget:
    """The process-wide budget for this limit (the configuration fixes it for the life of a worker)."""
    return PixelBudget(limit)


class LeaseClosed(Exception):
    """A decoding thread outlived its request (e.g. past its deadline): it must stop, not take more pixels."""


class PixelLease:
    """One request's decoded pixels, taken image by image and given back all at once by `release`."""

    def __init__(self, budget: PixelBudget, request_limit: int) -> None:
        self.budget = budget
        self.request_limit = request_limit
        self.taken = 0
        self.closed = False
        self._lock = threading.Lock()

    def take(self, pixels: int, field: str) -> None:
        """Reserve an image's pixels before decoding it; PayloadTooLarge (413) past the per-request limit,
        ImageBudgetExhausted (503) when the worker's budget is held by other requests."""
        with self._lock:
            if self.closed:
                raise LeaseClosed("the request has already been answered")
            if self.taken + pixels > self.request_limit:
                raise PayloadTooLarge(
                    f"{field} brings the request's images to {self.taken + pixels} pixels; at most "
                    f"{self.request_limit} per request",
                    field="images",
                    limit=self.request_limit,
                )
            if not self.budget.try_take(pixels):
                raise ImageBudgetExhausted(
                    f"the images of concurrent requests hold the worker's decoding budget of {self.budget.limit} "
                    "pixels; retry shortly",
                    limit=self.budget.limit,
                )
            self.taken += pixels

    def release(self) -> None:
        """Give everything back; later `take` calls raise LeaseClosed."""
        with self._lock:
            self.budget.give_back(self.taken)
            self.taken = 0
            self.closed = True
