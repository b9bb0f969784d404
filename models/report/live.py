"""Live metrics (from `models.live`) beside the predictions of the selection, flagged where they disagree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.report.format import fmt_ms, fmt_plain
from models.report.schema import QUANTILES, Json

DEFAULT_TOLERANCE = 0.15  # relative difference between observed and predicted latency that gets flagged


def has_traffic(observed: Mapping[str, Any] | None) -> bool:
    rate = None if observed is None else observed.get("rate_rps")
    return rate is not None and rate > 0


def _predicted(scenario: Mapping[str, Any]) -> Mapping[str, Any]:
    return scenario.get("evidence", {}).get("metrics", {})


def live_flags(scenario: Mapping[str, Any], observed: Mapping[str, Any], tolerance: float) -> list[str]:
    """`SLO breach` (a latency over its constraint, or any error) and `off by N%` (latency vs prediction)."""
    constraints = scenario.get("constraints", {})
    predicted = _predicted(scenario)
    flags: list[str] = []
    for q in QUANTILES:
        value, limit, expected = observed.get(f"{q}_ms"), constraints.get(f"{q}_latency_ms"), predicted.get(f"{q}_ms")
        if value is not None and limit is not None and value > limit:
            flags.append(f"SLO breach: {q} {fmt_ms(value)} ms > {fmt_plain(limit)} ms")
        if value is not None and expected and abs(value - expected) / expected > tolerance:
            pct = abs(value - expected) / expected * 100
            flags.append(f"off by {pct:.0f}%: {q} {fmt_ms(value)} ms vs predicted {fmt_ms(expected)} ms")
    errors = observed.get("error_ratio")
    if errors is not None and errors > 0:
        flags.append(f"SLO breach: error ratio {errors:.1%}")
    others = [v for v in observed.get("variants", []) if v != scenario.get("variant")]
    flags.extend(f"served by {v} (not the pick)" for v in others)
    return flags


def live_entry(scenario: Mapping[str, Any], observed: Mapping[str, Any] | None, tolerance: float) -> Json:
    """Observed rate, latency and errors beside the predictions; `traffic` False when nothing was served."""
    constraints = scenario.get("constraints", {})
    predicted = _predicted(scenario)
    traffic = has_traffic(observed)
    seen = observed or {}
    return {
        "traffic": traffic,
        "variants": list(seen.get("variants", [])),
        "rate_rps": {"observed": seen.get("rate_rps") if traffic else None, "predicted": constraints.get("target_rps")},
        **{
            f"{q}_ms": {
                "observed": seen.get(f"{q}_ms") if traffic else None,
                "predicted": predicted.get(f"{q}_ms"),
                "limit": constraints.get(f"{q}_latency_ms"),
            }
            for q in QUANTILES
        },
        "error_ratio": {"observed": seen.get("error_ratio") if traffic else None, "predicted": 0.0},
        "flags": live_flags(scenario, seen, tolerance) if traffic else [],
    }


def live_header(live: Mapping[str, Any], tolerance: float) -> Json:
    return {
        "prometheus": live.get("prometheus"),
        "window": live.get("window"),
        "queried_at": live.get("queried_at"),
        "tolerance": tolerance,
    }
