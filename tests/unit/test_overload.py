"""loadtests/overload.py's criteria (a run that shed nothing fails instead of passing the 503 checks vacuously; admitted
answers after the onset held to the route's bound), its admitted answers' timing and its
default rate (far above what the machine serves, as measured)."""

from __future__ import annotations

import asyncio

from loadtests.compare import realtime_route
from loadtests.overload import MIN_RATE_RPS, ONSET_S, OVER_CAPACITY, SHED, Answers, checks, default_rate
from service.routing import ScenarioSelection


def result(
    outcomes: dict[str, int], p99: dict[str, float], missing: int = 0, ready: bool = True, admitted_p99: float = 20.0
) -> dict[str, object]:
    return {
        "outcomes": outcomes,
        "p99_ms_by_outcome": p99,
        "retry_after_missing": missing,
        "ready_after": ready,
        "admitted_after_onset": {"from_s": ONSET_S, "count": 10, "p99_ms": admitted_p99},
    }


def test_a_shedding_run_within_the_criteria_passes() -> None:
    assert all(checks(result({"200": 90, "503": 10}, {"200": 80.0, "503": 12.0}), 50.0, None).values())


def test_a_run_that_shed_nothing_fails_its_first_criterion() -> None:
    verdicts = checks(result({"200": 100}, {"200": 70.0}), 50.0, None)
    assert not verdicts[SHED]
    assert not verdicts["503 p99 < 50 ms"]
    assert verdicts["only 200 and 503 answers"] and verdicts["ready afterwards"]


def test_slow_refusals_other_errors_missing_retry_after_and_not_ready_each_fail() -> None:
    assert not checks(result({"503": 5}, {"503": 60.0}), 50.0, None)["503 p99 < 50 ms"]
    assert not checks(result({"200": 5, "500": 1}, {"200": 1.0}), 50.0, None)["only 200 and 503 answers"]
    assert not checks(result({"503": 5}, {"503": 1.0}, missing=1), 50.0, None)["every 503 has Retry-After"]
    assert not checks(result({"503": 5}, {"503": 1.0}, ready=False), 50.0, None)["ready afterwards"]


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


ADMITTED = f"200 p99 after the first {ONSET_S:g} s <= 50 ms (the route's bound)"


def test_admitted_answers_after_the_onset_are_held_to_the_routes_bound_when_it_has_one() -> None:
    assert checks(result({"200": 90, "503": 10}, {"503": 12.0}, admitted_p99=49.0), 50.0, 50.0)[ADMITTED]
    assert not checks(result({"200": 90, "503": 10}, {"503": 12.0}, admitted_p99=51.0), 50.0, 50.0)[ADMITTED]
    assert not checks(result({"503": 10}, {"503": 12.0}, admitted_p99=None), 50.0, 50.0)[ADMITTED]  # none admitted
    assert ADMITTED not in checks(result({"200": 90, "503": 10}, {"503": 12.0}), 50.0, None)


def test_only_answers_to_queries_issued_after_the_onset_count_as_admitted_after_it() -> None:
    answers = Answers()
    outcomes = iter(["200", "503", "200", "200"])
    latencies = iter([0.5, 0.001, 0.020, 0.030])  # the first, slow one comes in the onset

    async def send(index: int) -> str:
        await asyncio.sleep(next(latencies))
        return next(outcomes)

    async def run() -> None:
        timed = answers.timing(send)
        await timed(0)  # issued at 0 s; answered after 0.5 s
        await asyncio.sleep(ONSET_S - 0.5 + 0.05)  # the next queries are issued after the onset
        for index in (1, 2, 3):
            await timed(index)

    asyncio.run(run())
    after = answers.admitted_after(ONSET_S)
    assert after["count"] == 2 and after["p99_ms"] is not None and 20.0 <= after["p99_ms"] < 100.0
    assert answers.admitted_after(0.0)["count"] == 3
