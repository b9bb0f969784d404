"""The report's data: everything it says (`service.contracts.report.ReportData`, the `report.json` file), which
both renderers format.

Built only from the measurements (`service.contracts.Measurements`, from `models/benchmark.py`), the selection
file (`models/select.py`, validated with select's evidence typed) and, when given, live observations
(`models/live.py`); the capacity plan (`capacity`) from the selection's evidence. Each input is validated against
its contract first, so a renamed key fails naming it instead of showing as a dash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.report.capacity import DEFAULT_HEADROOM, capacity_plan
from models.report.comparison import compare_with_baseline
from models.report.live import DEFAULT_TOLERANCE, live_entry, live_header
from models.report.scenarios import candidate_row, constraint_texts, load_text
from models.report.summary import summary_sentence
from models.report.variants import best_macro_f1, rejected_rows, variant_rows
from service.contracts import LiveObservations, Measurements, ReportData, TaskMeasurements, read_measurements
from service.contracts.measurements import Methods
from service.contracts.report import (
    MeasurementsHeader,
    ObservedScenario,
    ScenarioReport,
    SelectionHeader,
    SplitRef,
    SummaryEntry,
    TaskReport,
)
from service.routing import ScenarioSelection, Selection, TaskSelection, parse_selection


def scenario_data(
    name: str, route: ScenarioSelection, observed: ObservedScenario | None, live: bool, tolerance: float
) -> ScenarioReport:
    evidence = route.select_evidence()
    constraints = route.constraints
    comparison = compare_with_baseline(route)
    return ScenarioReport(
        load_pattern=constraints.load_pattern,
        load=load_text(constraints),
        threads=constraints.threads,
        constraints=constraint_texts(constraints),
        objective=route.objective or None,
        variant=route.variant,
        fallbacks=list(route.fallbacks),
        feasible=None if evidence is None else evidence.feasible,
        message=None if evidence is None else evidence.message,
        baseline=None if evidence is None else evidence.baseline,
        comparison=comparison.as_row() if comparison else None,
        summary=summary_sentence(name, route, comparison),
        candidates=[] if evidence is None else [candidate_row(c) for c in evidence.candidates],
        live=live_entry(route, observed, tolerance) if live else None,
    )


def task_data(
    name: str, task: TaskSelection, measured: TaskMeasurements | None, live: LiveObservations | None, tolerance: float
) -> TaskReport:
    """`measured` None: the selection routes a task the measurements do not hold."""
    observed = {} if live is None else live.scenarios.get(name, {})
    split = None if measured is None else measured.test_split
    return TaskReport(
        kind=task.kind,
        test_split=None if split is None else SplitRef(fingerprint=split.fingerprint, rows=split.rows),
        best_macro_f1=best_macro_f1(measured),
        variants=variant_rows(measured),
        rejected=rejected_rows(measured),
        scenarios={
            scenario_name: scenario_data(scenario_name, route, observed.get(scenario_name), live is not None, tolerance)
            for scenario_name, route in task.scenarios.items()
        },
    )


def measurements_header(measurements: Measurements) -> MeasurementsHeader:
    return MeasurementsHeader(
        generated_at=measurements.generated_at,
        command=measurements.command,
        hardware=measurements.hardware,
        versions=dict(measurements.versions),
        settings=measurements.settings,
        methods=run_methods(measurements),
    )


def run_methods(measurements: Measurements) -> list[Methods]:
    """The distinct methods of every run, in order of first use (one, unless runs from older versions remain)."""
    found: list[Methods] = []
    for task in measurements.tasks.values():
        for variant in task.variants.values():
            for run in variant.runs.values():
                if run.method not in found:
                    found.append(run.method)
    return found


def summary_entries(tasks: Mapping[str, TaskReport]) -> list[SummaryEntry]:
    return [
        SummaryEntry(task=task, scenario=scenario, sentence=data.summary)
        for task, task_report in tasks.items()
        for scenario, data in task_report.scenarios.items()
    ]


def report_data(
    measurements: Measurements | Mapping[str, Any],
    selection: Selection | Mapping[str, Any],
    live: LiveObservations | Mapping[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    peak_rps: float | None = None,
    headroom: float = DEFAULT_HEADROOM,
) -> ReportData:
    """Everything the report says; a measurements, selection or live document that does not match its contract
    raises, naming the key (MeasurementsError, SelectionError, pydantic's ValidationError)."""
    measured = read_measurements(measurements)
    routes = selection if isinstance(selection, Selection) else parse_selection(selection)
    observations = None if live is None else LiveObservations.model_validate(live)
    tasks = {
        name: task_data(name, task, measured.tasks.get(name), observations, tolerance)
        for name, task in routes.tasks.items()
    }
    return ReportData(
        measurements=measurements_header(measured),
        selection=SelectionHeader(generated_at=routes.generated_at, generated_by=routes.generated_by),
        live=None if observations is None else live_header(observations, tolerance),
        summary=summary_entries(tasks),
        capacity=capacity_plan(routes, peak_rps=peak_rps, headroom=headroom),
        tasks=tasks,
    )
