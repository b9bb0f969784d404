"""Every garbage collection of the process is timed into scenario_serve_gc_pause_seconds, by generation, and the
collector's callback takes no lock (prometheus_client's would deadlock a collection that starts inside it)."""

from __future__ import annotations

import gc
import threading

from prometheus_client import REGISTRY

from service import metric_names, metrics
from service.gc_pauses import _on_collection, _pauses, record_gc_pauses, time_gc_pauses


def collections(generation: int) -> float:
    value = REGISTRY.get_sample_value(f"{metric_names.GC_PAUSE}_count", {"generation": str(generation)})
    return value or 0.0


def test_a_full_collection_is_timed_once_however_often_it_is_turned_on() -> None:
    time_gc_pauses()
    time_gc_pauses()
    assert gc.callbacks.count(_on_collection) == 1
    record_gc_pauses()
    before = collections(2)
    gc.collect()
    assert collections(2) == before  # timed, not yet recorded: the callback only queues it
    assert record_gc_pauses() >= 1
    assert collections(2) == before + 1
    assert REGISTRY.get_sample_value(f"{metric_names.GC_PAUSE}_sum", {"generation": "2"}) > 0


def test_the_collector_callback_never_waits_for_a_metric_lock() -> None:
    """A collection may start while its own thread holds a metric's lock (inside prometheus_client): the callback
    must not need that lock. Here another thread holds it, and a collection must still finish at once."""
    time_gc_pauses()
    lock = metrics.GC_PAUSE.labels(generation="2")._sum._lock  # single-process mode: one lock per value
    collector = threading.Thread(target=gc.collect, daemon=True)
    with lock:
        collector.start()
        collector.join(timeout=10)
        finished = not collector.is_alive()
    assert finished, "a garbage collection waited for a metric's lock"
    assert _pauses
    record_gc_pauses()
