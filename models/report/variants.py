"""The measured variants of a task: one row per (variant, thread count), and the Pareto front among them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from models.report.format import round_or_none
from service.contracts import Run, TaskMeasurements, VariantMeasurements
from service.contracts.report import RejectedRow, ServerRate, VariantRow


def measured_runs(task: TaskMeasurements | None) -> Iterator[tuple[str, VariantMeasurements, int, Run]]:
    """(variant name, variant, thread count, run) for every run of a task, in file order, by thread count."""
    for name, variant in ({} if task is None else task.variants).items():
        for threads, run in sorted(variant.runs.items()):
            yield name, variant, threads, run


def best_macro_f1(task: TaskMeasurements | None) -> float | None:
    scores = [] if task is None else [v.quality.macro_f1 for v in task.variants.values()]
    return max(scores, default=None)


def server_rates(run: Run) -> list[ServerRate]:
    return [
        ServerRate(p99_bound_ms=entry.p99_bound_ms, target_rps=entry.target_rps, max_rate_rps=entry.max_rate_rps)
        for entry in run.server
    ]


def variant_row(name: str, variant: VariantMeasurements, run: Run, best: float | None) -> VariantRow:
    """One measured (variant, thread count): quality, size, memory, latency, server and offline rates."""
    quality, single, offline = variant.quality, run.single_stream, run.offline
    return VariantRow(
        variant=name,
        threads=run.threads,
        runtime=variant.runtime.value,
        precision=variant.precision.value,
        macro_f1=quality.macro_f1,
        accuracy=quality.accuracy,
        quality_drop_pt=None if best is None else round((best - quality.macro_f1) * 100, 2),
        size_mb=variant.size_mb,
        peak_memory_mb=run.memory.peak_rss_mb,
        p50_ms=single.p50_ms,
        p95_ms=single.p95_ms,
        p99_ms=single.p99_ms,
        served_overhead_ms=None if run.server_share is None else round(run.server_share.overhead_ms, 2),
        http_excess_ms=round_or_none(run.in_process.http_excess_ms(single), 2),
        server=server_rates(run),
        offline_rps=offline.throughput_rps,
        offline_batch_size=offline.best_batch_size,
        pareto=False,
    )


def variant_rows(task: TaskMeasurements | None) -> list[VariantRow]:
    """Every measured (variant, thread count) of a task, in file order, with `pareto` set on the front."""
    best = best_macro_f1(task)
    rows = [variant_row(name, variant, run, best) for name, variant, _, run in measured_runs(task)]
    front = set(pareto_front([(r.p99_ms, r.macro_f1) for r in rows]))
    return [row.model_copy(update={"pareto": True}) if index in front else row for index, row in enumerate(rows)]


def pareto_front(points: Sequence[tuple[float | None, float | None]]) -> list[int]:
    """Indices of the points no other point beats on both lower x (latency) and higher y (quality), by x."""
    valid = [(x, y, i) for i, (x, y) in enumerate(points) if x is not None and y is not None]
    front: list[int] = []
    best_y = float("-inf")
    for _, y, index in sorted(valid, key=lambda p: (p[0], -p[1], p[2])):
        if y > best_y:
            front.append(index)
            best_y = y
    return front


def rejected_rows(task: TaskMeasurements | None) -> list[RejectedRow]:
    rejected = {} if task is None else task.rejected
    return [RejectedRow(variant=name, reason=reason) for name, reason in rejected.items()]
