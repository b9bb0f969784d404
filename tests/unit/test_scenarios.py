"""The scenario file: the defaults load; every validation error names the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.catalog import load_catalog
from models.scenarios import ScenarioError, load_scenarios, measurement_needs


def write(tmp_path: Path, scenario: str, extra: str = "") -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(
        f"{extra}tasks:\n  t:\n    default_scenario: s\n    scenarios:\n      s: {scenario}\n", encoding="utf-8"
    )
    return path


def test_defaults_cover_both_tasks_with_the_five_scenarios() -> None:
    scenarios = load_scenarios()
    assert set(scenarios.tasks) == set(load_catalog().tasks) == {"sentiment", "digits"}
    for task in scenarios.tasks.values():
        assert set(task.scenarios) == {"realtime", "interactive", "batch", "edge", "accuracy"}
        assert task.scenarios["realtime"].load.pattern == "server"
        assert task.scenarios["interactive"].load.pattern == "single-stream"
        assert task.scenarios["batch"].load.pattern == "offline"
    assert measurement_needs(scenarios, "sentiment") == ((50.0, 40.0),)


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        (
            "{load: {pattern: server}, objective: maximize_throughput, constraints: {p99_latency_ms: 5}}",
            "tasks.t.scenarios.s.load: target_rps: required for the server pattern",
        ),
        (
            "{load: {pattern: server, target_rps: 5}, objective: maximize_throughput}",
            "constraints.p99_latency_ms: required for the server pattern",
        ),
        (
            "{load: {pattern: offline}, objective: minimize_size, constraints: {p95_latency_ms: 5}}",
            "constraints.p95_latency_ms: offline measures throughput only",
        ),
        ("{load: {pattern: offline}, objective: minimize_latency}", "objective: minimize_latency needs"),
        ("{load: {pattern: single-stream}, objective: fastest}", "tasks.t.scenarios.s.objective: Input should be"),
        (
            "{load: {pattern: single-stream}, objective: minimize_size, constraints: {p99_latncy_ms: 5}}",
            "tasks.t.scenarios.s.constraints.p99_latncy_ms: Extra inputs are not permitted",
        ),
        (
            "{load: {pattern: single-stream}, objective: minimize_size, constraints: {min_accuracy: 80}}",
            "tasks.t.scenarios.s.constraints.min_accuracy: Input should be less than or equal to 1",
        ),
        (
            "{load: {pattern: single-stream, target_rps: 3}, objective: minimize_size}",
            "target_rps: only the server pattern has one",
        ),
        (
            "{load: {pattern: single-stream}, objective: minimize_size, tie_breaks: [minimize_size]}",
            "tie_breaks: repeats the objective",
        ),
    ],
)
def test_invalid_scenarios_name_the_key(tmp_path: Path, scenario: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(write(tmp_path, scenario))
    assert message in str(caught.value)
    assert str(tmp_path / "scenarios.yaml") in str(caught.value)


def test_default_scenario_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, "{load: {pattern: offline}, objective: minimize_size}")
    path.write_text(path.read_text().replace("default_scenario: s", "default_scenario: nope"))
    with pytest.raises(ScenarioError, match="default_scenario: 'nope' is not one of s"):
        load_scenarios(path)


def test_missing_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenarios(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("tasks: [", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenarios(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_scenarios(tmp_path / "list.yaml")
