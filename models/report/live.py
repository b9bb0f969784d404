"""Live metrics (from `models.live`) beside the predictions of the selection, flagged where they disagree."""

from __future__ import annotations

from models.report.format import fmt_ms, fmt_plain
from models.report.schema import QUANTILES
from service.contracts import ScenarioMetrics
from service.contracts.report import (
    LiveEntry,
    LiveHeader,
    LiveObservations,
    Observed,
    ObservedLatency,
    ObservedScenario,
)
from service.routing import ScenarioSelection

DEFAULT_TOLERANCE = 0.15  # relative difference between observed and predicted latency that gets flagged
NOTHING_OBSERVED = ObservedScenario(rate_rps=None, p50_ms=None, p95_ms=None, p99_ms=None, error_ratio=None, variants=[])


def has_traffic(observed: ObservedScenario | None) -> bool:
    rate = None if observed is None else observed.rate_rps
    return rate is not None and rate > 0


def _predicted(route: ScenarioSelection) -> ScenarioMetrics | None:
    evidence = route.select_evidence()
    return None if evidence is None else evidence.metrics


def _predicted_ms(predicted: ScenarioMetrics | None, quantile: str) -> float | None:
    return None if predicted is None else getattr(predicted, f"{quantile}_ms")


def live_flags(route: ScenarioSelection, observed: ObservedScenario, tolerance: float) -> list[str]:
    """`SLO breach` (a latency over its constraint, or any error) and `off by N%` (latency vs prediction)."""
    predicted = _predicted(route)
    flags: list[str] = []
    for q in QUANTILES:
        value, limit = getattr(observed, f"{q}_ms"), route.constraints.latency_limit(q)
        expected = _predicted_ms(predicted, q)
        if value is not None and limit is not None and value > limit:
            flags.append(f"SLO breach: {q} {fmt_ms(value)} ms > {fmt_plain(limit)} ms")
        if value is not None and expected and abs(value - expected) / expected > tolerance:
            pct = abs(value - expected) / expected * 100
            flags.append(f"off by {pct:.0f}%: {q} {fmt_ms(value)} ms vs predicted {fmt_ms(expected)} ms")
    if observed.error_ratio is not None and observed.error_ratio > 0:
        flags.append(f"SLO breach: error ratio {observed.error_ratio:.1%}")
    others = [v for v in observed.variants if v != route.variant]
    flags.extend(f"served by {v} (not the pick)" for v in others)
    return flags


def live_entry(route: ScenarioSelection, observed: ObservedScenario | None, tolerance: float) -> LiveEntry:
    """Observed rate, latency and errors beside the predictions; `traffic` False when nothing was served."""
    constraints = route.constraints
    predicted = _predicted(route)
    traffic = has_traffic(observed)
    seen = observed or NOTHING_OBSERVED
    latencies = {
        f"{q}_ms": ObservedLatency(
            observed=getattr(seen, f"{q}_ms") if traffic else None,
            predicted=_predicted_ms(predicted, q),
            limit=constraints.latency_limit(q),
        )
        for q in QUANTILES
    }
    return LiveEntry(
        traffic=traffic,
        variants=list(seen.variants),
        rate_rps=Observed(observed=seen.rate_rps if traffic else None, predicted=constraints.target_rps),
        **latencies,
        error_ratio=Observed(observed=seen.error_ratio if traffic else None, predicted=0.0),
        flags=live_flags(route, seen, tolerance) if traffic else [],
    )


def live_header(live: LiveObservations, tolerance: float) -> LiveHeader:
    return LiveHeader(prometheus=live.prometheus, window=live.window, queried_at=live.queried_at, tolerance=tolerance)
