"""Every garbage collection of the process is timed into scenario_serve_gc_pause_seconds, by generation."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from service import metric_names
from service.gc_pauses import _on_collection, time_gc_pauses


def collections(generation: int) -> float:
    value = REGISTRY.get_sample_value(f"{metric_names.GC_PAUSE}_count", {"generation": str(generation)})
    return value or 0.0


def test_a_full_collection_is_timed_once_however_often_it_is_turned_on() -> None:
    time_gc_pauses()
    time_gc_pauses()
    assert gc.callbacks.count(_on_collection) == 1
    before = collections(2)
    gc.collect()
    assert collections(2) == before + 1
    assert REGISTRY.get_sample_value(f"{metric_names.GC_PAUSE}_sum", {"generation": "2"}) > 0
