"""The one latency summary (measure, prepare's probe, loadtests): percentiles, mean and a CDF."""

from __future__ import annotations

import numpy as np
import pytest

from models.latency import CDF_POINTS, latency_summary


def test_latency_summary_orders_percentiles_and_gives_a_cdf() -> None:
    samples = np.random.default_rng(1).lognormal(1.0, 0.5, 500)
    summary = latency_summary(samples)
    assert summary["samples"] == 500
    assert summary["p50_ms"] <= summary["p90_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert summary["p50_ms"] == pytest.approx(np.percentile(samples, 50), abs=1e-3)
    assert summary["mean_ms"] == pytest.approx(samples.mean(), abs=1e-3)
    cdf = summary["cdf_ms"]
    assert len(cdf) == CDF_POINTS and cdf == sorted(cdf)
    assert cdf[0] == pytest.approx(samples.min(), abs=1e-3) and cdf[-1] == pytest.approx(samples.max(), abs=1e-3)
    with pytest.raises(ValueError, match="no latency samples"):
        latency_summary([])
