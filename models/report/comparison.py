"""The pick against the FP32 baseline, on the metric the scenario is about."""

from __future__ import annotations

from dataclasses import dataclass

from models.report.format import round_or_none
from models.report.schema import QUANTILES
from service.contracts import ScenarioMetrics
from service.contracts.constraints import Limits
from service.contracts.report import ComparisonRow
from service.routing import ScenarioSelection


@dataclass(frozen=True)
class Comparison:
    """The pick against the FP32 baseline on the metric the scenario is about; `ratio` > 1 favours the pick."""

    metric: str
    pick: float | None
    baseline: float | None
    ratio: float | None
    quality_delta_pt: float | None

    def as_row(self) -> ComparisonRow:
        return ComparisonRow(
            metric=self.metric,
            pick=self.pick,
            baseline=self.baseline,
            ratio=round_or_none(self.ratio, 3),
            quality_delta_pt=round_or_none(self.quality_delta_pt, 2),
        )


def latency_quantile(constraints: Limits) -> str:
    """The percentile a single-stream scenario is about: the one it constrains, else p95 (MLPerf reports p90/p95)."""
    return next((q for q in QUANTILES if constraints.latency_limit(q) is not None), "p95")


def comparison_metric(pattern: str | None, objective: str | None, constraints: Limits) -> tuple[str, bool]:
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


def metric_of(metrics: ScenarioMetrics | None, key: str) -> float | None:
    """A metric of a candidate; None when the candidate was not measured."""
    return None if metrics is None else getattr(metrics, key)


def compare_with_baseline(route: ScenarioSelection) -> Comparison | None:
    """None without select's evidence, or when it lacks the pick's metrics or the baseline among its candidates."""
    evidence = route.select_evidence()
    if evidence is None:
        return None
    picked = evidence.candidate(route.variant)
    pick = evidence.metrics or (picked.metrics if picked else None)
    baseline_candidate = evidence.candidate(evidence.baseline)
    if pick is None or baseline_candidate is None:
        return None
    baseline = baseline_candidate.metrics
    constraints = route.constraints
    key, higher = comparison_metric(constraints.load_pattern, route.objective, constraints)
    metric = "max_rate_rps" if key == "throughput_rps" and constraints.load_pattern == "server" else key
    ratio = None if key == "macro_f1" else _ratio(metric_of(pick, key), metric_of(baseline, key), higher)
    base_f1 = metric_of(baseline, "macro_f1")
    delta = None if base_f1 is None else (pick.macro_f1 - base_f1) * 100
    return Comparison(metric, metric_of(pick, key), metric_of(baseline, key), ratio, delta)
