"""measure: pure helpers (statistics, Poisson arrivals, rate search), then a real run on tiny stored variants,
served for real over HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.benchmark import (
    SCHEMA,
    VERSION,
    Job,
    MeasurementError,
    MeasureSettings,
    ServerTarget,
    TaskPlan,
    load_measurements,
    measure,
    measure_in_process,
    measurements_current,
    sample_items,
    settings_record,
    write_measurements,
)
from models.loadgen import CDF_POINTS, latency_summary, over_bound_limit, poisson_arrivals, trial_rng
from models.served_measure import MAX_DOUBLINGS, median_trial, query_count, search_max_rate
from models.catalog import Catalog

TINY = MeasureSettings(
    warmup=2,
    min_samples=10,
    max_samples=20,
    single_stream_seconds=0.2,
    trial_seconds=0.2,
    min_queries=10,
    search_steps=2,
    repeats=1,
    batch_sizes=(1, 4),
    offline_seconds=0.1,
)
GENEROUS = ServerTarget(p99_bound_ms=200.0, target_rps=50.0)
IMPOSSIBLE = ServerTarget(p99_bound_ms=0.001, target_rps=50.0)
PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")
TRIAL_FIELDS = {"rate_rps", "queries", "achieved_rps", "p50_ms", "p95_ms", "p99_ms", "meets_bound"}


# --- pure helpers ------------------------------------------------------------------------------------------------


def test_latency_summary_orders_percentiles_and_gives_a_cdf() -> None:
    samples = np.random.default_rng(1).lognormal(1.0, 0.5, 500)
    summary = latency_summary(samples)
    assert summary["samples"] == 500
    assert summary["p50_ms"] <= summary["p90_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert summary["p50_ms"] == pytest.approx(np.percentile(samples, 50), abs=1e-3)
    assert summary["mean_ms"] == pytest.approx(samples.mean(), abs=1e-3)
    cdf = summary["cdf_ms"]
    assert len(cdf) == CDF_POINTS and cdf == sorted(cdf)
    assert cdf[0] == pytest.approx(samples.min(), abs=1e-3) and cdf[-1] == pytest.approx(samples.max(), abs=1e-3)
    with pytest.raises(ValueError, match="no latency samples"):
        latency_summary([])


def test_poisson_arrivals_are_seeded_and_have_the_rate() -> None:
    first = poisson_arrivals(50.0, 4000, trial_rng(0, 50.0))
    assert np.array_equal(first, poisson_arrivals(50.0, 4000, trial_rng(0, 50.0)))
    assert not np.array_equal(first, poisson_arrivals(50.0, 4000, trial_rng(1, 50.0)))
    assert np.all(np.diff(first) > 0) and first[0] > 0
    assert np.diff(first).mean() == pytest.approx(1 / 50.0, rel=0.05)
    with pytest.raises(ValueError):
        poisson_arrivals(0.0, 10, trial_rng(0, 0.0))


def test_query_count_has_a_floor_and_a_ceiling() -> None:
    assert query_count(100.0, 4.0, 100) == 400  # the rate over the trial
    assert query_count(10.0, 4.0, 100) == 100  # at least min_queries ...
    assert query_count(1.0, 4.0, 100) == 16  # ... unless that stretches the trial beyond 4x


@pytest.mark.parametrize("queries", [1, 2, 20, 99, 100, 101, 250, 1000])
def test_over_bound_limit_decides_the_p99(queries: int) -> None:
    bound, limit = 10.0, over_bound_limit(queries)
    over = np.zeros(queries)
    over[queries - limit :] = 1e9  # `limit` huge latencies: the p99 exceeds the bound, whatever the rest
    assert np.percentile(over, 99) > bound
    if limit > 1:
        barely = np.zeros(queries)
        barely[queries - limit + 1 :] = bound * 1.001  # one fewer, barely over: the p99 can still be within
        assert np.percentile(barely, 99) <= bound


def fake_trials(capacity: float, bound_ms: float) -> tuple[list[float], Any]:
    """A queue-like p99(rate): fine at low load, unbounded as the rate nears `capacity`."""
    visited: list[float] = []

    def trial(rate: float) -> dict[str, Any]:
        visited.append(rate)
        p99 = 2.0 / (1.0 - rate / capacity) if rate < capacity else float("inf")
        return {"rate_rps": rate, "p99_ms": p99, "meets_bound": p99 <= bound_ms}

    return visited, trial


def true_max_rate(capacity: float, bound_ms: float) -> float:
    return capacity * (1.0 - 2.0 / bound_ms)


def test_search_bisects_up_from_a_target_that_meets_the_bound() -> None:
    visited, trial = fake_trials(capacity=100.0, bound_ms=20.0)  # true max rate 90
    result = search_max_rate(trial, target_rps=10.0, estimate_rps=120.0, steps=6)
    assert visited[:2] == [10.0, 120.0]  # the target, then the estimate as the first upper probe
    assert result["at_target"]["rate_rps"] == 10.0 and result["at_target"]["meets_bound"]
    assert len(result["trials"]) == 2 + 6
    assert result["max_rate_rps"] <= true_max_rate(100.0, 20.0)
    assert result["max_rate_rps"] >= true_max_rate(100.0, 20.0) - (120.0 - 10.0) / 2**6
    assert result["max_rate_rps"] == max(t["rate_rps"] for t in result["trials"] if t["meets_bound"])


def test_search_doubles_from_the_target_when_the_estimate_is_low() -> None:
    visited, trial = fake_trials(capacity=100.0, bound_ms=20.0)
    result = search_max_rate(trial, target_rps=10.0, estimate_rps=5.0, steps=3)
    assert visited[:4] == [10.0, 20.0, 40.0, 80.0]
    assert 80.0 <= result["max_rate_rps"] <= 90.0


def test_search_below_a_target_that_misses_the_bound() -> None:
    visited, trial = fake_trials(capacity=100.0, bound_ms=20.0)
    result = search_max_rate(trial, target_rps=150.0, estimate_rps=1000.0, steps=5)
    assert not result["at_target"]["meets_bound"]
    assert len(visited) == 1 + 5 and all(rate < 150.0 for rate in visited[1:])
    assert 0 < result["max_rate_rps"] <= 90.0


def test_search_is_bounded_and_reports_zero_when_nothing_meets() -> None:
    visited, trial = fake_trials(capacity=1e12, bound_ms=1e6)  # always meets: the doubling must stop
    result = search_max_rate(trial, target_rps=10.0, estimate_rps=0.0, steps=4)
    assert len(visited) == 1 + MAX_DOUBLINGS + 1
    assert result["max_rate_rps"] == visited[-1] == 10.0 * 2 ** (MAX_DOUBLINGS + 1)
    _, never = fake_trials(capacity=1.0, bound_ms=1.0)
    nothing = search_max_rate(never, target_rps=10.0, estimate_rps=50.0, steps=3)
    assert nothing["max_rate_rps"] == 0.0 and len(nothing["trials"]) == 4


def test_median_trial_keeps_the_middle_repeat_and_the_spread() -> None:
    trials = [{"p99_ms": 30.0, "meets_bound": True}, {"p99_ms": 80.0, "meets_bound": False}, {"p99_ms": 40.0, "meets_bound": True}]
    chosen = median_trial(trials)
    assert chosen["p99_ms"] == 40.0 and chosen["meets_bound"]
    assert chosen["repeats_p99_ms"] == [30.0, 80.0, 40.0] and chosen["p99_spread_ms"] == [30.0, 80.0]
    assert median_trial(trials[:2])["p99_ms"] == 30.0  # an even count keeps the lower middle one


def test_search_never_offers_more_than_the_cap() -> None:
    visited, trial = fake_trials(capacity=1e12, bound_ms=1e6)
    result = search_max_rate(trial, target_rps=10.0, estimate_rps=500.0, steps=2, max_rate_rps=100.0)
    assert max(visited) == 100.0 and result["max_rate_rps"] == 100.0


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
    assert record == {
        "seed": 0,
        "single_stream": {"warmup": 10, "min_samples": 200, "max_samples": 1000, "max_seconds": 10.0},
        "server": {"trial_seconds": 6.0, "min_queries": 200, "search_steps": 5, "repeats": 3},
        "service": {
            "threads": 1, "max_batch_size": 32, "max_latency_ms": 0.0, "max_batch_tokens": 2048,
            "max_queue_items": 256, "max_queue_wait_ms": 100.0,
        },
        "offline": {"batch_sizes": [1, 8, 32], "max_seconds": 4.0},
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "measurements not found"),
        ("{not json", "not a readable JSON file"),
        (json.dumps({"schema": "something-else", "version": 1}), "not a measurements file"),
        (json.dumps([1, 2]), "not a measurements file"),
        (json.dumps({"schema": SCHEMA, "version": 99, "tasks": {}}), "measurements version 99"),
    ],
)
def test_load_measurements_names_the_file_and_the_problem(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "measurements.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(MeasurementError, match=message) as error:
        load_measurements(path)
    assert str(path) in str(error.value)


# --- a real run on tiny variants ---------------------------------------------------------------------------------

BROKEN = "reviews-tiny-bert-broken"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Catalog:
    from tests.unit.test_pipeline import user_catalog

    return user_catalog(tmp_path_factory.mktemp("benchmark-task"), tiny_bert_dir)


@pytest.fixture(scope="module")
def stored(catalog: Catalog) -> Iterator[dict[str, dict]]:
    """The reviews variants (briefly trained, all past the gate), plus a copy the accuracy gate rejected."""
    import bentoml

    from models.prepare import Options, prepare
    from models.store import save_variant

    rows = prepare(catalog, ["reviews"], Options(epochs=1, gate_max_drop=100.0, latency_runs=3), log=lambda _: None)
    source = bentoml.models.get("reviews-tiny-bert-onnx-fp32:latest")
    metadata = {**source.info.metadata, "gate": {"status": "rejected", "reason": "macro-F1 drops 9.00 points"}}
    broken = save_variant(BROKEN, Path(source.path), metadata)
    yield {row.name: row.metadata for row in rows}
    bentoml.models.delete(str(broken.tag))  # other tests share the store


@pytest.fixture(scope="module")
def measured(catalog: Catalog, stored: dict[str, dict]) -> dict[str, Any]:
    plan = TaskPlan(threads=(1,), server_targets=(GENEROUS, IMPOSSIBLE))
    lines: list[str] = []
    data = measure(catalog, {"reviews": plan}, TINY, command="pytest", log=lines.append)
    data["_log"] = lines
    return data


def test_document_has_the_schema_fields(measured: dict[str, Any]) -> None:
    assert measured["schema"] == SCHEMA and measured["version"] == VERSION and measured["command"] == "pytest"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", measured["generated_at"])
    hardware = measured["hardware"]
    assert isinstance(hardware["cpu"], str) and hardware["logical_cores"] >= 1 and hardware["memory_gb"] > 0
    assert isinstance(hardware["machine"], str) and isinstance(hardware["cpu_flags"], list)
    assert {"python", "torch", "onnxruntime", "transformers", "bentoml", "numpy"} <= set(measured["versions"])
    assert measured["settings"] == settings_record(TINY)
    task = measured["tasks"]["reviews"]
    assert task["kind"] == "text" and task["test_split"]["rows"] == 36 and len(task["test_split"]["fingerprint"]) == 16


def test_every_accepted_variant_is_measured_and_the_rejected_one_listed(
    measured: dict[str, Any], stored: dict[str, dict]
) -> None:
    task = measured["tasks"]["reviews"]
    accepted = set(stored)
    assert len(accepted) == 3 and set(task["variants"]) == accepted
    assert task["rejected"][BROKEN] == "macro-F1 drops 9.00 points"
    for name, variant in task["variants"].items():
        meta = stored[name]
        assert variant["candidate"] == "tiny-bert" and variant["variant"] == meta["variant"]
        assert variant["runtime"] == meta["runtime"] and variant["precision"] == meta["precision"]
        assert variant["reference"] == meta.get("reference") and isinstance(variant["model_version"], str)
        assert variant["quality"] == {
            "accuracy": meta["eval"]["accuracy"], "macro_f1": meta["eval"]["macro_f1"], "gate": meta["gate"]["status"]
        }
        assert variant["size_mb"] == pytest.approx(meta["size_bytes"] / 1e6, abs=1e-3)
        assert set(variant["runs"]) == {"1"}
    assert any(BROKEN in line for line in measured["_log"])
    assert sum("peak RSS" in line for line in measured["_log"]) == len(accepted)  # one summary per run


def test_a_worker_serving_only_onnx_never_imports_torch(measured: dict[str, Any]) -> None:
    for name, variant in measured["tasks"]["reviews"]["variants"].items():
        for run in variant["runs"].values():
            assert run["memory"]["torch_imported"] == (variant["runtime"] == "torch"), name


def runs(measured: dict[str, Any]) -> list[dict[str, Any]]:
    return [run for v in measured["tasks"]["reviews"]["variants"].values() for run in v["runs"].values()]


def test_memory_and_single_stream_served_and_in_process(measured: dict[str, Any]) -> None:
    for run in runs(measured):
        local = run["memory"]["in_process"]
        assert local["peak_rss_mb"] >= local["baseline_rss_mb"] > 0
        assert local["model_rss_mb"] == pytest.approx(local["peak_rss_mb"] - local["baseline_rss_mb"], abs=0.11)
        assert run["memory"]["peak_rss_mb"] > 50  # the served worker: Python, BentoML, the runtime, the model
        assert set(run["method"]) == {"single_stream", "server", "offline", "memory", "in_process"}
        for single in (run["single_stream"], run["in_process"]["single_stream"]):
            assert TINY.min_samples <= single["samples"] <= TINY.max_samples
            assert 0 < single["p50_ms"] <= single["p90_ms"] <= single["p95_ms"] <= single["p99_ms"]
            assert len(single["cdf_ms"]) == CDF_POINTS and single["cdf_ms"] == sorted(single["cdf_ms"])
        # over HTTP a request costs more than the classifier called directly
        assert run["single_stream"]["p50_ms"] > run["in_process"]["single_stream"]["p50_ms"]


def test_offline_throughput_per_batch_size(measured: dict[str, Any]) -> None:
    for run in runs(measured):
        offline = run["offline"]
        assert set(offline["by_batch_size"]) == {"1", "4"}
        for size, result in offline["by_batch_size"].items():
            assert result["throughput_rps"] > 0 and result["seconds"] > 0 and result["items"] >= 2 * int(size)
        best = max(offline["by_batch_size"].items(), key=lambda kv: kv[1]["throughput_rps"])
        assert offline["best_batch_size"] == int(best[0]) and offline["throughput_rps"] == best[1]["throughput_rps"]


def test_server_trials_are_consistent_with_their_bound(measured: dict[str, Any]) -> None:
    for run in runs(measured):
        generous, impossible = run["server"]
        for result, target in ((generous, GENEROUS), (impossible, IMPOSSIBLE)):
            assert result["p99_bound_ms"] == target.p99_bound_ms and result["target_rps"] == target.target_rps
            assert result["at_target"] == result["trials"][0] and result["at_target"]["rate_rps"] == target.target_rps
            assert len(result["trials"]) <= 1 + MAX_DOUBLINGS + 1 + TINY.search_steps
            for trial in result["trials"]:
                assert TRIAL_FIELDS <= set(trial) and trial["queries"] >= 1
                assert trial["p50_ms"] <= trial["p95_ms"] <= trial["p99_ms"]
                # overload is shed with 503s, never other errors; a trial with any error misses the bound
                assert set(trial["outcomes"]) <= {"200", "503"}
                assert set(trial["outcomes"]) == {"200"} or not trial["meets_bound"]
                answered = set(trial["outcomes"]) == {"200"}
                assert trial["meets_bound"] == (
                    not trial["stopped_early"] and answered and trial["p99_ms"] <= target.p99_bound_ms
                )
            met = [t["rate_rps"] for t in result["trials"] if t["meets_bound"]]
            assert result["max_rate_rps"] == max(met, default=0.0)
        assert generous["at_target"]["meets_bound"] and generous["max_rate_rps"] >= GENEROUS.target_rps
        assert generous["at_target"]["queries"] >= TINY.min_queries
        assert impossible["max_rate_rps"] == 0.0
        assert len(impossible["trials"]) == 1 + TINY.search_steps


def test_write_and_load_round_trip(measured: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "reports" / "measurements.json"
    write_measurements(measured, path)
    assert load_measurements(path) == measured
    assert not list(path.parent.glob("*.partial"))


def test_measurements_are_current_only_for_the_same_plan_settings_and_variants(
    measured: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "measurements.json"
    plan = TaskPlan(threads=(1,), server_targets=(GENEROUS, IMPOSSIBLE))
    assert not measurements_current(path, {"reviews": plan}, TINY)  # no file yet
    write_measurements(measured, path)
    assert measured["tasks"]["reviews"]["plan"] == {
        "threads": [1],
        "server_targets": [{"p99_bound_ms": 200.0, "target_rps": 50.0}, {"p99_bound_ms": 0.001, "target_rps": 50.0}],
    }
    assert measurements_current(path, {"reviews": plan}, TINY)
    assert not measurements_current(path, {"reviews": replace(plan, threads=(1, 2))}, TINY)
    assert not measurements_current(path, {"reviews": plan}, replace(TINY, seed=1))
    assert not measurements_current(path, {"reviews": plan, "shapes": plan}, TINY)
    stale = json.loads(path.read_text(encoding="utf-8"))
    stale["tasks"]["reviews"]["variants"]["reviews-tiny-bert-onnx-int8"]["model_version"] = "older"
    write_measurements(stale, path)
    assert not measurements_current(path, {"reviews": plan}, TINY)


def test_a_task_without_stored_variants_says_how_to_prepare_it(catalog: Catalog) -> None:
    tasks = dict(catalog.tasks)
    tasks["never-prepared"] = tasks["reviews"]
    with pytest.raises(MeasurementError, match=r"scenario-serve prepare --tasks never-prepared"):
        measure(Catalog(tasks=tasks), {"never-prepared": TaskPlan(threads=(1,))}, TINY, log=lambda _: None)
    with pytest.raises(MeasurementError, match=r"unknown task\(s\) \['nope'\]"):
        measure(catalog, {"nope": TaskPlan(threads=(1,))}, TINY, log=lambda _: None)


def test_a_failing_measurement_names_the_variant(tmp_path: Path) -> None:
    metadata = {"runtime": "onnxruntime", "task_kind": "text", "labels": ["a", "b"], "input_spec": {"max_length": 8}}
    job = Job("reviews-gone-onnx-int8", "reviews", str(tmp_path / "missing"), metadata, 1, ["a text"], (), TINY)
    with pytest.raises(MeasurementError, match=r"measuring reviews-gone-onnx-int8 @ 1 thread failed") as error:
        measure_in_process(job, log=lambda _: None)
    assert "model.onnx" in str(error.value)  # the child's traceback says what went wrong


class ExitOnArrival:
    """Unpickled in the measuring process, it ends that process at once: a stand-in for a crash or OOM kill."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        import os

        return os._exit, (3,)


def test_a_measuring_process_that_dies_is_reported() -> None:
    job = Job("some-variant", "reviews", "/nowhere", {}, 2, [ExitOnArrival()], (), TINY)
    with pytest.raises(MeasurementError, match=r"process measuring some-variant @ 2 threads died \(exit code 3\)"):
        measure_in_process(job, log=lambda _: None)
