"""The measured variants of a task: one row per (variant, thread count), and the Pareto front among them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from service.contracts.report import RejectedRow, ServerRate, VariantRow


def measured_runs(task: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], str, Mapping[str, Any]]]:
    """(variant name, variant, thread count, run) for every run of a task, in file order, by thread count."""
    for name, variant in task.get("variants", {}).items():
        for threads, run in sorted(variant.get("runs", {}).items(), key=_thread_count):
            yield name, variant, threads, run


def _thread_count(item: tuple[str, Any]) -> int:
    return int(item[0]) if str(item[0]).isdigit() else 0


def best_macro_f1(task: Mapping[str, Any]) -> float | None:
    scores = [v.get("quality", {}).get("macro_f1") for v in task.get("variants", {}).values()]
    known = [score for score in scores if score is not None]
    return max(known) if known else None


def server_rates(run: Mapping[str, Any]) -> list[ServerRate]:
    keys = ("p99_bound_ms", "target_rps", "max_rate_rps")
    return [ServerRate(**{key: entry.get(key) for key in keys}) for entry in run.get("server", [])]


def variant_row(name: str, variant: Mapping[str, Any], run: Mapping[str, Any], best: float | None) -> VariantRow:
    """One measured (variant, thread count): quality, size, memory, latency, server and offline rates."""
    quality = variant.get("quality", {})
    single = run.get("single_stream", {})
    offline = run.get("offline", {})
    macro_f1 = quality.get("macro_f1")
    drop = None if best is None or macro_f1 is None else round((best - macro_f1) * 100, 2)
    return VariantRow(
        variant=name,
        threads=run.get("threads"),
        runtime=variant.get("runtime"),
        precision=variant.get("precision"),
        macro_f1=macro_f1,
        accuracy=quality.get("accuracy"),
        quality_drop_pt=drop,
        size_mb=variant.get("size_mb"),
        peak_memory_mb=run.get("memory", {}).get("peak_rss_mb"),
        p50_ms=single.get("p50_ms"),
        p95_ms=single.get("p95_ms"),
        p99_ms=single.get("p99_ms"),
        server=server_rates(run),
        offline_rps=offline.get("throughput_rps"),
        offline_batch_size=offline.get("best_batch_size"),
        pareto=False,
    )


def variant_rows(task: Mapping[str, Any]) -> list[VariantRow]:
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


def rejected_rows(task: Mapping[str, Any]) -> list[RejectedRow]:
    return [RejectedRow(variant=name, reason=reason) for name, reason in task.get("rejected", {}).items()]
