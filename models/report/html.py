"""The report as one self-contained HTML page: `templates/report.html.j2`, rendered by jinja2 with autoescaping.

Every text of the report reaches the page escaped. The only markup passed in is the charts' SVG (`charts`, drawn
by matplotlib, which escapes their text) and what the `code` filter makes of `backticked` names (escaped parts
inside `<code>`). This module turns the report data into the typed views the template lays out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from models.report import captions, tables
from models.report.charts import task_charts
from service.contracts import Measurements, TaskMeasurements
from service.contracts.report import LiveHeader, RejectedRow, ReportData, ScenarioReport, TaskReport


@dataclass(frozen=True)
class Row:
    cells: Sequence[str]
    css: str = ""  # the row's class, when not empty


@dataclass(frozen=True)
class Table:
    columns: Sequence[str]
    rows: list[Row]


@dataclass(frozen=True)
class ScenarioView:
    name: str
    facts: list[tuple[str, str]]
    variant: str
    feasible: bool | None
    verdict: str
    fallbacks: list[str]
    message: str | None
    candidates: Table | None


@dataclass(frozen=True)
class LiveView:
    caption: str
    table: Table


@dataclass(frozen=True)
class TaskView:
    name: str
    heading: str
    summary: list[str]
    variants: Table | None
    rejected: list[RejectedRow]
    charts: list[Markup]
    scenarios: list[ScenarioView]
    live: LiveView | None


@dataclass(frozen=True)
class ReproduceView:
    command: str | None
    facts: list[tuple[str, str]]
    settings: list[str]
    methods: list[list[str]]


@dataclass(frozen=True)
class CapacityView:
    caption: str
    table: Table
    autoscaler: str


NOTES = {"variants": captions.VARIANTS_NOTE, "no_variants": captions.NO_VARIANTS, "rejected": captions.REJECTED_NOTE}


def code_markup(text: str) -> Markup:
    """Escape text and turn `backticked` names into <code> (the summary sentences use Markdown backticks)."""
    parts = str(text).split("`")
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))


ENVIRONMENT = Environment(
    loader=PackageLoader("models.report", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENVIRONMENT.filters["code"] = code_markup


def scenario_view(name: str, s: ScenarioReport) -> ScenarioView:
    rows = [Row(tables.candidate_cells(c), "pick" if c.variant == s.variant else "") for c in s.candidates]
    return ScenarioView(
        name=name,
        facts=captions.scenario_facts(s),
        variant=s.variant,
        feasible=s.feasible,
        verdict=captions.verdict_text(s.feasible),
        fallbacks=s.fallbacks,
        message=s.message,
        candidates=Table(tables.CANDIDATE_COLUMNS, rows) if rows else None,
    )


def live_view(task: TaskReport, live: LiveHeader) -> LiveView:
    rows = [
        Row(tables.live_cells(name, scenario.live), "flagged" if scenario.live.flags else "")
        for name, scenario in task.scenarios.items()
        if scenario.live is not None
    ]
    return LiveView(captions.live_caption(live), Table(tables.LIVE_COLUMNS, rows))


def task_view(name: str, task: TaskReport, measured: TaskMeasurements | None, live: LiveHeader | None) -> TaskView:
    variants = [Row(tables.variant_cells(r), "pareto" if r.pareto else "") for r in task.variants]
    return TaskView(
        name=name,
        heading=captions.task_heading(name, task),
        summary=[s.summary for s in task.scenarios.values()],
        variants=Table(tables.VARIANT_COLUMNS, variants) if variants else None,
        rejected=task.rejected,
        charts=[Markup(svg) for svg in task_charts(name, task, measured)],  # matplotlib escaped their text
        scenarios=[scenario_view(n, s) for n, s in task.scenarios.items()],
        live=live_view(task, live) if live is not None else None,
    )


def reproduce_view(data: ReportData) -> ReproduceView:
    return ReproduceView(
        command=data.measurements.command,
        facts=captions.reproduce_facts(data),
        settings=captions.settings_text(data.measurements.settings),
        methods=[captions.methods_text(methods) for methods in data.measurements.methods],
    )


def capacity_view(data: ReportData) -> CapacityView:
    plan = data.capacity
    rows = [Row(tables.capacity_cells(row, plan.peak_rps)) for row in plan.rows]
    table = Table(tables.CAPACITY_COLUMNS, rows)
    return CapacityView(captions.capacity_caption(plan), table, captions.autoscaler_text(plan))


def render_html(data: ReportData, measurements: Measurements) -> str:
    """One self-contained page: inline CSS and SVG, no scripts, no external links."""
    tasks = [task_view(t, task, measurements.tasks.get(t), data.live) for t, task in data.tasks.items()]
    template = ENVIRONMENT.get_template("report.html.j2")
    return template.render(tasks=tasks, reproduce=reproduce_view(data), capacity=capacity_view(data), notes=NOTES)
