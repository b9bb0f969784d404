"""Garbage-collection pauses of the worker, timed into `scenario_serve_gc_pause_seconds{generation}`.

A collection runs on whichever thread allocates, holding the GIL: the event loop, and with it every request in
flight on the worker, waits until it ends. The engine moves the loaded variants out of the collector's view
(`service.engine.freeze_heap`), so that a full collection during serving scans only what serving allocated; this
histogram shows whether collections still reach request latency (a full collection at start-up is expected:
the one before the freeze).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from service import metrics

_started = [0.0]  # collections never overlap: they hold the GIL from start to stop


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        metrics.GC_PAUSE.labels(generation=str(info["generation"])).observe(time.perf_counter() - _started[0])


def time_gc_pauses() -> None:
    """Time every collection of this process from now on (once, however often it is called)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)
