"""Selection on synthetic measurements: filtering, ranking, tie-breaks, infeasible explanations, fallbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models.bentofile import sync_bentofile_models
from models.scenarios import parse_scenarios
from models.select import SelectionInputError, select
from service.contracts import MeasurementsError
from service.routing import parse_selection
from tests.unit import measurement_docs as docs


def variant(
    f1: float,
    size_mb: float,
    p95: float,
    *,
    mean: float | None = None,
    rate: float = 100.0,
    p99_at_target: float = 10.0,
    offline: float = 200.0,
    memory: float = 400.0,
    kind: str = "onnx-fp32",
    threads: tuple[int, ...] = (1,),
) -> dict[str, Any]:
    single = docs.latency(p95 * 0.7, p95, p95 * 1.2, mean=mean or p95 * 0.8)
    servers = [docs.server(50.0, 40.0, rate, p99_at_target)]
    runs = [docs.run(t, single, offline_rps=offline, memory_mb=memory, servers=servers) for t in threads]
    return docs.variant(kind, f1, size_mb, runs)


def measurements(variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return docs.document({"sentiment": docs.task(variants, targets=((50.0, 40.0),))}, served_threads=1)


def scenario_file(scenarios: dict[str, Any], **top: Any) -> Any:
    default = next(iter(scenarios))
    return parse_scenarios(
        {**top, "tasks": {"sentiment": {"default_scenario": default, "scenarios": scenarios}}}, Path("s.yaml")
    )


VARIANTS = {
    "big-torch-fp32": variant(0.730, 91.0, 30.0, rate=60.0, p99_at_target=45.0, offline=150.0, kind="torch-fp32"),
    "big-onnx-fp32": variant(0.730, 91.0, 12.0, rate=120.0, p99_at_target=20.0, offline=300.0),
    "big-onnx-int8": variant(0.726, 24.0, 5.0, rate=300.0, p99_at_target=8.0, offline=700.0, kind="onnx-int8"),
    "small-onnx-int8": variant(0.690, 18.0, 2.6, rate=600.0, p99_at_target=5.0, offline=1400.0, kind="onnx-int8"),
}


def pick(scenario: dict[str, Any], variants: dict[str, Any] = VARIANTS, **top: Any) -> dict[str, Any]:
    selection, _ = select(scenario_file({"s": scenario}, **top), measurements(variants), "m.json")
    return selection["tasks"]["sentiment"]["scenarios"]["s"]


def test_objective_ranks_the_feasible_variants() -> None:
    server = {
        "load": {"pattern": "server", "target_rps": 40},
        "objective": "maximize_throughput",
        "constraints": {"p99_latency_ms": 50, "max_quality_drop": 1.0},
    }
    route = pick(server)
    assert route["variant"] == "big-onnx-int8"  # small-onnx-int8 is faster but 4 points worse
    assert route["fallbacks"] == ["big-onnx-fp32", "big-torch-fp32"]
    assert route["evidence"]["feasible"] is True
    assert route["evidence"]["baseline"] == "big-torch-fp32"
    assert route["evidence"]["metrics"]["throughput_rps"] == 300.0
    loser = next(c for c in route["evidence"]["candidates"] if c["variant"] == "small-onnx-int8")
    assert loser["feasible"] is False and loser["rank"] is None
    assert loser["failures"] == [
        {"constraint": "max_quality_drop", "limit": 1.0, "value": 4.0, "excess": 3.0, "excess_pct": 300.0}
    ]
    assert pick({**server, "constraints": {"p99_latency_ms": 50}})["variant"] == "small-onnx-int8"


def test_quality_ties_are_broken_by_the_next_objective() -> None:
    accuracy = {
        "load": {"pattern": "single-stream"},
        "objective": "maximize_quality",
        "tie_breaks": ["minimize_latency", "minimize_size"],
    }
    assert pick(accuracy)["variant"] == "big-onnx-fp32"  # same macro-F1 as torch-fp32, 2.5x lower p95
    assert pick({**accuracy, "tie_breaks": ["minimize_size", "minimize_latency"]})["variant"] == "big-onnx-fp32"
    assert pick({**accuracy, "quality_tie_points": 0.5})["variant"] == "big-onnx-int8"  # -0.4 pt now counts as a tie


def test_timing_ties_within_tolerance_fall_to_the_tie_break() -> None:
    variants = {
        "a-onnx-fp32": variant(0.70, 90.0, 10.0),
        "b-onnx-int8": variant(0.72, 24.0, 10.3, kind="onnx-int8"),
    }
    interactive = {"load": {"pattern": "single-stream"}, "objective": "minimize_latency"}
    assert pick(interactive, variants)["variant"] == "b-onnx-int8"  # 3% apart: a tie, quality decides
    assert pick({**interactive, "tie_tolerance": 0.0}, variants)["variant"] == "a-onnx-fp32"


def test_infeasible_scenario_names_the_constraint_and_the_nearest_variant() -> None:
    route = pick(
        {"load": {"pattern": "single-stream"}, "objective": "minimize_latency", "constraints": {"p95_latency_ms": 2.0}}
    )
    evidence = route["evidence"]
    assert evidence["feasible"] is False
    assert route["variant"] == "small-onnx-int8"  # nearest: 2.6 ms is 30% over
    assert evidence["message"].startswith("no variant meets p95_latency_ms <= 2; nearest: small-onnx-int8")
    assert "+30.0% over" in evidence["message"]
    assert route["fallbacks"] == ["big-onnx-int8", "big-onnx-fp32"]  # next nearest, max_fallbacks=2


def test_constraints_that_conflict_are_reported_together() -> None:
    route = pick(
        {
            "load": {"pattern": "single-stream"},
            "objective": "minimize_size",
            "constraints": {"max_model_mb": 20, "min_macro_f1": 0.72},
        }
    )
    assert route["evidence"]["feasible"] is False
    assert route["evidence"]["message"].startswith("no variant meets all constraints together; nearest: ")


def test_the_run_at_the_served_thread_count_is_used() -> None:
    variants = {**VARIANTS, "two-threads-only": variant(0.73, 10.0, 3.0, threads=(2,))}
    route = pick(
        {"load": {"pattern": "single-stream"}, "objective": "minimize_size", "constraints": {"max_memory_mb": 500}},
        variants,
    )
    assert route["variant"] == "small-onnx-int8"
    missing = next(c for c in route["evidence"]["candidates"] if c["variant"] == "two-threads-only")
    assert missing["failures"][0]["constraint"] == "threads"
    assert route["constraints"]["threads"] == 1


def test_a_per_scenario_thread_count_is_refused_with_the_reason() -> None:
    with pytest.raises(Exception, match="SCENARIO_SERVE_THREADS"):
        pick({"load": {"pattern": "single-stream"}, "objective": "minimize_size", "constraints": {"threads": 1}})


def test_offline_uses_the_best_batch_throughput_and_memory_caps_apply() -> None:
    variants = {**VARIANTS, "fat-onnx-int8": variant(0.73, 20.0, 1.0, offline=5000.0, memory=2000.0, kind="onnx-int8")}
    batch = {"load": {"pattern": "offline"}, "objective": "maximize_throughput", "constraints": {"min_macro_f1": 0.7}}
    assert pick(batch, variants)["variant"] == "fat-onnx-int8"
    capped = pick({**batch, "constraints": {"min_macro_f1": 0.7, "max_memory_mb": 1000}}, variants)
    assert capped["variant"] == "big-onnx-int8"
    assert capped["evidence"]["metrics"]["latency_ms"] is None


def test_output_is_a_valid_routing_file_with_every_scenario(tmp_path: Path) -> None:
    scenarios = scenario_file(
        {
            "realtime": {
                "load": {"pattern": "server", "target_rps": 40},
                "objective": "maximize_throughput",
                "constraints": {"p99_latency_ms": 50, "max_quality_drop": 1.0},
            },
            "edge": {"load": {"pattern": "single-stream"}, "objective": "minimize_size"},
        },
        max_fallbacks=1,
    )
    selection, outcomes = select(scenarios, measurements(VARIANTS), "m.json")
    parsed = parse_selection(selection)
    assert parsed.generated_by == "scenario-serve select"
    assert {o.scenario: o.variant for o in outcomes} == {"realtime": "big-onnx-int8", "edge": "small-onnx-int8"}
    assert all(len(route.fallbacks) <= 1 for route in parsed.tasks["sentiment"].scenarios.values())
    bentofile = tmp_path / "bentofile.yaml"
    bentofile.write_text('service: "x"\n# keep me\nmodels:\n  - "old:latest"\nenvs: []\n', encoding="utf-8")
    assert sync_bentofile_models(bentofile, parsed.routed_variants())
    text = bentofile.read_text(encoding="utf-8")
    assert '"old:latest"' not in text and '  - "big-onnx-int8:latest"\n' in text and "# keep me" in text
    assert text.endswith("envs: []\n")
    assert not sync_bentofile_models(bentofile, parsed.routed_variants())


def test_missing_measurements_are_an_error() -> None:
    scenarios = scenario_file({"s": {"load": {"pattern": "offline"}, "objective": "minimize_size"}})
    with pytest.raises(SelectionInputError, match="scenario-serve measure --tasks sentiment"):
        select(scenarios, docs.document({}), "m.json")
    with pytest.raises(SelectionInputError, match="no scenarios for task 'digits'"):
        select(scenarios, measurements(VARIANTS), "m.json", tasks=["digits"])


def test_measurements_with_a_renamed_key_fail_naming_it() -> None:
    """Before contracts, a renamed key read with .get() would have made the variant look unmeasured."""
    data = measurements(VARIANTS)
    entry = data["tasks"]["sentiment"]["variants"]["big-onnx-fp32"]["runs"]["1"]["server"][0]
    entry["max_rps"] = entry.pop("max_rate_rps")
    scenarios = scenario_file({"s": {"load": {"pattern": "offline"}, "objective": "minimize_size"}})
    with pytest.raises(MeasurementsError) as caught:
        select(scenarios, data, "m.json")
    message = str(caught.value)
    assert message.startswith("m.json: ")
    where = "tasks.sentiment.variants.big-onnx-fp32.runs.1.server[0]"
    assert f"{where}.max_rate_rps: Field required" in message
    assert f"{where}.max_rps: Extra inputs are not permitted" in message


SERVER_40 = {
    "load": {"pattern": "server", "target_rps": 40},
    "objective": "maximize_throughput",
    "constraints": {"p99_latency_ms": 50},
}


def repeated_at_target(pooled_p99: float, repeats_p99: list[float]) -> dict[str, Any]:
    """An INT8 variant whose three trials at 40 rps had these p99s, and this p99 of their latencies pooled."""
    record = variant(0.726, 24.0, 5.0, rate=300.0, p99_at_target=pooled_p99, kind="onnx-int8")
    at_target = record["runs"]["1"]["server"][0]["at_target"]
    at_target.update(repeats_p99_ms=repeats_p99, p99_spread_ms=[min(repeats_p99), max(repeats_p99)])
    return record


def test_a_server_pick_predicts_the_median_repeat_p99_with_the_spread_and_the_pooled_p99_beside() -> None:
    repeated = repeated_at_target(27.5, [32.5, 20.3, 19.9])  # one repeat in a slower minute sets the pooled p99
    metrics = pick(SERVER_40, {"big-onnx-int8": repeated})["evidence"]["metrics"]
    assert (metrics["p99_ms"], metrics["latency_ms"]) == (20.3, 20.3)
    assert (metrics["p99_spread_ms"], metrics["p99_pooled_ms"]) == ([19.9, 32.5], 27.5)
    interactive = {"load": {"pattern": "single-stream"}, "objective": "minimize_latency"}
    single = pick(interactive, {"big-onnx-int8": repeated})["evidence"]["metrics"]
    assert "p99_spread_ms" not in single and "p99_pooled_ms" not in single  # older routing files stay valid


def test_the_p99_bound_caps_the_pooled_p99_not_the_median_repeat() -> None:
    route = pick(SERVER_40, {"big-onnx-int8": repeated_at_target(55.0, [70.0, 40.0, 41.0])})
    assert route["evidence"]["feasible"] is False
    assert route["evidence"]["metrics"]["p99_ms"] == 41.0
    failure = route["evidence"]["candidates"][0]["failures"][0]
    assert (failure["constraint"], failure["value"], failure["excess"]) == ("p99_latency_ms", 55.0, 5.0)
    assert pick(SERVER_40, {"big-onnx-int8": repeated_at_target(45.0, [70.0, 40.0, 41.0])})["evidence"]["feasible"]


def test_a_pick_records_the_runtime_speed_its_latencies_were_measured_at() -> None:
    record = variant(0.726, 24.0, 5.0, rate=300.0, p99_at_target=8.0, kind="onnx-int8")
    record["runs"]["1"]["server"][0]["at_target"]["runtime_ms_per_item"] = 3.2
    server = {
        "load": {"pattern": "server", "target_rps": 40},
        "objective": "maximize_throughput",
        "constraints": {"p99_latency_ms": 50},
    }
    assert pick(server, {"big-onnx-int8": record})["evidence"]["metrics"]["runtime_ms_per_item"] == 3.2
    interactive = {"load": {"pattern": "single-stream"}, "objective": "minimize_latency"}
    assert "runtime_ms_per_item" not in pick(interactive, {"big-onnx-int8": record})["evidence"]["metrics"]
    record["runs"]["1"]["server_share"] = {"client_mean_ms": 6.0, "request_mean_ms": 5.0, "inference_mean_ms": 4.1}
    assert pick(interactive, {"big-onnx-int8": record})["evidence"]["metrics"]["runtime_ms_per_item"] == 4.1
    offline = {"load": {"pattern": "offline"}, "objective": "maximize_throughput"}
    assert "runtime_ms_per_item" not in pick(offline, {"big-onnx-int8": record})["evidence"]["metrics"]
