"""The report's documents: live observations (`models.live`, an input) and the report data (`report.json`, what
both renderers format). Written and read in the same code version, so any unknown key is an error (`Strict`).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import ConfigDict, Field

from service.contracts.common import Strict, TaskKind
from service.contracts.measurements import Hardware, MeasurementSettings, Methods

REPORT_SCHEMA: Final = "scenario-serve/report"
REPORT_VERSION: Final = 1
LoadPattern = Literal["single-stream", "server", "offline"]


# --- live observations (models/live.py) ------------------------------------------------------------------------


class ObservedScenario(Strict):
    """What Prometheus saw of one (task, scenario) over the window; None where there was nothing to see."""

    rate_rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_ratio: float | None
    variants: list[str] = Field(description="the variants that served it, the pick and any fallback")
    runtime_ms_per_item: float | None = Field(
        None, description="the pick's inference thread, ms per item over the window (its traffic from any scenario)"
    )


class LiveObservations(Strict):
    prometheus: str
    window: str
    queried_at: str
    scenarios: dict[str, dict[str, ObservedScenario]] = Field(description="task -> scenario -> observations")


# --- the capacity plan ----------------------------------------------------------------------------------------


class ScenarioCapacity(Strict):
    """One scenario's row: the pick's measured rate per replica and the replicas at the target and peak rates."""

    task: str
    scenario: str
    variant: str
    load_pattern: str | None
    threads: int | None
    p99_bound_ms: float | None = Field(description="the latency bound the per-replica rate was measured within")
    per_replica_rps: float | None = Field(description="highest measured rate within the bound, one replica")
    usable_rps: float | None = Field(description="per_replica_rps x (1 - headroom)")
    target_rps: float | None
    target_replicas: int | None
    peak_replicas: int | None
    note: str | None = Field(description="why the row has no replica counts")


class AutoscalerBounds(Strict):
    """What a deployment serving every scenario from the same pods scales by (deploy/kubernetes)."""

    task: str = Field(description="the server scenario with the lowest usable rate per replica sets the threshold")
    scenario: str
    threshold_rps: float = Field(description="per-pod request rate to hold, rounded down")
    min_replicas: int = Field(description="the most replicas any server scenario needs at its target rate")
    max_replicas: int | None = Field(description="the most any server scenario needs at the peak rate")


class CapacityPlan(Strict):
    headroom: float = Field(ge=0, lt=1)
    peak_rps: float | None = Field(gt=0)
    rows: list[ScenarioCapacity]
    autoscaler: AutoscalerBounds | None


# --- one scenario ---------------------------------------------------------------------------------------------


class Observed(Strict):
    observed: float | None
    predicted: float | None


class ObservedLatency(Observed):
    limit: float | None = Field(description="the scenario's bound on this percentile, if any")


class LiveEntry(Strict):
    """Observed rate, latency and errors beside the predictions; `traffic` False when nothing was served."""

    traffic: bool
    variants: list[str]
    rate_rps: Observed
    p50_ms: ObservedLatency
    p95_ms: ObservedLatency
    p99_ms: ObservedLatency
    error_ratio: Observed
    runtime_ms_per_item: Observed = Field(
        description="the pick's inference thread, ms per item: live, and while select's latencies were measured"
    )
    flags: list[str] = Field(
        description="`SLO breach: ...`, `off by N%: ...`, `runtime +N% vs measure: ...`, `served by X (not the pick)`"
    )


class ComparisonRow(Strict):
    """The pick against the FP32 baseline on the scenario's metric; `ratio` > 1 favours the pick."""

    metric: str
    pick: float | None
    baseline: float | None
    ratio: float | None
    quality_delta_pt: float | None


class CandidateRow(Strict):
    variant: str
    rank: int | None
    feasible: bool
    macro_f1: float | None
    quality_drop: float | None
    latency_ms: float | None
    latency_spread_ms: tuple[float, float] | None = Field(
        None, description="server: the lowest and highest p99 of the repeated trials at the target rate"
    )
    latency_pooled_ms: float | None = Field(
        None, description="server: the p99 of those trials' latencies pooled, what the p99 bound is checked against"
    )
    throughput_rps: float | None
    size_mb: float | None
    memory_mb: float | None
    failures: list[str] = Field(description="each failed constraint, as text")


class ScenarioReport(Strict):
    load_pattern: LoadPattern | None
    load: str
    threads: int | None
    constraints: list[str]
    objective: str | None
    variant: str
    fallbacks: list[str]
    feasible: bool | None = Field(description="None: the route has no select evidence (hand-written)")
    message: str | None
    baseline: str | None
    comparison: ComparisonRow | None
    summary: str
    candidates: list[CandidateRow]
    live: LiveEntry | None = Field(None, exclude_if=lambda live: live is None)  # only with live observations


# --- one task, and the whole report ---------------------------------------------------------------------------


class ServerRate(Strict):
    p99_bound_ms: float | None
    target_rps: float | None
    max_rate_rps: float | None


class VariantRow(Strict):
    """One measured (variant, thread count)."""

    variant: str
    threads: int | None
    runtime: str | None
    precision: str | None
    macro_f1: float | None
    accuracy: float | None
    quality_drop_pt: float | None
    size_mb: float | None
    peak_memory_mb: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    served_overhead_ms: float | None = Field(
        description="single-stream mean minus the inference thread's mean on the same requests (None: not recorded)"
    )
    http_excess_ms: float | None = Field(
        None,
        description="single-stream p50 minus the p50 of the variant called directly beside it (None: not measured)",
    )
    server: list[ServerRate]
    offline_rps: float | None
    offline_batch_size: int | None
    pareto: bool = Field(description="on the Pareto front of single-stream p99 latency vs macro-F1")


class RejectedRow(Strict):
    variant: str
    reason: str


class SplitRef(Strict):
    fingerprint: str | None = None
    rows: int | None = None


class TaskReport(Strict):
    kind: TaskKind | None
    test_split: SplitRef | None
    best_macro_f1: float | None
    variants: list[VariantRow]
    rejected: list[RejectedRow]
    scenarios: dict[str, ScenarioReport]


class MeasurementsHeader(Strict):
    """Where, with what and how the measurements were made (`service.contracts.measurements`)."""

    generated_at: str | None
    command: str | None
    hardware: Hardware
    versions: dict[str, str | None]
    settings: MeasurementSettings
    methods: list[Methods] = Field(
        default_factory=list, description="how each number was obtained: every distinct method of the runs"
    )


class SelectionHeader(Strict):
    generated_at: str
    generated_by: str


class LiveHeader(Strict):
    prometheus: str
    window: str
    queried_at: str
    tolerance: float = Field(description="relative difference between observed and predicted latency flagged")


class SummaryEntry(Strict):
    task: str
    scenario: str
    sentence: str


class ReportData(Strict):
    """Everything the report says (`report.json`); the Markdown and HTML pages format it."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    schema_id: Literal["scenario-serve/report"] = Field(REPORT_SCHEMA, alias="schema")
    version: Literal[1] = REPORT_VERSION
    measurements: MeasurementsHeader
    selection: SelectionHeader
    live: LiveHeader | None
    summary: list[SummaryEntry]
    capacity: CapacityPlan
    tasks: dict[str, TaskReport]
