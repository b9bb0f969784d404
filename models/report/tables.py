"""The report's tables, shared by the Markdown and HTML renderers: their columns and the text of each cell."""

from __future__ import annotations

from collections.abc import Iterable

from models.report.format import DASH, fmt_f1, fmt_mb, fmt_ms, fmt_num, fmt_p99_spread, fmt_plain, fmt_rate
from service.contracts.report import (
    CandidateRow,
    LiveEntry,
    Observed,
    ScenarioCapacity,
    ServerRate,
    VariantRow,
)

NO_TRAFFIC = "no traffic"
VARIANT_COLUMNS = (
    "variant",
    "threads",
    "runtime",
    "macro-F1",
    "accuracy",
    "drop (pt)",
    "size MB",
    "peak mem MB",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "served overhead ms",
    "p50 over in-process ms",
    "server max rate (rps)",
    "offline best (items/s)",
)
CANDIDATE_COLUMNS = (
    "rank",
    "variant",
    "feasible",
    "macro-F1",
    "drop (pt)",
    "latency ms",
    "throughput rps",
    "size MB",
    "memory MB",
    "failed constraints",
)
LIVE_COLUMNS = (
    "scenario",
    "variants seen",
    "rate rps",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "error ratio",
    "runtime ms/item",
    "flags",
)
CAPACITY_COLUMNS = (
    "task",
    "scenario",
    "pick",
    "per replica (rps)",
    "usable (rps)",
    "target rps → replicas",
    "peak rps → replicas",
    "note",
)


def server_cell(rates: Iterable[ServerRate]) -> str:
    cells = [f"{fmt_rate(r.max_rate_rps)} (p99 ≤ {fmt_plain(r.p99_bound_ms)} ms)" for r in rates]
    return "; ".join(cells) or DASH


def variant_cells(row: VariantRow) -> list[str]:
    offline = DASH if row.offline_rps is None else f"{fmt_rate(row.offline_rps)} (batch {row.offline_batch_size})"
    name = row.variant + (" ★" if row.pareto else "")
    return [
        name,
        fmt_plain(row.threads),
        f"{row.runtime} {row.precision}",
        fmt_f1(row.macro_f1),
        fmt_f1(row.accuracy),
        fmt_num(row.quality_drop_pt, 2),
        fmt_mb(row.size_mb),
        fmt_mb(row.peak_memory_mb),
        fmt_ms(row.p50_ms),
        fmt_ms(row.p95_ms),
        fmt_ms(row.p99_ms),
        fmt_num(row.served_overhead_ms, 2),
        fmt_num(row.http_excess_ms, 2),
        server_cell(row.server),
        offline,
    ]


def latency_cell(row: CandidateRow) -> str:
    """A candidate's headline latency; a server scenario's with its repeats' spread and pooled p99."""
    return fmt_p99_spread(row.latency_ms, row.latency_spread_ms, row.latency_pooled_ms)


def candidate_cells(row: CandidateRow) -> list[str]:
    return [
        fmt_plain(row.rank) if row.rank is not None else DASH,
        row.variant,
        "yes" if row.feasible else "no",
        fmt_f1(row.macro_f1),
        fmt_num(row.quality_drop, 2),
        latency_cell(row),
        fmt_rate(row.throughput_rps),
        fmt_mb(row.size_mb),
        fmt_mb(row.memory_mb),
        "; ".join(row.failures) or DASH,
    ]


def _observed(cell: Observed, recorded: str = "pred") -> str:
    """`4.4 (pred 3.0)`: the live value in ms, and the recorded one when there is one."""
    observed = "n/a" if cell.observed is None else fmt_ms(cell.observed)
    return observed if cell.predicted is None else f"{observed} ({recorded} {fmt_ms(cell.predicted)})"


def live_cells(name: str, entry: LiveEntry) -> list[str]:
    variants = ", ".join(entry.variants) or DASH
    if not entry.traffic:
        return [name, variants, NO_TRAFFIC, DASH, DASH, DASH, DASH, DASH, NO_TRAFFIC]
    rate = entry.rate_rps
    rate_text = fmt_rate(rate.observed) + (f" (target {fmt_plain(rate.predicted)})" if rate.predicted else "")
    errors = entry.error_ratio.observed
    latencies = (entry.p50_ms, entry.p95_ms, entry.p99_ms)
    return [
        name,
        variants,
        rate_text,
        *(_observed(cell) for cell in latencies),
        "n/a" if errors is None else f"{errors:.1%}",
        _observed(entry.runtime_ms_per_item, "at measure"),
        "; ".join(entry.flags) or "ok",
    ]


def _replicas(rate: float | None, replicas: int | None) -> str:
    return DASH if rate is None or replicas is None else f"{fmt_plain(rate)} → {replicas}"


def capacity_cells(row: ScenarioCapacity, peak_rps: float | None) -> list[str]:
    measured = DASH
    if row.per_replica_rps is not None:
        threads = "" if row.threads is None else f", {row.threads} thread(s)"
        measured = f"{fmt_rate(row.per_replica_rps)} (p99 ≤ {fmt_plain(row.p99_bound_ms)} ms{threads})"
    return [
        row.task,
        row.scenario,
        row.variant,
        measured,
        fmt_rate(row.usable_rps),
        _replicas(row.target_rps, row.target_replicas),
        _replicas(peak_rps, row.peak_replicas),
        row.note or DASH,
    ]
