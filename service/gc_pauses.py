"""Garbage-collection pauses of the worker, timed into `scenario_serve_gc_pause_seconds{generation}`.

A collection runs on whichever thread allocates, holding the GIL: the event loop, and with it every request in
flight on the worker, waits until it ends. The engine moves the loaded variants out of the collector's view
(`service.engine.freeze_heap`), so that a full collection during serving scans only what serving allocated; this
histogram shows whether collections still reach request latency (a full collection at start-up is expected:
the one before the freeze).

The collector's callback only appends to a deque; the pauses reach the histogram later, on the event loop. A
collection can start in the middle of any allocation, including inside prometheus_client while it holds its
lock (one lock for every metric in multiprocess mode): observing from the callback would then wait for a lock
its own thread holds, and the worker would hang (a CI run of the first version did exactly that).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from typing import Any

from service import metrics

RECORD_EVERY_S = 1.0
_started = [0.0]  # collections never overlap: they hold the GIL from start to stop
_pauses: deque[tuple[int, float]] = deque(maxlen=100_000)  # (generation, seconds), not yet recorded


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses.append((info["generation"], time.perf_counter() - _started[0]))


def time_gc_pauses() -> None:
    """Time every collection of this process from now on (once, however often it is called)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)


def record_gc_pauses() -> int:
    """Move the pauses timed so far into the histogram; how many there were."""
    recorded = 0
    while _pauses:
        generation, seconds = _pauses.popleft()
        metrics.GC_PAUSE.labels(generation=str(generation)).observe(seconds)
        recorded += 1
    return recorded


async def record_gc_pauses_forever(interval_s: float = RECORD_EVERY_S) -> None:
    while True:
        record_gc_pauses()
        await asyncio.sleep(interval_s)
