"""loadtests/live_check.py's verdict: which routes it checks, and the p99 it compares against select's."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.live_check import RuntimeGauge, check, chosen, server_scenarios
from service.contracts.measurements import ServerTrial
from service.routing import ScenarioSelection, Selection

SELECTION = Path(__file__).resolve().parents[2] / "service" / "selection.json"


def live_trial(p99_ms: float, outcomes: dict[str, int] | None = None) -> ServerTrial:
    return ServerTrial(
        rate_rps=40.0,
        queries=100,
        achieved_rps=40.0,
        outcomes=outcomes or {"200": 100},
        p99_ms_by_outcome={"200": p99_ms},
        p50_ms=p99_ms / 3,
        p95_ms=p99_ms / 1.5,
        p99_ms=p99_ms,
        issue_lateness_p50_ms=0.1,
        meets_bound=True,
        stopped_early=False,
    )


@pytest.fixture(scope="module")
def selection() -> Selection:
    return Selection.model_validate_json(SELECTION.read_text(encoding="utf-8"))


def realtime(selection: Selection) -> ScenarioSelection:
    return selection.tasks["sentiment"].scenarios["realtime"]


def test_checks_only_the_server_scenarios(selection: Selection) -> None:
    keys = {route.key for route in server_scenarios(selection)}
    assert "sentiment/realtime" in keys
    assert all(route.route.constraints.load_pattern == "server" for route in server_scenarios(selection))
    assert "sentiment/batch" not in keys


def test_within_tolerance_of_the_recorded_p99(selection: Selection) -> None:
    route = realtime(selection)
    evidence = route.select_evidence()
    assert evidence is not None and evidence.metrics is not None and evidence.metrics.p99_ms is not None
    predicted = evidence.metrics.p99_ms
    close = check(route, live_trial(predicted * 1.10), tolerance=0.15)
    assert close.within_tolerance and close.within_bound
    assert close.p99_off_pct == pytest.approx(10.0, abs=0.1)
    far = check(route, live_trial(predicted * 0.80), tolerance=0.15)
    assert not far.within_tolerance and far.p99_off_pct == pytest.approx(-20.0, abs=0.1)


def test_errors_or_a_breached_bound_fail(selection: Selection) -> None:
    route = realtime(selection)
    bound = route.constraints.p99_latency_ms
    assert bound is not None
    assert not check(route, live_trial(bound + 1), tolerance=10).within_bound
    assert not check(route, live_trial(1.0, {"200": 99, "503": 1}), tolerance=10).within_bound
    row = check(route, live_trial(bound + 1), tolerance=10).table_row("sentiment/realtime")
    assert "BREACHED" in row and route.variant in row


def test_a_hand_written_route_cannot_be_checked(selection: Selection) -> None:
    route = realtime(selection).model_copy(update={"evidence": {"note": "pinned by hand"}})
    with pytest.raises(SystemExit, match="run `scenario-serve select` first"):
        check(route, live_trial(10.0), tolerance=0.15)


def repeated(pooled_p99_ms: float, repeats_p99_ms: list[float]) -> ServerTrial:
    spread = (min(repeats_p99_ms), max(repeats_p99_ms))
    return live_trial(pooled_p99_ms).model_copy(update={"repeats_p99_ms": repeats_p99_ms, "p99_spread_ms": spread})


def test_the_median_repeat_is_compared_and_the_pooled_p99_is_held_to_the_bound(selection: Selection) -> None:
    route = realtime(selection)
    evidence = route.select_evidence()
    assert evidence is not None and evidence.metrics is not None and evidence.metrics.p99_ms is not None
    predicted, bound = evidence.metrics.p99_ms, route.constraints.p99_latency_ms
    assert bound is not None
    slow_minute = repeated(predicted * 1.5, [predicted * 2.5, predicted * 1.05, predicted * 0.98])
    result = check(route, slow_minute, tolerance=0.15)
    assert result.within_tolerance and result.p99_off_pct == pytest.approx(5.0, abs=0.1)
    over_bound = repeated(bound + 1, [bound * 0.5, bound * 0.5, bound * 2])
    assert not check(route, over_bound, tolerance=10).within_bound


def test_the_table_shows_both_spreads_and_pooled_p99s(selection: Selection) -> None:
    route = realtime(selection)
    row = check(route, repeated(25.0, [22.5, 18.0, 20.0]), tolerance=0.15).table_row("sentiment/realtime")
    assert "20.0 (18.0-22.5; pooled 25.0)" in row
    evidence = route.select_evidence()
    assert evidence is not None and evidence.metrics is not None and evidence.metrics.p99_spread_ms is not None
    low, high = evidence.metrics.p99_spread_ms
    assert f"({low:.1f}-{high:.1f}" in row


def with_runtime(route: ScenarioSelection, runtime_ms: float | None) -> ScenarioSelection:
    """The route with select's evidence recording `runtime_ms` per item at the target rate."""
    evidence = route.select_evidence()
    assert evidence is not None and evidence.metrics is not None
    metrics = evidence.metrics.model_copy(update={"runtime_ms_per_item": runtime_ms})
    return route.model_copy(update={"evidence": evidence.model_copy(update={"metrics": metrics})})


def test_the_runtime_gauge_compares_the_live_trials_with_what_select_recorded(selection: Selection) -> None:
    route = with_runtime(realtime(selection), 5.0)
    live = live_trial(20.0).model_copy(update={"runtime_ms_per_item": 4.0})
    result = check(route, live, tolerance=0.15)
    assert result.runtime == RuntimeGauge(at_measure_ms=5.0, now_ms=4.0)
    assert result.runtime.change_pct == pytest.approx(-20.0)
    assert result.table_row("sentiment/realtime").endswith("| 4.0 / 5.0 (-20%) |")


def test_a_gauge_without_either_reading_shows_dashes(selection: Selection) -> None:
    route = with_runtime(realtime(selection), None)
    assert check(route, live_trial(20.0), tolerance=0.15).table_row("x").endswith("| - / - |")
    live = live_trial(20.0).model_copy(update={"runtime_ms_per_item": 4.0})
    assert check(route, live, tolerance=0.15).table_row("x").endswith("| 4.0 / - |")


def test_route_restricts_the_check_and_names_the_known_routes(selection: Selection) -> None:
    routes = server_scenarios(selection)
    assert [r.key for r in chosen(routes, ["digits/realtime"])] == ["digits/realtime"]
    assert chosen(routes, None) == routes
    with pytest.raises(SystemExit, match="no server route sentiment/batch; the server routes are .*sentiment/realtime"):
        chosen(routes, ["sentiment/batch"])
