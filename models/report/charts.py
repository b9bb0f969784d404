"""A task's three SVG figures: macro-F1 vs p99 latency (Pareto front, picks), latency CDFs, throughput vs batch size.

The quality/latency chart draws the report data's variant rows; the other two draw the raw measurements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from models.plots import Mark, Point, Series, line_chart, scatter_chart
from models.report.variants import measured_runs
from service.contracts import Run, TaskMeasurements
from service.contracts.report import TaskReport, VariantRow

Curve = tuple[tuple[float, float], ...]


def point_label(task: str, variant: str, threads: Any, several_threads: bool) -> str:
    short = variant.removeprefix(f"{task}-")
    return f"{short} @{threads}t" if several_threads else short


def several(threads: Iterable[Any]) -> bool:
    return len(set(threads)) > 1


def plotted_rows(task: TaskReport) -> list[tuple[VariantRow, float, float]]:
    """The variant rows with both a p99 latency and a macro-F1, with those two: the quality/latency chart's points."""
    return [(r, r.p99_ms, r.macro_f1) for r in task.variants if r.p99_ms is not None and r.macro_f1 is not None]


def _pick_row(rows: Sequence[VariantRow], variant: str, threads: int | None) -> int | None:
    """The row of the variant at the scenario's thread count, else its first row."""
    matches = [i for i, r in enumerate(rows) if r.variant == variant]
    exact = [i for i in matches if threads is not None and rows[i].threads == threads]
    return next(iter(exact or matches), None)


def pick_marks(task: TaskReport) -> list[Mark]:
    """Each scenario's pick on the quality/latency plane; scenarios picking the same point share one caption."""
    plotted = plotted_rows(task)
    rows = [row for row, _, _ in plotted]
    captions: dict[int, list[str]] = {}
    for name, scenario in task.scenarios.items():
        index = _pick_row(rows, scenario.variant, scenario.threads)
        if index is not None:
            label = name if scenario.feasible is not False else f"{name} (infeasible)"
            captions.setdefault(index, []).append(label)
    return [Mark(plotted[i][1], plotted[i][2], ", ".join(names)) for i, names in sorted(captions.items())]


def quality_latency_chart(name: str, task: TaskReport) -> str:
    plotted = plotted_rows(task)
    labelled = several(r.threads for r, _, _ in plotted)
    points = [Point(x, y, point_label(name, r.variant, r.threads, labelled)) for r, x, y in plotted]
    front = sorted((x, y) for r, x, y in plotted if r.pareto)
    return scatter_chart(
        points,
        title=f"{name}: macro-F1 vs single-stream p99 latency (Pareto front, scenario picks)",
        x_label="single-stream p99 latency (ms, log scale)",
        y_label="macro-F1",
        front=front,
        marks=pick_marks(task),
        log_x=True,
    )


def _series(name: str, measured: TaskMeasurements | None, points_of: Callable[[Run], Curve]) -> list[Series]:
    runs = list(measured_runs(measured))
    labelled = several(threads for _, _, threads, _ in runs)
    return [Series(point_label(name, v, t, labelled), points_of(run)) for v, _, t, run in runs]


def cdf_points(run: Run) -> Curve:
    cdf = run.single_stream.cdf_ms
    if len(cdf) < 2:
        return ()
    return tuple((value, i / (len(cdf) - 1)) for i, value in enumerate(cdf) if value > 0)


def throughput_points(run: Run) -> Curve:
    by_batch = run.offline.by_batch_size
    return tuple(sorted((float(size), float(batch.throughput_rps)) for size, batch in by_batch.items()))


def latency_cdf_chart(name: str, measured: TaskMeasurements | None) -> str:
    return line_chart(
        _series(name, measured, cdf_points),
        title=f"{name}: single-stream latency CDF",
        x_label="latency (ms, log scale)",
        y_label="fraction of requests",
        log_x=True,
        y_range=(0.0, 1.0),
        markers=False,
    )


def throughput_chart(name: str, measured: TaskMeasurements | None) -> str:
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


def task_charts(name: str, task: TaskReport, measured: TaskMeasurements | None) -> list[str]:
    return [quality_latency_chart(name, task), latency_cdf_chart(name, measured), throughput_chart(name, measured)]
