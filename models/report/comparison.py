"""The pick against the FP32 baseline, on the metric the scenario is about."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.report.schema import QUANTILES, Json


@dataclass(frozen=True)
class Comparison:
    """The pick against the FP32 baseline on the metric the scenario is about; `ratio` > 1 favours the pick."""

    metric: str
    pick: float | None
    baseline: float | None
    ratio: float | None
    quality_delta_pt: float | None

    def as_json(self) -> Json:
        return {
            "metric": self.metric,
            "pick": self.pick,
            "baseline": self.baseline,
            "ratio": _round(self.ratio, 3),
            "quality_delta_pt": _round(self.quality_delta_pt, 2),
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def latency_quantile(constraints: Mapping[str, Any]) -> str:
    """The percentile a single-stream scenario is about: the one it constrains, else p95 (MLPerf reports p90/p95)."""
    return next((q for q in QUANTILES if constraints.get(f"{q}_latency_ms") is not None), "p95")


def comparison_metric(pattern: str | None, objective: str | None, constraints: Mapping[str, Any]) -> tuple[str, bool]:
    """(evidence metric key, whether higher is better) for the scenario's objective, else its load pattern."""
    if objective == "minimize_size":
        return "size_mb", False
    if objective == "maximize_quality":
        return "macro_f1", True
    if pattern == "server":
        return "throughput_rps", True
    if pattern == "single-stream":
        return f"{latency_quantile(constraints)}_ms", False
    return "throughput_rps", True


def _ratio(pick: float | None, baseline: float | None, higher_is_better: bool) -> float | None:
    if pick is None or baseline is None:
        return None
    numerator, denominator = (pick, baseline) if higher_is_better else (baseline, pick)
    return None if denominator == 0 else numerator / denominator


def candidate_metrics(evidence: Mapping[str, Any], variant: str | None) -> Mapping[str, Any] | None:
    for candidate in evidence.get("candidates", []):
        if candidate.get("variant") == variant:
            return candidate.get("metrics", {})
    return None


def compare_with_baseline(scenario: Mapping[str, Any]) -> Comparison | None:
    """None when the evidence names no baseline or lacks the baseline's or the pick's metrics."""
    evidence = scenario.get("evidence", {})
    constraints = scenario.get("constraints", {})
    pick = evidence.get("metrics") or candidate_metrics(evidence, scenario.get("variant"))
    baseline = candidate_metrics(evidence, evidence.get("baseline"))
    if not pick or baseline is None:
        return None
    key, higher = comparison_metric(constraints.get("load_pattern"), scenario.get("objective"), constraints)
    metric = "max_rate_rps" if key == "throughput_rps" and constraints.get("load_pattern") == "server" else key
    ratio = None if key == "macro_f1" else _ratio(pick.get(key), baseline.get(key), higher)
    f1, base_f1 = pick.get("macro_f1"), baseline.get("macro_f1")
    delta = None if f1 is None or base_f1 is None else (f1 - base_f1) * 100
    return Comparison(metric, pick.get(key), baseline.get(key), ratio, delta)
