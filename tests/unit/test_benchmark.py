"""measure: a real run on tiny stored variants, measured in process and served for real over HTTP; the document
it writes, and when that document is current. The parts have their own tests (test_measure_plan, test_harness,
test_served_measure, test_loadgen, test_latency, test_records, test_machine)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from models.benchmark import measure
from models.catalog import Catalog
from models.latency import CDF_POINTS
from models.measure_plan import METHODS, MeasurementError, MeasureSettings, ServerTarget, TaskPlan, settings_record
from models.records import SCHEMA, VERSION, load_measurements, measurements_current, stale_tasks, write_measurements
from models.served_measure import MAX_DOUBLINGS
from service.contracts import Measurements, Run, TaskMeasurements

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


@dataclass(frozen=True)
class Measured:
    document: Measurements
    log: list[str]

    @property
    def task(self) -> TaskMeasurements:
        return self.document.tasks["reviews"]

    def runs(self) -> list[Run]:
        return [run for variant in self.task.variants.values() for run in variant.runs.values()]


@pytest.fixture(scope="module")
def measured(catalog: Catalog, stored: dict[str, dict]) -> Measured:
    plan = TaskPlan(threads=(1,), server_targets=(GENEROUS, IMPOSSIBLE))
    lines: list[str] = []
    data = measure(catalog, {"reviews": plan}, TINY, command="pytest", log=lines.append)
    return Measured(data, lines)


def test_document_has_the_schema_fields(measured: Measured) -> None:
    document = measured.document.as_json()
    assert document["schema"] == SCHEMA and document["version"] == VERSION and document["command"] == "pytest"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["generated_at"])
    hardware = measured.document.hardware
    assert hardware.cpu and hardware.logical_cores and hardware.logical_cores >= 1 and hardware.memory_gb > 0
    assert hardware.machine and isinstance(hardware.cpu_flags, list)
    assert {"python", "torch", "onnxruntime", "transformers", "bentoml", "numpy"} <= set(measured.document.versions)
    assert measured.document.settings == settings_record(TINY)
    task = measured.task
    assert task.kind == "text" and task.test_split.rows == 36 and len(task.test_split.fingerprint) == 16
    # the keys as written, in the order `measure` writes them
    header = ["schema", "version", "generated_at", "command", "hardware", "versions", "settings"]
    assert list(document) == [*header, "tasks"]
    assert list(document["tasks"]["reviews"]) == ["kind", "test_split", "plan", "variants", "rejected"]
    run = next(iter(next(iter(document["tasks"]["reviews"]["variants"].values()))["runs"].values()))
    assert list(run) == [
        "threads",
        "method",
        "memory",
        "single_stream",
        "server_share",
        "offline",
        "server",
        "in_process",
    ]


def test_every_accepted_variant_is_measured_and_the_rejected_one_listed(
    measured: Measured, stored: dict[str, dict]
) -> None:
    task = measured.task
    accepted = set(stored)
    assert len(accepted) == 3 and set(task.variants) == accepted
    assert task.rejected[BROKEN] == "macro-F1 drops 9.00 points"
    for name, variant in task.variants.items():
        meta = stored[name]
        assert variant.candidate == "tiny-bert" and variant.variant == meta["variant"]
        assert variant.runtime == meta["runtime"] and variant.precision == meta["precision"]
        assert variant.reference == meta.get("reference") and variant.model_version
        assert variant.quality.model_dump(mode="json") == {
            "accuracy": meta["eval"]["accuracy"],
            "macro_f1": meta["eval"]["macro_f1"],
            "gate": meta["gate"]["status"],
        }
        assert variant.size_mb == pytest.approx(meta["size_bytes"] / 1e6, abs=1e-3)
        assert set(variant.runs) == {1}
    assert any(BROKEN in line for line in measured.log)
    assert sum("peak RSS" in line for line in measured.log) == len(accepted)  # one summary per run


def test_a_worker_serving_only_onnx_never_imports_torch(measured: Measured) -> None:
    for name, variant in measured.task.variants.items():
        for run in variant.runs.values():
            assert run.memory.torch_imported == (variant.runtime == "torch"), name


def test_memory_and_single_stream_served_and_in_process(measured: Measured) -> None:
    for run in measured.runs():
        local = run.memory.in_process
        assert local.peak_rss_mb >= local.baseline_rss_mb > 0
        assert local.model_rss_mb == pytest.approx(local.peak_rss_mb - local.baseline_rss_mb, abs=0.11)
        assert run.memory.peak_rss_mb > 50  # the served worker: Python, BentoML, the runtime, the model
        assert run.method == METHODS
        beside = run.in_process.beside_http
        assert beside is not None and beside.samples == run.single_stream.samples  # one direct call per query
        for single in (run.single_stream, run.in_process.single_stream, beside):
            assert TINY.min_samples <= single.samples <= TINY.max_samples
            assert 0 < single.p50_ms <= single.p90_ms <= single.p95_ms <= single.p99_ms
            assert len(single.cdf_ms) == CDF_POINTS and single.cdf_ms == sorted(single.cdf_ms)
        # over HTTP a request costs more than the classifier called directly
        assert run.single_stream.p50_ms > run.in_process.single_stream.p50_ms
        excess = run.in_process.http_excess_ms(run.single_stream)
        assert excess == run.single_stream.p50_ms - beside.p50_ms  # its sign: noise, 20 samples of a tiny model


def test_offline_throughput_per_batch_size(measured: Measured) -> None:
    for run in measured.runs():
        offline = run.offline
        assert set(offline.by_batch_size) == {1, 4}
        for size, result in offline.by_batch_size.items():
            assert result.throughput_rps > 0 and result.seconds > 0 and result.items >= 2 * size
        best = max(offline.by_batch_size.items(), key=lambda kv: kv[1].throughput_rps)
        assert offline.best_batch_size == best[0] and offline.throughput_rps == best[1].throughput_rps


def test_server_trials_are_consistent_with_their_bound(measured: Measured) -> None:
    for run in measured.runs():
        generous, impossible = run.server
        for result, target in ((generous, GENEROUS), (impossible, IMPOSSIBLE)):
            assert result.p99_bound_ms == target.p99_bound_ms and result.target_rps == target.target_rps
            assert result.at_target == result.trials[0] and result.at_target.rate_rps == target.target_rps
            assert len(result.trials) <= 1 + MAX_DOUBLINGS + 1 + TINY.search_steps
            for trial in result.trials:
                assert trial.queries >= 1
                assert trial.p50_ms <= trial.p95_ms <= trial.p99_ms
                # overload is shed with 503s, never other errors; a trial with any error misses the bound
                assert set(trial.outcomes) <= {"200", "503"}
                assert set(trial.outcomes) == {"200"} or not trial.meets_bound
                answered = set(trial.outcomes) == {"200"}
                assert trial.meets_bound == (
                    not trial.stopped_early and answered and trial.p99_ms <= target.p99_bound_ms
                )
            met = [t.rate_rps for t in result.trials if t.meets_bound]
            assert result.max_rate_rps == max(met, default=0.0)
        assert generous.at_target.meets_bound and generous.max_rate_rps >= GENEROUS.target_rps
        assert generous.at_target.queries >= TINY.min_queries
        assert impossible.max_rate_rps == 0.0
        assert len(impossible.trials) == 1 + TINY.search_steps


def test_write_and_load_round_trip(measured: Measured, tmp_path: Path) -> None:
    path = tmp_path / "reports" / "measurements.json"
    write_measurements(measured.document, path)
    assert load_measurements(path) == measured.document
    assert json.loads(path.read_text(encoding="utf-8")) == measured.document.as_json()
    assert not list(path.parent.glob("*.partial"))


def test_measurements_are_current_only_for_the_same_plan_settings_and_variants(
    measured: Measured, tmp_path: Path
) -> None:
    path = tmp_path / "measurements.json"
    plan = TaskPlan(threads=(1,), server_targets=(GENEROUS, IMPOSSIBLE))
    assert not measurements_current(path, {"reviews": plan}, TINY)  # no file yet
    write_measurements(measured.document, path)
    assert measured.task.plan.model_dump(mode="json") == {
        "threads": [1],
        "server_targets": [{"p99_bound_ms": 200.0, "target_rps": 50.0}, {"p99_bound_ms": 0.001, "target_rps": 50.0}],
    }
    assert measurements_current(path, {"reviews": plan}, TINY)
    assert not measurements_current(path, {"reviews": replace(plan, threads=(1, 2))}, TINY)
    assert not measurements_current(path, {"reviews": plan}, replace(TINY, seed=1))
    assert not measurements_current(path, {"reviews": plan, "shapes": plan}, TINY)
    stale = json.loads(path.read_text(encoding="utf-8"))
    stale["tasks"]["reviews"]["variants"]["reviews-tiny-bert-onnx-int8"]["model_version"] = "older"
    write_measurements(Measurements.model_validate(stale), path)
    assert not measurements_current(path, {"reviews": plan}, TINY)
    assert stale_tasks(path, {"reviews": plan}, TINY)[1] == {
        "reviews": "the stored variants changed since it was measured: reviews-tiny-bert-onnx-int8 was built again"
    }
    write_measurements(measured.document, path)
    assert stale_tasks(path, {"reviews": replace(plan, threads=(1, 2)), "shapes": plan}, TINY)[1] == {
        "reviews": "the scenarios now ask for other measurements (thread counts or server targets)",
        "shapes": "it was not measured yet",
    }


def test_a_task_without_stored_variants_says_how_to_prepare_it(catalog: Catalog) -> None:
    tasks = dict(catalog.tasks)
    tasks["never-prepared"] = tasks["reviews"]
    with pytest.raises(MeasurementError, match=r"scenario-serve prepare --tasks never-prepared"):
        measure(Catalog(tasks=tasks), {"never-prepared": TaskPlan(threads=(1,))}, TINY, log=lambda _: None)
    with pytest.raises(MeasurementError, match=r"unknown task\(s\) \['nope'\]"):
        measure(catalog, {"nope": TaskPlan(threads=(1,))}, TINY, log=lambda _: None)
