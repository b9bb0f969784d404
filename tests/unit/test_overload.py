"""loadtests/overload.py's criteria: a run that shed nothing fails instead of passing the 503 checks vacuously."""

from __future__ import annotations

from loadtests.overload import SHED, checks


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
