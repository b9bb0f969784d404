"""Live metrics (from `models.live`) beside the predictions of the selection, flagged where they disagree.

Beside the latencies, the pick's inference-thread time per item, live and while `measure` ran: when a latency is
off and the runtime moved as much, the machine runs faster or slower than when it was measured (re-measure on it),
rather than the served path having changed."""

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


def runtime_flag(runtime: Observed, tolerance: float) -> str | None:
    """`runtime +N% vs measure: ...` when the pick's inference thread is more than `tolerance` off its record."""
    now, then = runtime.observed, runtime.predicted
    if now is None or not then or abs(now - then) / then <= tolerance:
        return None
    speed = "slower" if now > then else "faster"
    return (
        f"runtime {(now - then) / then * 100:+.0f}% vs measure: {fmt_ms(now)} vs {fmt_ms(then)} ms per item "
        f"(the machine runs {speed} than when measured)"
    )


def has_traffic(observed: ObservedScenario | None) -> bool:
    rate = None if observed is None else observed.rate_rps
    return rate is not None and rate > 0


def _predicted(route: ScenarioSelection) -> ScenarioMetrics | None:
    evidence = route.select_evidence()
    return None if evidence is None else evidence.metrics


def _predicted_ms(predicted: ScenarioMetrics | None, quantile: str) -> float | None:
    return None if predicted is None else getattr(predicted, f"{quantile}_ms")


def live_flags(
    route: ScenarioSelection, observed: ObservedScenario, tolerance: float, runtime: Observed | None = None
) -> list[str]:
    """`SLO breach` (a latency over its constraint, or any error), `off by N%` (latency vs prediction) and
    `runtime +N% vs measure` (the pick's inference thread vs its record)."""
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
    if runtime is not None and (moved := runtime_flag(runtime, tolerance)) is not None:
        flags.append(moved)
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
    runtime = Observed(
        observed=seen.runtime_ms_per_item if traffic else None,
        predicted=None if predicted is None else predicted.runtime_ms_per_item,
    )
    return LiveEntry(
        traffic=traffic,
        variants=list(seen.variants),
        rate_rps=Observed(observed=seen.rate_rps if traffic else None, predicted=constraints.target_rps),
        **latencies,
        error_ratio=Observed(observed=seen.error_ratio if traffic else None, predicted=0.0),
        runtime_ms_per_item=runtime,
        flags=live_flags(route, seen, tolerance, runtime) if traffic else [],
    )


def live_header(live: LiveObservations, tolerance: float) -> LiveHeader:
    return LiveHeader(prometheus=live.prometheus, window=live.window, queried_at=live.queried_at, tolerance=tolerance)
