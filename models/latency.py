"""Latency statistics: the one percentile summary (used by `measure`, `prepare` and `loadtests/`), and a small
probe that times variants in alternation so that background load hits them alike."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from service.runtimes import Runtime

CDF_POINTS = 101


def rounded_ms(value: float) -> float:
    return round(float(value), 4)


def latency_summary(samples_ms: Sequence[float]) -> dict[str, Any]:
    """Percentiles (numpy's linear interpolation), mean, count, and the latency at quantiles 0, 0.01, ..., 1."""
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no latency samples")
    p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99])
    return {
        "samples": int(values.size),
        "mean_ms": rounded_ms(values.mean()),
        "p50_ms": rounded_ms(p50),
        "p90_ms": rounded_ms(p90),
        "p95_ms": rounded_ms(p95),
        "p99_ms": rounded_ms(p99),
        "cdf_ms": [rounded_ms(v) for v in np.percentile(values, np.linspace(0.0, 100.0, CDF_POINTS))],
    }


def interleaved_latency(
    runtimes: Mapping[str, Runtime], inputs: dict[str, np.ndarray], runs: int = 50, warmup: int = 5
) -> dict[str, dict[str, float]]:
    """p50 and p90 (ms) of each runtime over `runs` batches, the runtimes taking turns."""
    for runtime in runtimes.values():
        runtime.warmup(inputs, warmup)
    samples: dict[str, list[float]] = {name: [] for name in runtimes}
    for _ in range(runs):
        for name, runtime in runtimes.items():
            start = time.perf_counter()
            runtime.predict(inputs)
            samples[name].append((time.perf_counter() - start) * 1000.0)
    summaries = {name: latency_summary(values) for name, values in samples.items()}
    return {name: {key: summary[key] for key in ("p50_ms", "p90_ms", "samples")} for name, summary in summaries.items()}
