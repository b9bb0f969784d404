"""The in-process harness: its phases on a callable, and the supervision of the process that runs a job (a
failure or a death is reported with the variant's name, never a hang)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.harness import MIN_OFFLINE_BATCHES, Job, cycled, measure_in_process, offline, single_stream
from models.measure_plan import MeasurementError, MeasureSettings
from service.contracts import ServingSpec

TINY = MeasureSettings(
    warmup=2, min_samples=10, max_samples=20, single_stream_seconds=0.05, batch_sizes=(1, 4), offline_seconds=0.02
)
SPEC = ServingSpec.model_validate(
    {"runtime": "onnxruntime", "task_kind": "text", "labels": ["a", "b"], "input_spec": {"max_length": 8}}
)


class Recorder:
    """Records the batches it is called with; answers uniform probabilities."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def __call__(self, batch: list[Any]) -> np.ndarray:
        self.batches.append(batch)
        return np.full((len(batch), 2), 0.5)


def test_cycled_wraps_around_the_items() -> None:
    assert cycled([1, 2, 3], 2, 5) == [3, 1, 2, 3, 1]


def test_single_stream_warms_up_then_sends_one_item_at_a_time() -> None:
    infer = Recorder()
    result = single_stream(infer, list(range(7)), TINY)
    assert TINY.min_samples <= result.samples <= TINY.max_samples
    assert len(infer.batches) == TINY.warmup + result.samples and all(len(b) == 1 for b in infer.batches)
    assert [b[0] for b in infer.batches[: TINY.warmup + 7]] == [0, 1, 2, 3, 4, 5, 6, 0, 1]  # warm-up, then on, cycling


def test_offline_sends_full_batches_for_the_time_and_keeps_the_best_size() -> None:
    infer = Recorder()
    result = offline(infer, list(range(5)), TINY)
    assert set(result.by_batch_size) == {1, 4}
    for size, batch in result.by_batch_size.items():
        assert batch.items % size == 0 and batch.items >= MIN_OFFLINE_BATCHES * size
        assert batch.seconds >= TINY.offline_seconds
    best = max(result.by_batch_size, key=lambda size: result.by_batch_size[size].throughput_rps)
    assert result.best_batch_size == best and result.throughput_rps == result.by_batch_size[best].throughput_rps
    assert {len(b) for b in infer.batches} == {1, 4}


def test_a_failing_measurement_names_the_variant(tmp_path: Path) -> None:
    job = Job("reviews-gone-onnx-int8", "reviews", str(tmp_path / "missing"), SPEC, 1, ["a text"], (), TINY)
    with pytest.raises(MeasurementError, match=r"measuring reviews-gone-onnx-int8 @ 1 thread failed") as error:
        measure_in_process(job, log=lambda _: None)
    # the child's traceback comes along: where it failed (loading the variant's directory, which is missing)
    assert "Traceback (most recent call last)" in str(error.value) and "load_classifier" in str(error.value)


class ExitOnArrival:
    """Unpickled in the measuring process, it ends that process at once: a stand-in for a crash or OOM kill."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        import os

        return os._exit, (3,)


def test_a_measuring_process_that_dies_is_reported() -> None:
    job = Job("some-variant", "reviews", "/nowhere", SPEC, 2, [ExitOnArrival()], (), TINY)
    with pytest.raises(MeasurementError, match=r"process measuring some-variant @ 2 threads died \(exit code 3\)"):
        measure_in_process(job, log=lambda _: None)
