"""Selection: per task and scenario, filter the measured variants by the constraints, rank by the objective.

Pure: measurements (`service.contracts.Measurements`, from `measure`) + scenarios in, the routing file the
service reads out, with the evidence of every decision: each candidate's scenario metrics, and for each loser
which constraint it failed and by how much. When no variant is feasible the route gets the nearest one
(smallest summed relative excess) and the evidence says so; `--strict` turns that into a non-zero exit in the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from models.scenarios import Objective, Scenario, ScenarioFile
from service.contracts import (
    CandidateEvidence,
    ConstraintFailure,
    Measurements,
    MeasurementsRef,
    Run,
    RuntimeVariant,
    ScenarioMetrics,
    SelectionEvidence,
    ServerSearch,
    TaskMeasurements,
    VariantMeasurements,
    read_measurements,
)
from service.contracts.constraints import RouteConstraints
from service.routing import parse_selection

UPPER_BOUNDS = {  # constraint -> the scenario metric it caps
    "p50_latency_ms": "p50_ms",
    "p95_latency_ms": "p95_ms",
    "p99_latency_ms": "bound_p99_ms",
    "max_quality_drop": "quality_drop",
    "max_model_mb": "size_mb",
    "max_memory_mb": "memory_mb",
}
LOWER_BOUNDS = {"min_throughput_rps": "throughput_rps", "min_accuracy": "accuracy", "min_macro_f1": "macro_f1"}
SYMBOLS = {**{k: "<=" for k in UPPER_BOUNDS}, **{k: ">=" for k in LOWER_BOUNDS}}
# objective -> (metric, +1 when larger is better)
OBJECTIVE_METRICS: dict[Objective, tuple[str, int]] = {
    "maximize_quality": ("macro_f1", 1),
    "minimize_latency": ("latency_ms", -1),
    "maximize_throughput": ("throughput_rps", 1),
    "minimize_size": ("size_mb", -1),
}


class SelectionInputError(ValueError):
    """Measurements and scenarios do not fit together (a task or a measurement is missing)."""


@dataclass
class Candidate:
    variant: str
    metrics: ScenarioMetrics | None  # None: not measured at the served thread count
    failures: list[ConstraintFailure] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return not self.failures

    @property
    def total_excess(self) -> float:
        return sum(f.excess_pct for f in self.failures)

    def metric(self, name: str) -> Any:
        return None if self.metrics is None else getattr(self.metrics, name)


@dataclass(frozen=True)
class TaskContext:
    """What every scenario of a task is judged against: the measurements, the FP32 baseline, the best quality."""

    measurements: MeasurementsRef
    baseline: str
    best_macro_f1: float


@dataclass(frozen=True)
class SelectedRoute:
    """One scenario's route in the selection file, with select's evidence."""

    variant: str
    fallbacks: list[str]
    constraints: RouteConstraints
    objective: str
    evidence: SelectionEvidence

    def as_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "fallbacks": self.fallbacks,
            "constraints": self.constraints.model_dump(mode="json"),
            "objective": self.objective,
            "evidence": self.evidence.model_dump(mode="json"),
        }


@dataclass
class Outcome:
    """What `select` decided for one scenario, for the CLI's summary."""

    task: str
    scenario: str
    variant: str
    fallbacks: list[str]
    feasible: bool
    message: str
    metrics: ScenarioMetrics | None  # the pick's; None when it was not measured


# --- metrics of a variant under a scenario ------------------------------------------------------------------


def _server_entry(run: Run, scenario: Scenario) -> ServerSearch | None:
    wanted = (scenario.constraints.p99_latency_ms, scenario.load.target_rps)
    return next((entry for entry in run.server if (entry.p99_bound_ms, entry.target_rps) == wanted), None)


Latencies = tuple[float | None, float | None, float | None]  # p50, p95, p99 in ms
UNMEASURED: Latencies = (None, None, None)


class PatternFigures(NamedTuple):
    """What a scenario's load pattern reads from a run."""

    latencies: Latencies
    throughput_rps: float | None
    p99_spread_ms: tuple[float, float] | None = None  # server: the repeated trials at the target
    p99_pooled_ms: float | None = None  # server: their latencies pooled, what the p99 bound caps
    runtime_ms_per_item: float | None = None  # the inference thread's speed while the latencies were measured


def _pattern_figures(run: Run, scenario: Scenario) -> PatternFigures:
    """p50/p95/p99 in ms, throughput (and for server the p99 spread) as the scenario's load pattern sees them."""
    pattern = scenario.load.pattern
    if pattern == "offline":
        return PatternFigures(UNMEASURED, run.offline.throughput_rps)
    if pattern == "server":
        entry = _server_entry(run, scenario)
        if entry is None:
            return PatternFigures(UNMEASURED, None)
        at = entry.at_target  # p50/p95 of the repeats' pooled latencies; p99 the median repeat's, as live_check's
        latencies = (at.p50_ms, at.p95_ms, at.median_repeat_p99_ms)
        return PatternFigures(latencies, entry.max_rate_rps, at.p99_spread_ms, at.p99_ms, at.runtime_ms_per_item)
    single = run.single_stream
    share = run.server_share  # one item per query: the inference thread's mean is its time per item
    runtime = share.inference_mean_ms if share is not None else None
    latencies = (single.p50_ms, single.p95_ms, single.p99_ms)
    return PatternFigures(latencies, 1000.0 / single.mean_ms, runtime_ms_per_item=runtime)


def scenario_metrics(record: VariantMeasurements, run: Run, scenario: Scenario, best_f1: float) -> ScenarioMetrics:
    figures = _pattern_figures(run, scenario)
    p50, p95, p99 = figures.latencies
    quality = record.quality
    return ScenarioMetrics(
        macro_f1=quality.macro_f1,
        accuracy=quality.accuracy,
        quality_drop=round((best_f1 - quality.macro_f1) * 100, 4),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        latency_ms=p99 if scenario.load.pattern == "server" else p95,
        p99_spread_ms=figures.p99_spread_ms,
        p99_pooled_ms=figures.p99_pooled_ms,
        throughput_rps=figures.throughput_rps,
        runtime_ms_per_item=figures.runtime_ms_per_item,
        size_mb=record.size_mb,
        memory_mb=run.memory.peak_rss_mb,
        threads=run.threads,
    )


# --- constraints ------------------------------------------------------------------------------------------------


def not_measured(constraint: str, limit: float) -> ConstraintFailure:
    return ConstraintFailure(constraint=constraint, limit=limit, value=None, excess=None, excess_pct=100.0)


def failure(constraint: str, limit: float, value: float | None) -> ConstraintFailure | None:
    """The failure record when `value` breaks the constraint, else None; a missing value always fails."""
    if value is None:
        return not_measured(constraint, limit)
    excess = value - limit if constraint in UPPER_BOUNDS else limit - value
    if excess <= 0:
        return None
    return ConstraintFailure(
        constraint=constraint,
        limit=limit,
        value=round(value, 4),
        excess=round(excess, 4),
        excess_pct=round(100.0 * excess / limit, 2),
    )


def failures(metrics: ScenarioMetrics, scenario: Scenario) -> list[ConstraintFailure]:
    found = []
    for constraint, limit in scenario.constraints.active().items():
        metric = UPPER_BOUNDS.get(constraint) or LOWER_BOUNDS[constraint]
        broken = failure(constraint, limit, getattr(metrics, metric))
        if broken is not None:
            found.append(broken)
    return found


def describe(item: ConstraintFailure) -> str:
    """E.g. `p99_latency_ms <= 50 (62.1, +24.2%)`."""
    head = f"{item.constraint} {SYMBOLS[item.constraint]} {item.limit:g}"
    if item.value is None:
        return f"{head} (not measured)"
    return (
        f"{head} ({item.value:g}, {item.excess_pct:+.1f}% over)"
        if item.constraint in UPPER_BOUNDS
        else (f"{head} ({item.value:g}, {item.excess_pct:.1f}% short)")
    )


# --- ranking ----------------------------------------------------------------------------------------------------


def _value(candidate: Candidate, objective: Objective) -> float:
    """Larger is better; a missing metric ranks last."""
    metric, sign = OBJECTIVE_METRICS[objective]
    value = candidate.metric(metric)
    return float("-inf") if value is None else sign * float(value)


def _tied(best: float, value: float, objective: Objective, scenario: Scenario) -> bool:
    if best == value:
        return True
    if objective == "maximize_quality":
        return abs(best - value) * 100 <= scenario.quality_tie_points
    return abs(best - value) <= scenario.tie_tolerance * abs(best)


def rank(candidates: list[Candidate], objectives: tuple[Objective, ...], scenario: Scenario) -> list[Candidate]:
    """Best first: by the first objective; candidates tied with the best are ordered by the next ones."""
    if not objectives or len(candidates) <= 1:
        return sorted(candidates, key=lambda c: c.variant)
    objective, rest = objectives[0], objectives[1:]
    remaining = sorted(candidates, key=lambda c: (-_value(c, objective), c.variant))
    ordered: list[Candidate] = []
    while remaining:
        best = _value(remaining[0], objective)
        band = [c for c in remaining if _tied(best, _value(c, objective), objective, scenario)]
        ordered += rank(band, rest, scenario)
        remaining = [c for c in remaining if c not in band]
    return ordered


# --- one scenario ---------------------------------------------------------------------------------------------


def infeasible_message(candidates: list[Candidate]) -> str:
    """ "no variant meets <constraint>; nearest: ..." naming the constraints every candidate fails, if any."""
    failed_by_all = set.intersection(*({f.constraint for f in c.failures} for c in candidates))
    nearest = candidates[0]
    if failed_by_all:
        shared = [f for f in nearest.failures if f.constraint in failed_by_all]
        what = " and ".join(f"{f.constraint} {SYMBOLS[f.constraint]} {f.limit:g}" for f in shared)
    else:
        what = "all constraints together"
    return f"no variant meets {what}; nearest: {nearest.variant}, " + "; ".join(describe(f) for f in nearest.failures)


def decide(candidates: list[Candidate], scenario: Scenario) -> tuple[list[Candidate], str]:
    """(candidates best first, message); feasible ones ranked first, then the rest, nearest first."""
    feasible = rank([c for c in candidates if c.feasible], scenario.ranking, scenario)
    infeasible = sorted((c for c in candidates if not c.feasible), key=lambda c: (c.total_excess, c.variant))
    if feasible:
        return feasible + infeasible, f"{feasible[0].variant} meets every constraint"
    return infeasible, infeasible_message(infeasible)


def served_threads(measurements: Measurements) -> int:
    """The intra-op threads the measured server ran with (SCENARIO_SERVE_THREADS at measure time)."""
    return measurements.settings.service.threads


def scenario_constraints(scenario: Scenario, threads: int) -> RouteConstraints:
    return RouteConstraints(
        load_pattern=scenario.load.pattern,
        target_rps=scenario.load.target_rps,
        threads=threads,
        **scenario.constraints.active(),
    )


def select_scenario(
    task: TaskMeasurements, scenario: Scenario, threads: int, max_fallbacks: int, context: TaskContext
) -> SelectedRoute:
    candidates = []
    for name, record in task.variants.items():
        run = record.runs.get(threads)
        if run is None:
            candidates.append(Candidate(name, None, [not_measured("threads", threads)]))
            continue
        metrics = scenario_metrics(record, run, scenario, context.best_macro_f1)
        candidates.append(Candidate(name, metrics, failures(metrics, scenario)))
    ordered, message = decide(candidates, scenario)
    chosen = ordered[0]
    feasible_rest = [c.variant for c in ordered[1:] if c.feasible]
    fallbacks = (feasible_rest if chosen.feasible else [c.variant for c in ordered[1:]])[:max_fallbacks]
    ranks = {c.variant: i + 1 for i, c in enumerate(c for c in ordered if c.feasible)}
    evidence = SelectionEvidence(
        feasible=chosen.feasible,
        message=message,
        measurements=context.measurements,
        baseline=context.baseline,
        best_macro_f1=context.best_macro_f1,
        ranking=list(scenario.ranking),
        metrics=chosen.metrics,
        candidates=[
            CandidateEvidence(
                variant=c.variant,
                rank=ranks.get(c.variant),
                feasible=c.feasible,
                metrics=c.metrics,
                failures=c.failures,
            )
            for c in ordered
        ],
    )
    constraints = scenario_constraints(scenario, threads)
    return SelectedRoute(chosen.variant, fallbacks, constraints, scenario.objective, evidence)


# --- the whole file -------------------------------------------------------------------------------------------


def baseline_variant(variants: Mapping[str, VariantMeasurements]) -> str:
    """ "The FP32 baseline": the eager torch-fp32 variant of the best-quality candidate (else the best variant)."""
    eager = {n: r for n, r in variants.items() if r.variant == RuntimeVariant.TORCH_FP32} or variants
    return max(eager, key=lambda n: (eager[n].quality.macro_f1, n))


def task_context(task: TaskMeasurements, measurements: Measurements, path: str) -> TaskContext:
    variants = task.variants
    return TaskContext(
        measurements=MeasurementsRef(path=path, generated_at=measurements.generated_at),
        baseline=baseline_variant(variants),
        best_macro_f1=max(r.quality.macro_f1 for r in variants.values()),
    )


def measured_task(measurements: Measurements, name: str) -> TaskMeasurements:
    task = measurements.tasks.get(name)
    if task is None or not task.variants:
        raise SelectionInputError(
            f"task {name!r} has scenarios but no measured variants; run `scenario-serve measure --tasks {name}`"
        )
    return task


def select(
    scenarios: ScenarioFile,
    measurements: Measurements | Mapping[str, Any],
    measurements_path: str,
    tasks: list[str] | None = None,
) -> tuple[dict[str, Any], list[Outcome]]:
    """The selection file (validated against the service's schema) and one outcome per scenario; measurements
    that do not match their contract raise MeasurementsError naming the key."""
    measured = read_measurements(measurements, measurements_path)
    names = tasks or list(scenarios.tasks)
    unknown = [n for n in names if n not in scenarios.tasks]
    if unknown:
        raise SelectionInputError(f"no scenarios for task {unknown[0]!r}; known: {', '.join(scenarios.tasks)}")
    selection: dict[str, Any] = {
        "version": 1,
        "generated_by": "scenario-serve select",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tasks": {},
    }
    outcomes = []
    for name in names:
        task = measured_task(measured, name)
        context = task_context(task, measured, measurements_path)
        config = scenarios.tasks[name]
        routes = {}
        for scenario_name, scenario in config.scenarios.items():
            route = select_scenario(task, scenario, served_threads(measured), scenarios.max_fallbacks, context)
            routes[scenario_name] = route.as_json()
            evidence = route.evidence
            outcomes.append(
                Outcome(
                    name,
                    scenario_name,
                    route.variant,
                    route.fallbacks,
                    evidence.feasible,
                    evidence.message,
                    evidence.metrics,
                )
            )
        selection["tasks"][name] = {
            "kind": task.kind,
            "default_scenario": config.default_scenario,
            "scenarios": routes,
        }
    parse_selection(selection, source="generated selection")
    return selection, outcomes
