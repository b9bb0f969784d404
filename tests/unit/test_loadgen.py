"""The load generator's pure parts: seeded Poisson arrivals, the early-stop rule of a server trial, how precisely
queries are issued, and how long its pool keeps an idle connection."""

from __future__ import annotations

import asyncio
import inspect

import numpy as np
import pytest
import uvicorn

from models.loadgen import (
    MAX_SPIN_S,
    POOLED_IDLE_LIMIT_S,
    SPIN_CPU_SHARE,
    HttpClient,
    json_body,
    over_bound_limit,
    poisson_arrivals,
    spin_lead_s,
    trial_rng,
    wait_until,
)


def test_poisson_arrivals_are_seeded_and_have_the_rate() -> None:
    first = poisson_arrivals(50.0, 4000, trial_rng(0, 50.0))
    assert np.array_equal(first, poisson_arrivals(50.0, 4000, trial_rng(0, 50.0)))
    assert not np.array_equal(first, poisson_arrivals(50.0, 4000, trial_rng(1, 50.0)))
    assert np.all(np.diff(first) > 0) and first[0] > 0
    assert np.diff(first).mean() == pytest.approx(1 / 50.0, rel=0.05)
    with pytest.raises(ValueError):
        poisson_arrivals(0.0, 10, trial_rng(0, 0.0))


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


def test_the_polled_lead_before_an_arrival_is_capped_and_shrinks_at_high_rates() -> None:
    assert spin_lead_s(poisson_arrivals(2.0, 200, trial_rng(0, 2.0))) == MAX_SPIN_S
    fast = poisson_arrivals(500.0, 5000, trial_rng(0, 500.0))
    assert spin_lead_s(fast) == pytest.approx(SPIN_CPU_SHARE / 500.0, rel=0.05)  # 5% of the mean gap
    assert spin_lead_s(np.asarray([])) == 0.0


def test_waiting_for_an_arrival_never_returns_early_and_lets_other_work_run_meanwhile() -> None:
    async def scenario() -> tuple[list[float], int]:
        loop = asyncio.get_running_loop()
        ticks = 0

        async def other_work() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        worker = asyncio.ensure_future(other_work())
        early = []
        for _ in range(20):
            when = loop.time() + 0.003
            await wait_until(loop, when, spin_s=0.002)
            early.append(when - loop.time())
        worker.cancel()
        return early, ticks

    early, ticks = asyncio.run(scenario())
    assert max(early) <= 0.0
    assert ticks > 20  # the polling yields to the loop: other tasks (answers arriving) are not held up


def test_the_pool_drops_an_idle_connection_before_the_server_closes_it() -> None:
    """uvicorn, under `bentoml serve`, closes keep-alive connections idle for its default; a pooled connection reused
    just as it closes fails its query (ServerDisconnectedError): the pool's own idle limit must be shorter."""
    server_idle_s = inspect.signature(uvicorn.Config).parameters["timeout_keep_alive"].default
    assert POOLED_IDLE_LIMIT_S < server_idle_s

    async def idle_limits() -> tuple[float | None, float | None]:
        bodies = [json_body({"texts": ["hi"]})]
        async with HttpClient("http://127.0.0.1:9/", bodies) as pooled:
            async with HttpClient("http://127.0.0.1:9/", bodies, keep_alive=False) as fresh:
                return pooled._session.connector._keepalive_timeout, fresh._session.connector._keepalive_timeout

    assert asyncio.run(idle_limits()) == (POOLED_IDLE_LIMIT_S, None)
