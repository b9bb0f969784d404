"""loadtests/overload.py's criteria (a run that shed nothing fails instead of passing the 503 checks vacuously) and its
default rate (far above what the machine serves, as measured)."""

from __future__ import annotations

from loadtests.compare import realtime_route
from loadtests.overload import MIN_RATE_RPS, OVER_CAPACITY, SHED, checks, default_rate
from service.routing import ScenarioSelection


def result(outcomes: dict[str, int], p99: dict[str, float], missing: int = 0, ready: bool = True) -> dict[str, object]:
    return {"outcomes": outcomes, "p99_ms_by_outcome": p99, "retry_after_missing": missing, "ready_after": ready}


def test_a_shedding_run_within_the_criteria_passes() -> None:
    assert all(checks(result({"200": 90, "503": 10}, {"200": 80.0, "503": 12.0}), 50.0).values())


def test_a_run_that_shed_nothing_fails_its_first_criterion() -> None:
    verdicts = checks(result({"200": 100}, {"200": 70.0}), 50.0)
    assert not verdicts[SHED]
    assert not verdicts["503 p99 < 50 ms"]
    assert verdicts["only 200 and 503 answers"] and verdicts["ready afterwards"]


def test_slow_refusals_other_errors_missing_retry_after_and_not_ready_each_fail() -> None:
    assert not checks(result({"503": 5}, {"503": 60.0}), 50.0)["503 p99 < 50 ms"]
    assert not checks(result({"200": 5, "500": 1}, {"200": 1.0}), 50.0)["only 200 and 503 answers"]
    assert not checks(result({"503": 5}, {"503": 1.0}, missing=1), 50.0)["every 503 has Retry-After"]
    assert not checks(result({"503": 5}, {"503": 1.0}, ready=False), 50.0)["ready afterwards"]


def test_the_default_rate_is_300_or_twice_the_picks_measured_rate_whichever_is_more() -> None:
    measured = realtime_route("sentiment")  # the checked-in selection: select's evidence for the pick
    evidence = measured.select_evidence()
    assert evidence is not None and evidence.metrics is not None
    recorded = evidence.metrics.throughput_rps
    assert default_rate(measured) == max(MIN_RATE_RPS, OVER_CAPACITY * recorded)
    slow = evidence.metrics.model_copy(update={"throughput_rps": 100.0})
    fast = evidence.metrics.model_copy(update={"throughput_rps": 400.0})
    for metrics, expected in ((slow, MIN_RATE_RPS), (fast, 800.0)):
        route = measured.model_copy(update={"evidence": evidence.model_copy(update={"metrics": metrics})})
        assert default_rate(route) == expected
    assert default_rate(ScenarioSelection(variant="hand-written", evidence={"note": "by hand"})) == MIN_RATE_RPS
