"""A scenario's load and constraints, and its candidates with the constraints each one failed, as text."""

from __future__ import annotations

from typing import Any

from models.report.comparison import metric_of
from models.report.format import fmt_plain
from service.contracts import CandidateEvidence, ConstraintFailure
from service.contracts.constraints import Limits, RouteLoad
from service.contracts.report import CandidateRow


def constraint_text(name: str, value: Any) -> str:
    if name.startswith("min_"):
        return f"{name} ≥ {fmt_plain(value)}"
    if name.startswith("max_") or name.endswith("_latency_ms"):
        return f"{name} ≤ {fmt_plain(value)}"
    return f"{name} = {fmt_plain(value)}"


def constraint_texts(constraints: Limits) -> list[str]:
    """The limits a variant must meet (the load pattern, its rate and the thread count describe the load)."""
    return [constraint_text(name, value) for name, value in constraints.active().items()]


def load_text(load: RouteLoad) -> str:
    parts: list[str] = [load.load_pattern or "unspecified"]
    if load.target_rps is not None:
        parts.append(f"at {fmt_plain(load.target_rps)} rps")
    if load.threads is not None:
        parts.append(f"{fmt_plain(load.threads)} thread(s)")
    return ", ".join(parts)


def failure_text(failure: ConstraintFailure) -> str:
    """`p95_latency_ms 12.6 > 10 (by 2.6, 26.0%)`; minimums read `<`; a missing measurement says so."""
    name = failure.constraint
    if failure.value is None:
        return f"{constraint_text(name, failure.limit)}: not measured"
    operator = "<" if name.startswith("min_") else ">"
    by = f"by {fmt_plain(failure.excess)}, {failure.excess_pct:.1f}%"
    return f"{name} {fmt_plain(failure.value)} {operator} {fmt_plain(failure.limit)} ({by})"


def candidate_row(candidate: CandidateEvidence) -> CandidateRow:
    metrics = candidate.metrics
    return CandidateRow(
        variant=candidate.variant,
        rank=candidate.rank,
        feasible=candidate.feasible,
        macro_f1=metric_of(metrics, "macro_f1"),
        quality_drop=metric_of(metrics, "quality_drop"),
        latency_ms=metric_of(metrics, "latency_ms"),
        latency_spread_ms=None if metrics is None else metrics.p99_spread_ms,
        latency_pooled_ms=None if metrics is None else metrics.p99_pooled_ms,
        throughput_rps=metric_of(metrics, "throughput_rps"),
        size_mb=metric_of(metrics, "size_mb"),
        memory_mb=metric_of(metrics, "memory_mb"),
        failures=[failure_text(f) for f in candidate.failures],
    )
