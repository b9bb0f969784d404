"""The served half's pure parts: how many queries a trial sends, the bounded search for the highest rate within
a p99 bound (on a queue-like model of a server), and repeated trials pooled into one."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from models.loadgen import TrialRun, json_body
from models.measure_plan import MeasureSettings, ServerTarget, served_config
from models.served_measure import (
    MAX_DOUBLINGS,
    ServedTrials,
    confirm_max_rate,
    pooled_trial,
    query_count,
    search_max_rate,
)
from models.server_share import RuntimeUse
from service.contracts import ServerSearch
from service.contracts.measurements import ServerTrial
from tests.loopback import answering


def test_query_count_has_a_floor_and_a_ceiling() -> None:
    assert query_count(100.0, 4.0, 100) == 400  # the rate over the trial
    assert query_count(10.0, 4.0, 100) == 100  # at least min_queries ...
    assert query_count(1.0, 4.0, 100) == 16  # ... unless that stretches the trial beyond 4x


def record(rate: float, p99_ms: float, meets: bool) -> ServerTrial:
    """A trial's record with only what the search reads filled in."""
    return ServerTrial(
        rate_rps=rate,
        queries=1,
        achieved_rps=rate,
        outcomes={"200": 1},
        p99_ms_by_outcome={},
        p50_ms=p99_ms,
        p95_ms=p99_ms,
        p99_ms=p99_ms,
        issue_lateness_p50_ms=None,
        meets_bound=meets,
        stopped_early=False,
    )


def fake_trials(capacity: float, bound_ms: float) -> tuple[list[float], Callable[[float], ServerTrial]]:
    """A queue-like p99(rate): fine at low load, unbounded as the rate nears `capacity`."""
    visited: list[float] = []

    def trial(rate: float) -> ServerTrial:
        visited.append(rate)
        p99 = 2.0 / (1.0 - rate / capacity) if rate < capacity else float("inf")
        return record(rate, p99, p99 <= bound_ms)

    return visited, trial


def true_max_rate(capacity: float, bound_ms: float) -> float:
    return capacity * (1.0 - 2.0 / bound_ms)


def test_search_bisects_up_from_a_target_that_meets_the_bound() -> None:
    visited, trial = fake_trials(capacity=100.0, bound_ms=20.0)  # true max rate 90
    result = search_max_rate(trial, target_rps=10.0, estimate_rps=120.0, steps=6)
    assert visited[:2] == [10.0, 120.0]  # the target, then the estimate as the first upper probe
    assert result.at_target.rate_rps == 10.0 and result.at_target.meets_bound
    assert len(result.trials) == 2 + 6
    assert result.max_rate_rps <= true_max_rate(100.0, 20.0)
    assert result.max_rate_rps >= true_max_rate(100.0, 20.0) - (120.0 - 10.0) / 2**6
    assert result.max_rate_rps == max(t.rate_rps for t in result.trials if t.meets_bound)


def test_search_doubles_from_the_target_when_the_estimate_is_low() -> None:
    visited, trial = fake_trials(capacity=100.0, bound_ms=20.0)
    result = search_max_rate(trial, target_rps=10.0, estimate_rps=5.0, steps=3)
    assert visited[:4] == [10.0, 20.0, 40.0, 80.0]
    assert 80.0 <= result.max_rate_rps <= 90.0


def test_search_below_a_target_that_misses_the_bound() -> None:
    visited, trial = fake_trials(capacity=100.0, bound_ms=20.0)
    result = search_max_rate(trial, target_rps=150.0, estimate_rps=1000.0, steps=5)
    assert not result.at_target.meets_bound
    assert len(visited) == 1 + 5 and all(rate < 150.0 for rate in visited[1:])
    assert 0 < result.max_rate_rps <= 90.0


def test_search_is_bounded_and_reports_zero_when_nothing_meets() -> None:
    visited, trial = fake_trials(capacity=1e12, bound_ms=1e6)  # always meets: the doubling must stop
    result = search_max_rate(trial, target_rps=10.0, estimate_rps=0.0, steps=4)
    assert len(visited) == 1 + MAX_DOUBLINGS + 1
    assert result.max_rate_rps == visited[-1] == 10.0 * 2 ** (MAX_DOUBLINGS + 1)
    _, never = fake_trials(capacity=1.0, bound_ms=1.0)
    nothing = search_max_rate(never, target_rps=10.0, estimate_rps=50.0, steps=3)
    assert nothing.max_rate_rps == 0.0 and len(nothing.trials) == 4


def run(latencies_ms: list[float], outcome: str = "200", stopped: bool = False) -> TrialRun:
    seconds = [latency / 1000.0 for latency in latencies_ms]
    return TrialRun(
        latencies_s=seconds,
        by_outcome={outcome: seconds},
        outcomes=Counter({outcome: len(seconds)}),
        lateness_s=[0.0] * len(seconds),
        queries=len(seconds),
        completed=len(seconds),
        elapsed_s=len(seconds) / 50.0,
        stopped_early=stopped,
    )


def test_repeated_trials_pool_their_latencies_and_keep_each_repeats_p99() -> None:
    quiet, noisy = [10.0] * 200, [10.0] * 196 + [60.0] * 4
    pooled = pooled_trial(50.0, [run(quiet), run(noisy), run(quiet)], bound_ms=50.0)
    assert pooled.p99_ms == round(float(np.percentile(quiet + noisy + quiet, 99)), 3)
    assert pooled.p99_ms < 50.0 and pooled.meets_bound  # one noisy repeat no longer decides alone
    assert pooled.repeats_p99_ms == [10.0, 60.0, 10.0] and pooled.p99_spread_ms == (10.0, 60.0)
    assert pooled.queries == 600 and pooled.outcomes == {"200": 600} and pooled.achieved_rps == 50.0
    single = pooled_trial(50.0, [run(quiet)], bound_ms=50.0)
    assert single.repeats_p99_ms is None and single.p99_spread_ms is None


def test_a_pooled_trial_carries_the_runtime_per_item_over_all_its_repeats() -> None:
    uses = [RuntimeUse(seconds=0.4, items=100), RuntimeUse(seconds=0.8, items=100)]
    pooled = pooled_trial(50.0, [run([10.0] * 100), run([10.0] * 100)], bound_ms=50.0, uses=uses)
    assert pooled.runtime_ms_per_item == 6.0  # 1.2 s over 200 items, not the mean of 4 and 8 per repeat
    unread = pooled_trial(50.0, [run([10.0] * 100)] * 2, bound_ms=50.0, uses=[uses[0], None])
    assert unread.runtime_ms_per_item is None  # one repeat's reading missing: no partial figure
    assert pooled_trial(50.0, [run([10.0] * 100)], bound_ms=50.0).runtime_ms_per_item is None
    assert "runtime_ms_per_item" not in unread.model_dump()


def test_a_pooled_trial_misses_the_bound_when_any_repeat_failed_a_query_or_stopped_early() -> None:
    fine = run([10.0] * 100)
    assert not pooled_trial(50.0, [fine, run([10.0], outcome="503")], bound_ms=50.0).meets_bound
    assert not pooled_trial(50.0, [fine, run([10.0] * 10, stopped=True)], bound_ms=50.0).meets_bound
    assert pooled_trial(50.0, [fine, fine], bound_ms=50.0).meets_bound


def test_search_never_offers_more_than_the_cap() -> None:
    visited, trial = fake_trials(capacity=1e12, bound_ms=1e6)
    result = search_max_rate(trial, target_rps=10.0, estimate_rps=500.0, steps=2, max_rate_rps=100.0)
    assert max(visited) == 100.0 and result.max_rate_rps == 100.0


def test_a_refused_single_stream_query_names_what_the_server_said() -> None:
    """A loopback server that answers every query 503 (as a worker still loading would): the error carries it."""
    with answering(503, b'{"error": {"type": "variant_unavailable"}}') as port:
        url = f"http://127.0.0.1:{port}/v1/text/classify"
        trials = ServedTrials(url, [json_body({"texts": ["hi"]})], MeasureSettings(warmup=1, min_samples=2))
        try:
            with pytest.raises(ValueError, match=r"query 0 was answered 503: .*variant_unavailable"):
                trials.single_stream()
        finally:
            trials.close()


def repeats_meeting_below(limit_rps: float) -> tuple[list[float], Callable[[float], ServerTrial]]:
    tried: list[float] = []

    def repeated(rate: float) -> ServerTrial:
        tried.append(rate)
        return record(rate, 10.0, rate <= limit_rps)

    return tried, repeated


def test_a_lucky_best_rate_is_bisected_down_with_repeated_trials() -> None:
    tried, repeated = repeats_meeting_below(300.0)
    rate, at_max, missed = confirm_max_rate(repeated, best_rps=900.0, floor_rps=20.0, max_confirmations=4)
    assert tried == [900.0, 460.0, 240.0, 350.0]  # the best, then bisections between the floor and it
    assert rate == 240.0 and at_max is not None and at_max.rate_rps == 240.0
    assert [m.rate_rps for m in missed] == [900.0, 460.0, 350.0]


def test_a_best_rate_whose_repeats_hold_is_kept() -> None:
    tried, repeated = repeats_meeting_below(150.0)
    assert confirm_max_rate(repeated, 100.0, 40.0)[:1] == (100.0,) and tried == [100.0]


def test_confirming_falls_back_to_the_floor_and_is_bounded() -> None:
    tried, repeated = repeats_meeting_below(0.0)
    rate, at_max, missed = confirm_max_rate(repeated, 100.0, floor_rps=60.0, max_confirmations=3)
    assert tried == [100.0, 80.0, 70.0] and rate == 60.0 and at_max is None and len(missed) == 3


def test_served_search_records_the_confirmed_rate_beside_the_search_s_lucky_one() -> None:
    """Single trials hold up to 60 req/s, repeated ones only up to 50: the record says both, and round-trips."""
    settings = MeasureSettings(repeats=3, search_steps=4, target_seconds=30.0)
    trials = ServedTrials("http://127.0.0.1:9/v1/text/classify", [json_body({"texts": ["hi"]})], settings)
    repeat_lengths: dict[float, tuple[float | None, int | None]] = {}

    def repeated(
        rate: float, bound_ms: float, seconds: float | None = None, min_queries: int | None = None
    ) -> ServerTrial:
        repeat_lengths[rate] = (seconds, min_queries)
        return record(rate, 10.0, rate <= 50.0)

    try:
        trials.trial = lambda rate, bound_ms, repeat=0: record(rate, 10.0, rate <= 60.0)  # type: ignore[method-assign]
        trials.repeated = repeated  # type: ignore[method-assign]
        search = trials.search(ServerTarget(p99_bound_ms=50.0, target_rps=10.0), estimate_rps=100.0)
    finally:
        trials.close()
    # the target's repeats (the prediction live_check checks) are long; the confirmation's are trial-sized
    assert (
        repeat_lengths.pop(10.0) == (30.0, 1200) and repeat_lengths and set(repeat_lengths.values()) == {(None, None)}
    )
    assert search.search_max_rate_rps is not None and 50.0 < search.search_max_rate_rps <= 60.0
    assert search.at_max_rate is not None and 30.0 < search.max_rate_rps == search.at_max_rate.rate_rps <= 50.0
    assert search.unconfirmed and all(t.rate_rps > 50.0 and not t.meets_bound for t in search.unconfirmed)
    assert ServerSearch.model_validate_json(search.model_dump_json()) == search


def test_after_a_trial_answered_503s_the_next_one_waits_a_shedding_hold_first() -> None:
    """A worker that shed ends it on its first request after a quiet `shedding_hold_s`: the settle waits that long
    after refusals (and only then), so the next trial does not meet the tighter bound."""
    trials = ServedTrials("http://127.0.0.1:9/v1/text/classify", [json_body({"texts": ["hi"]})], MeasureSettings())

    async def drained() -> float:
        return 0.0

    async def fast(loop: object) -> float:
        return 0.001

    def settle_seconds() -> float:
        started = time.perf_counter()
        trials.loop.run_until_complete(trials._settle())
        return time.perf_counter() - started

    try:
        trials._queued_items = drained  # type: ignore[method-assign]
        trials._lone_request_s = fast  # type: ignore[method-assign,assignment]
        trials.idle_s, trials.shedding_hold_s = 0.001, 0.2
        assert settle_seconds() < 0.1
        trials.refused = True
        assert settle_seconds() >= 0.2 and not trials.refused
    finally:
        trials.close()
    assert served_config().shedding_hold_s == 1.0  # what a real run waits (SCENARIO_SERVE_SHEDDING_HOLD_S)
