"""The load generator's pure parts: seeded Poisson arrivals and the early-stop rule of a server trial."""

from __future__ import annotations

import numpy as np
import pytest

from models.loadgen import over_bound_limit, poisson_arrivals, trial_rng


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
