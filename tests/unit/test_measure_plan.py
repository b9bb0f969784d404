"""What `measure` measures: settings (validated, recorded as the schema says) and the seeded sample of items."""

from __future__ import annotations

import os

import pytest

from models.measure_plan import (
    MeasurementError,
    MeasureSettings,
    ServerTarget,
    TaskPlan,
    plan_record,
    sample_items,
    settings_record,
)


def test_sample_items_is_seeded_and_uses_every_item_before_repeating() -> None:
    items = list(range(10))
    first = sample_items(items, 25, seed=3)
    assert first == sample_items(items, 25, seed=3) and first != sample_items(items, 25, seed=4)
    assert sorted(first[:10]) == items and len(first) == 25
    with pytest.raises(MeasurementError, match="empty"):
        sample_items([], 5, seed=0)


def test_settings_validate_and_record_as_the_schema_says() -> None:
    quick = MeasureSettings.quick()
    assert quick.trial_seconds < MeasureSettings().trial_seconds
    with pytest.raises(ValueError, match="min_samples"):
        MeasureSettings(min_samples=50, max_samples=10)
    with pytest.raises(ValueError, match="trial_seconds"):
        MeasureSettings(trial_seconds=0)
    record = settings_record(MeasureSettings())
    assert record.model_dump(mode="json") == {
        "seed": 0,
        "single_stream": {"warmup": 10, "min_samples": 200, "max_samples": 1000, "max_seconds": 10.0},
        "server": {
            "trial_seconds": 6.0,
            "target_seconds": 30.0,
            "target_queries": 1200,
            "min_queries": 200,
            "search_steps": 5,
            "repeats": 3,
        },
        "service": {
            "threads": 1,
            "max_batch_size": 32,
            "max_latency_ms": 0.0,
            "max_batch_tokens": 2048,
            "max_queue_items": 256,
            "max_queue_wait_ms": 50.0,
            "concurrent_batches": len(os.sched_getaffinity(0)),  # the default: one per CPU of the process
            "max_batch_ms": 25.0,
            "shedding_queue_wait_ms": 10.0,
            "shedding_hold_s": 1.0,
        },
        "offline": {"batch_sizes": [1, 8, 32], "max_seconds": 4.0},
    }


def test_plan_records_threads_and_server_targets_in_order() -> None:
    plan = TaskPlan(threads=(1, 2), server_targets=(ServerTarget(50.0, 40.0), ServerTarget(100.0, 5.0)))
    assert plan_record(plan).model_dump(mode="json") == {
        "threads": [1, 2],
        "server_targets": [{"p99_bound_ms": 50.0, "target_rps": 40.0}, {"p99_bound_ms": 100.0, "target_rps": 5.0}],
    }
