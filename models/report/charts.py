"""A task's three SVG figures: macro-F1 vs p99 latency (Pareto front, picks), latency CDFs, throughput vs batch size.

The quality/latency chart draws the report data's variant rows; the other two draw the raw measurements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from models.plots import Mark, Point, Series, line_chart, scatter_chart
from models.report.variants import measured_runs
from service.contracts.report import TaskReport, VariantRow

Curve = tuple[tuple[float, float], ...]


def point_label(task: str, variant: str, threads: Any, several_threads: bool) -> str:
    short = variant.removeprefix(f"{task}-")
    return f"{short} @{threads}t" if several_threads else short


def several(threads: Iterable[Any]) -> bool:
    return len(set(threads)) > 1


def plotted_rows(task: TaskReport) -> list[VariantRow]:
    """The variant rows with both a p99 latency and a macro-F1: the points of the quality/latency chart."""
    return [r for r in task.variants if r.p99_ms is not None and r.macro_f1 is not None]


def _pick_row(rows: Sequence[VariantRow], variant: str, threads: int | None) -> int | None:
    """The row of the variant at the scenario's thread count, else its first row."""
    matches = [i for i, r in enumerate(rows) if r.variant == variant]
    exact = [i for i in matches if threads is not None and rows[i].threads == threads]
    return (exact or matches or [None])[0]


def pick_marks(task: TaskReport) -> list[Mark]:
    """Each scenario's pick on the quality/latency plane; scenarios picking the same point share one caption."""
    rows = plotted_rows(task)
    captions: dict[int, list[str]] = {}
    for name, scenario in task.scenarios.items():
        index = _pick_row(rows, scenario.variant, scenario.threads)
        if index is not None:
            label = name if scenario.feasible is not False else f"{name} (infeasible)"
            captions.setdefault(index, []).append(label)
    return [Mark(rows[i].p99_ms, rows[i].macro_f1, ", ".join(names)) for i, names in sorted(captions.items())]


def quality_latency_chart(name: str, task: TaskReport) -> str:
    rows = plotted_rows(task)
    labelled = several(r.threads for r in rows)
    points = [Point(r.p99_ms, r.macro_f1, point_label(name, r.variant, r.threads, labelled)) for r in rows]
    front = sorted((r.p99_ms, r.macro_f1) for r in rows if r.pareto)
    return scatter_chart(
        points,
        title=f"{name}: macro-F1 vs single-stream p99 latency (Pareto front, scenario picks)",
        x_label="single-stream p99 latency (ms, log scale)",
        y_label="macro-F1",
        front=front,
        marks=pick_marks(task),
        log_x=True,
    )


def _series(name: str, measured: Mapping[str, Any], points_of: Callable[[Mapping[str, Any]], Curve]) -> list[Series]:
    runs = list(measured_runs(measured))
    labelled = several(threads for _, _, threads, _ in runs)
    return [Series(point_label(name, v, t, labelled), points_of(run)) for v, _, t, run in runs]


def cdf_points(run: Mapping[str, Any]) -> Curve:
    cdf = run.get("single_stream", {}).get("cdf_ms") or []
    if len(cdf) < 2:
        return ()
    return tuple((value, i / (len(cdf) - 1)) for i, value in enumerate(cdf) if value > 0)


def throughput_points(run: Mapping[str, Any]) -> Curve:
    by_batch = run.get("offline", {}).get("by_batch_size", {})
    return tuple(sorted((float(bs), float(r["throughput_rps"])) for bs, r in by_batch.items()))


def latency_cdf_chart(name: str, measured: Mapping[str, Any]) -> str:
    return line_chart(
        _series(name, measured, cdf_points),
        title=f"{name}: single-stream latency CDF",
        x_label="latency (ms, log scale)",
        y_label="fraction of requests",
        log_x=True,
        y_range=(0.0, 1.0),
        markers=False,
    )


def throughput_chart(name: str, measured: Mapping[str, Any]) -> str:
    series = _series(name, measured, throughput_points)
    sizes = sorted({x for s in series for x, _ in s.points})
    return line_chart(
        series,
        title=f"{name}: offline throughput vs batch size",
        x_label="batch size (log scale)",
        y_label="throughput (items/s)",
        log_x=True,
        x_ticks=sizes or None,
    )


def task_charts(name: str, task: TaskReport, measured: Mapping[str, Any]) -> list[str]:
    return [quality_latency_chart(name, task), latency_cdf_chart(name, measured), throughput_chart(name, measured)]
