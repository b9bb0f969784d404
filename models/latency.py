"""Small latency probe: variants timed in alternation so background load hits them alike."""

from __future__ import annotations

import time

import numpy as np

from service.runtimes import Runtime


def interleaved_latency(
    runtimes: dict[str, Runtime], inputs: dict[str, np.ndarray], runs: int = 50, warmup: int = 5
) -> dict[str, dict[str, float]]:
    for runtime in runtimes.values():
        runtime.warmup(inputs, warmup)
    samples: dict[str, list[float]] = {name: [] for name in runtimes}
    for _ in range(runs):
        for name, runtime in runtimes.items():
            start = time.perf_counter()
            runtime.predict(inputs)
            samples[name].append((time.perf_counter() - start) * 1000.0)
    return {
        name: {
            "p50_ms": round(float(np.percentile(values, 50)), 3),
            "p90_ms": round(float(np.percentile(values, 90)), 3),
            "samples": runs,
        }
        for name, values in samples.items()
    }
