"""The capacity plan: replicas per server scenario from the measured rate within its bound, and the autoscaler bounds.

Inputs are the report's stored selection (`tests/data/report/selection.json`: one server scenario, `realtime`,
150 rps within p99 <= 50 ms at 1 thread, target 40 rps) and selections crafted here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from models.cli import build_parser
from models.report import render_report
from models.report.capacity import NO_RATE, NOT_SERVER, CapacityPlan, capacity_plan, replicas_for

DATA = Path(__file__).resolve().parents[1] / "data" / "report"


@pytest.fixture(scope="module")
def selection() -> dict[str, Any]:
    return json.loads((DATA / "selection.json").read_text(encoding="utf-8"))


def evidence(variant: str, rate: float | None) -> dict[str, Any]:
    """select's evidence of a pick measured at `rate` (the other metrics play no part in the plan)."""
    metrics = {
        "macro_f1": 0.7,
        "accuracy": 0.7,
        "quality_drop": 0.0,
        "p50_ms": 1.0,
        "p95_ms": 2.0,
        "p99_ms": 3.0,
        "latency_ms": 3.0,
        "throughput_rps": rate,
        "size_mb": 10.0,
        "memory_mb": 100.0,
        "threads": 1,
    }
    return {
        "feasible": True,
        "message": f"{variant} meets every constraint",
        "measurements": {"path": "m.json", "generated_at": None},
        "baseline": variant,
        "best_macro_f1": 0.7,
        "ranking": ["maximize_throughput"],
        "metrics": metrics,
        "candidates": [{"variant": variant, "rank": 1, "feasible": True, "metrics": metrics, "failures": []}],
    }


def route(pattern: str, rate: float | None, target: float | None = None, bound: float | None = 100.0) -> dict[str, Any]:
    constraints: dict[str, Any] = {"load_pattern": pattern, "threads": 1}
    if pattern == "server":
        constraints |= {"target_rps": target, "p99_latency_ms": bound}
    variant = f"{pattern}-pick"
    return {"variant": variant, "constraints": constraints, "evidence": evidence(variant, rate)}


def two_tasks(text: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "generated_by": "test",
        "generated_at": "t",
        "tasks": {
            "text": {"kind": "text", "default_scenario": "realtime", "scenarios": {"realtime": text}},
            "image": {"kind": "image", "default_scenario": "realtime", "scenarios": {"realtime": image}},
        },
    }


@pytest.mark.parametrize(
    ("rate", "usable", "replicas"),
    [(40.0, 105.0, 1), (105.0, 105.0, 1), (105.1, 105.0, 2), (40.0, 36.6338, 2), (200.0, 36.6338, 6), (0.9, 0.3, 3)],
)
def test_replicas_are_the_rate_over_the_usable_rate_rounded_up(rate: float, usable: float, replicas: int) -> None:
    assert replicas_for(rate, usable) == replicas  # 0.9 / 0.3 is 3.0000000000000004 in floating point: still 3


def test_server_scenario_gets_replicas_for_its_target_and_the_peak(selection: dict[str, Any]) -> None:
    plan = capacity_plan(selection, peak_rps=400.0)
    realtime = next(row for row in plan.rows if row.scenario == "realtime")
    assert (realtime.per_replica_rps, realtime.usable_rps, realtime.p99_bound_ms) == (150.0, 105.0, 50.0)
    assert (realtime.target_rps, realtime.target_replicas, realtime.peak_replicas) == (40.0, 1, 4)
    assert realtime.note is None


def test_other_patterns_say_why_they_have_no_replica_count(selection: dict[str, Any]) -> None:
    rows = {row.scenario: row for row in capacity_plan(selection, peak_rps=400.0).rows}
    assert rows["interactive"].note == NOT_SERVER["single-stream"]
    assert rows["batch"].note == NOT_SERVER["offline"]
    for name in ("interactive", "batch", "compact", "accuracy", "edge"):
        assert (rows[name].per_replica_rps, rows[name].target_replicas, rows[name].peak_replicas) == (None, None, None)


def test_headroom_changes_the_usable_rate(selection: dict[str, Any]) -> None:
    tight = capacity_plan(selection, peak_rps=400.0, headroom=0.0)
    assert tight.rows[0].usable_rps == 150.0 and tight.rows[0].peak_replicas == 3
    loose = capacity_plan(selection, peak_rps=400.0, headroom=0.5)
    assert loose.rows[0].usable_rps == 75.0 and loose.rows[0].peak_replicas == 6


def test_autoscaler_threshold_from_the_tightest_scenario_bounds_from_all() -> None:
    plan = capacity_plan(
        two_tasks(route("server", 52.334, target=40.0), route("server", 850.365, target=20.0)), peak_rps=200.0
    )
    assert plan.autoscaler is not None
    assert (plan.autoscaler.task, plan.autoscaler.scenario) == ("text", "realtime")
    assert plan.autoscaler.threshold_rps == 36.6  # 52.334 x 0.7 = 36.63, rounded down
    assert (plan.autoscaler.min_replicas, plan.autoscaler.max_replicas) == (2, 6)


def test_without_a_peak_there_is_no_maximum() -> None:
    plan = capacity_plan(two_tasks(route("server", 52.334, target=40.0), route("offline", 900.0)))
    assert plan.autoscaler is not None and plan.autoscaler.max_replicas is None
    assert [row.peak_replicas for row in plan.rows] == [None, None]


def test_a_server_pick_without_a_rate_within_its_bound_is_not_sized() -> None:
    plan = capacity_plan(two_tasks(route("server", 0.0, target=40.0), route("single-stream", 300.0)), peak_rps=100.0)
    assert plan.rows[0].note == NO_RATE and plan.rows[0].target_replicas is None
    assert plan.autoscaler is None


def test_report_carries_the_plan_as_typed_json_and_renders_the_table(selection: dict[str, Any]) -> None:
    measurements = json.loads((DATA / "measurements.json").read_text(encoding="utf-8"))
    report = render_report(measurements, selection, peak_rps=400.0)
    assert CapacityPlan.model_validate(report.json["capacity"]) == capacity_plan(selection, peak_rps=400.0)
    row = (
        "| sentiment | realtime | sentiment-minilm-l6-onnx-int8 | 150 (p99 ≤ 50 ms, 1 thread(s)) | 105 | 40 → 1 "
        "| 400 → 4 |"
    )
    assert "## Capacity plan" in report.markdown and row in report.markdown
    assert "<h2>Capacity plan</h2>" in report.html and "400 → 4" in report.html
    assert "threshold 105 rps per pod" in report.markdown


def test_report_without_a_peak_says_how_to_size_the_maximum(selection: dict[str, Any]) -> None:
    measurements = json.loads((DATA / "measurements.json").read_text(encoding="utf-8"))
    markdown = render_report(measurements, copy.deepcopy(selection)).markdown
    assert "target rate (no --peak-rps given)" in markdown and "max replicas pass --peak-rps to size it" in markdown


@pytest.mark.parametrize(
    "option",
    [["--peak-rps", "0"], ["--peak-rps", "-5"], ["--peak-rps", "inf"], ["--headroom", "1"], ["--headroom", "-0.1"]],
)
def test_report_rejects_impossible_sizing_options(option: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["report", *option])
    assert exit_info.value.code == 2


def test_report_sizing_options_parse() -> None:
    args = build_parser().parse_args(["report", "--peak-rps", "250", "--headroom", "0.25"])
    assert (args.peak_rps, args.headroom) == (250.0, 0.25)
