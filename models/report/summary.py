"""One sentence per scenario: what the pick does against the FP32 baseline, with the quality delta in points."""

from __future__ import annotations

from models.report.comparison import Comparison
from models.report.format import fmt_f1, fmt_mb, fmt_ms, fmt_plain, fmt_points, fmt_rate, fmt_ratio
from models.report.schema import QUANTILES
from service.contracts.constraints import Limits
from service.routing import ScenarioSelection

BASELINE = "the FP32 baseline"


def _times(ratio: float, better: str, worse: str) -> str:
    return f"{fmt_ratio(ratio)} {better}" if ratio >= 1 else f"{fmt_ratio(1 / ratio)} {worse}"


def _claim(c: Comparison, constraints: Limits) -> str:
    """What the pick does against the baseline, without the quality clause."""
    bound = constraints.p99_latency_ms
    within = f" within p99 ≤ {fmt_plain(bound)} ms" if bound is not None else ""
    if c.pick is None:
        return f"has no measured {c.metric}"
    if c.metric == "max_rate_rps":
        if c.baseline is None:
            return f"serves {fmt_rate(c.pick)} rps{within}; {BASELINE} has no server measurement to compare"
        if c.ratio is None:
            return f"serves {fmt_rate(c.pick)} rps{within}, a bound {BASELINE} meets at no tested rate"
        rates = f"({fmt_rate(c.pick)} vs {fmt_rate(c.baseline)} rps)"
        return f"serves {fmt_ratio(c.ratio)} the rate of {BASELINE}{within} {rates}"
    if c.metric in {f"{q}_ms" for q in QUANTILES}:
        quantile = c.metric.removesuffix("_ms")
        if c.ratio is None:
            return f"answers with {quantile} {fmt_ms(c.pick)} ms"
        change = _times(c.ratio, "lower", "higher")
        return f"answers with {change} {quantile} latency than {BASELINE} ({fmt_ms(c.pick)} vs {fmt_ms(c.baseline)} ms)"
    if c.metric == "size_mb":
        if c.ratio is None:
            return f"takes {fmt_mb(c.pick)} MB"
        change = _times(c.ratio, "smaller", "larger")
        return f"is {change} than {BASELINE} ({fmt_mb(c.pick)} vs {fmt_mb(c.baseline)} MB)"
    if c.ratio is None:
        return f"processes {fmt_rate(c.pick)} items/s offline"
    rates = f"({fmt_rate(c.pick)} vs {fmt_rate(c.baseline)} items/s)"
    return f"processes {fmt_ratio(c.ratio)} the offline throughput of {BASELINE} {rates}"


def summary_sentence(name: str, route: ScenarioSelection, comparison: Comparison | None) -> str:
    """One sentence per scenario: the pick against the FP32 baseline, always with the quality delta in points."""
    evidence = route.select_evidence()
    variant = route.variant
    if evidence is not None and not evidence.feasible:
        return f"for `{name}`, no variant fits: {evidence.message or 'no message recorded'}"
    baseline = evidence.baseline if evidence is not None else None
    if comparison is None:
        reason = f"{BASELINE} `{baseline}` has no measurements to compare" if baseline else "no baseline recorded"
        return f"for `{name}`, `{variant}` is the pick ({reason})"
    if variant == baseline:
        return f"for `{name}`, {BASELINE} `{variant}` itself is the pick (±0.0 pt macro-F1)"
    if comparison.metric == "macro_f1":
        return (
            f"for `{name}`, `{variant}` reaches macro-F1 {fmt_f1(comparison.pick)}, "
            f"{fmt_points(comparison.quality_delta_pt)} vs {BASELINE} ({fmt_f1(comparison.baseline)})"
        )
    claim = _claim(comparison, route.constraints)
    return f"for `{name}`, `{variant}` {claim} at {fmt_points(comparison.quality_delta_pt)} macro-F1"
