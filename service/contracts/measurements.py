"""The measurements document (`reports/measurements.json`, `scenario-serve/measurements` version 2): what `measure`
recorded of every stored variant, under every load pattern, and how.

Written by `models.benchmark` (through `models.records.write_measurements`, which validates it again), read by
`models.records` (whether it is current), `models.select` and `models.report`. Written and read by the same code
version (a change of shape bumps `version`), so any unknown key is an error (`Strict`). Key order is the order
`measure` writes, so a document read and written again is the same file, byte for byte.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from service.contracts.common import Strict, TaskKind, absent_if_none
from service.contracts.metadata import RUNTIME_OF, GateStatus, Precision, Runtime, RuntimeVariant
from service.field_paths import field_path

MEASUREMENTS_SCHEMA: Final = "scenario-serve/measurements"
MEASUREMENTS_VERSION: Final = 2


class MeasurementsError(ValueError):
    """A measurements document does not match the contract; the message names the source and every bad key."""


def _absent_if_empty(value: list[object]) -> bool:
    return not value


# --- how it was measured --------------------------------------------------------------------------------------


class Hardware(Strict):
    """The machine (`models.machine.hardware`); cpu, cores, machine and flags decide whether a rerun is needed."""

    cpu: str
    logical_cores: int | None
    memory_gb: float
    machine: str
    cpu_flags: list[str]


class SingleStreamSettings(Strict):
    warmup: int = Field(ge=0)
    min_samples: int = Field(gt=0)
    max_samples: int = Field(gt=0)
    max_seconds: float = Field(gt=0)


class ServerSettings(Strict):
    trial_seconds: float = Field(gt=0)
    target_seconds: float | None = Field(
        None,
        gt=0,
        exclude_if=absent_if_none,
        description="length of each repeated trial at the target rate (absent in older files: trial_seconds)",
    )
    target_queries: int | None = Field(
        None,
        gt=0,
        exclude_if=absent_if_none,
        description="fewest queries in each repeated trial at the target rate (absent in older files: min_queries)",
    )
    min_queries: int = Field(gt=0)
    search_steps: int = Field(ge=0)
    repeats: int = Field(gt=0)


class ServedSettings(Strict):
    """The settings the measured server ran with (`service.config.ServiceConfig`)."""

    threads: int = Field(gt=0)
    max_batch_size: int
    max_latency_ms: float
    max_batch_tokens: int
    max_queue_items: int
    max_queue_wait_ms: float
    concurrent_batches: int | None = Field(
        None,
        gt=0,
        exclude_if=absent_if_none,
        description="batches of one variant run at once (absent in files measured before it was a setting: one)",
    )
    max_batch_ms: float | None = Field(
        None,
        ge=0,
        exclude_if=absent_if_none,
        description="a batch's expected run time that caps its items (absent in files measured before it was a "
        "setting: no cap)",
    )
    shedding_queue_wait_ms: float | None = Field(
        None,
        gt=0,
        exclude_if=absent_if_none,
        description="the expected-wait bound while a variant sheds (absent in files measured before it was a "
        "setting: no shedding)",
    )
    shedding_hold_s: float | None = Field(
        None, ge=0, exclude_if=absent_if_none, description="shortest shedding, and the window judging its end"
    )


class OfflineSettings(Strict):
    batch_sizes: list[int] = Field(min_length=1)
    max_seconds: float = Field(gt=0)


class MeasurementSettings(Strict):
    """How long and how often it measured (`models.measure_plan.settings_record`)."""

    seed: int
    single_stream: SingleStreamSettings
    server: ServerSettings
    service: ServedSettings
    offline: OfflineSettings


class TargetPlan(Strict):
    """A server scenario's need: its p99 bound and the Poisson rate it must hold."""

    p99_bound_ms: float
    target_rps: float


class TaskPlanRecord(Strict):
    """What a task's scenarios asked to be measured (`models.measure_plan.plan_record`)."""

    threads: list[int] = Field(min_length=1)
    server_targets: list[TargetPlan]


class Methods(Strict):
    """How each part of a run was measured, in words."""

    single_stream: str
    server: str
    offline: str
    memory: str
    in_process: str


# --- what it measured -----------------------------------------------------------------------------------------


class LatencySummary(Strict):
    """Latency percentiles of back-to-back requests (`models.latency.latency_summary`), with a 101-point CDF."""

    samples: int = Field(gt=0)
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    cdf_ms: list[float]


class ServerTrial(Strict):
    """One open-loop Poisson trial at `rate_rps` (`models.loadgen.run_trial`), or repeated ones pooled
    (percentiles of all their latencies) carrying every repeat's own p99 and their spread."""

    rate_rps: float
    queries: int = Field(ge=0)
    achieved_rps: float
    outcomes: dict[str, int] = Field(description="HTTP status (or client error) -> count")
    p99_ms_by_outcome: dict[str, float]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    issue_lateness_p50_ms: float | None = Field(description="issued minus scheduled: the client's timing error")
    meets_bound: bool
    stopped_early: bool
    repeats_p99_ms: list[float] | None = Field(None, exclude_if=absent_if_none)
    p99_spread_ms: tuple[float, float] | None = Field(None, exclude_if=absent_if_none)
    runtime_ms_per_item: float | None = Field(
        None,
        exclude_if=absent_if_none,
        description="the inference thread's ms per item during the trial(s), from the server's own histograms "
        "(`models.server_share.ms_per_item`): the runtime's speed at this load, without HTTP or queueing",
    )

    @property
    def median_repeat_p99_ms(self) -> float:
        """The middle repeat's p99 (one trial: its p99). What `select` predicts for a server scenario and
        `loadtests/live_check.py` compares: each repeat at a target rate holds >= 1,200 queries, so its own p99 is
        steady, and one repeat that ran in a slower minute cannot set the figure as it sets the pooled p99."""
        return statistics.median(self.repeats_p99_ms) if self.repeats_p99_ms else self.p99_ms


class ServerSearch(Strict):
    """One server target: the trials at the target, the search for the highest rate within the bound."""

    p99_bound_ms: float
    target_rps: float
    max_rate_rps: float = Field(
        ge=0,
        description="highest rate whose p99 met the bound, confirmed by repeated trials (their pooled p99) when "
        "repeats > 1: the target's rate when no higher one held; 0 when none did",
    )
    at_target: ServerTrial
    trials: list[ServerTrial] = Field(min_length=1, description="in the order run; the first is at_target")
    at_max_rate: ServerTrial | None = Field(None, exclude_if=absent_if_none)  # the confirmed rate, repeated
    search_max_rate_rps: float | None = Field(
        None, exclude_if=absent_if_none, description="the search's best single trial, before confirmation"
    )
    unconfirmed: list[ServerTrial] = Field(
        default_factory=list,
        exclude_if=_absent_if_empty,
        description="repeated trials at higher rates whose pooled p99 missed the bound",
    )


class OfflineBatch(Strict):
    throughput_rps: float
    items: int
    seconds: float


class Offline(Strict):
    """Full batches back to back, in process, at each batch size."""

    by_batch_size: dict[int, OfflineBatch] = Field(min_length=1)
    best_batch_size: int
    throughput_rps: float


class ProcessMemory(Strict):
    """Resident memory of the in-process measuring process, before loading and at its peak."""

    baseline_rss_mb: float
    peak_rss_mb: float
    model_rss_mb: float


class Memory(Strict):
    peak_rss_mb: float = Field(description="peak RSS (VmHWM) of the served worker: what select uses")
    torch_imported: bool = Field(description="whether any served worker mapped libtorch")
    in_process: ProcessMemory


class ServerShare(Strict):
    """The served single-stream's requests seen three ways, as means (`models.server_share`): by the client, by
    the server's request duration, on the inference thread. The differences are the served path's own share of
    the latency, measured on the same requests."""

    client_mean_ms: float
    request_mean_ms: float = Field(description="scenario_serve_request_duration_seconds: from the handler's start")
    inference_mean_ms: float = Field(description="scenario_serve_inference_duration_seconds: the inference thread")

    @property
    def overhead_ms(self) -> float:
        """Everything but the inference thread's work: HTTP, middleware, handler, hand-offs, TCP, the client."""
        return self.client_mean_ms - self.inference_mean_ms


class InProcess(Strict):
    single_stream: LatencySummary = Field(description="in a fresh process of its own, before the server started")
    beside_http: LatencySummary | None = Field(
        None,
        exclude_if=absent_if_none,
        description="in the measuring process, in blocks alternating with the HTTP single-stream's on the same "
        "items: what its p50 is compared with (None: not measured)",
    )

    def http_excess_ms(self, http: LatencySummary) -> float | None:
        """The HTTP single-stream's p50 minus the p50 of the direct calls beside it: the served path's cost."""
        return None if self.beside_http is None else http.p50_ms - self.beside_http.p50_ms


class Run(Strict):
    """One (variant, thread count): served single-stream and server, in-process offline, memory."""

    threads: int = Field(gt=0)
    method: Methods
    memory: Memory
    single_stream: LatencySummary = Field(description="over HTTP, through the real server")
    server_share: ServerShare | None = Field(
        None, description="the single-stream's requests split by the server's own timings (None: not recorded)"
    )
    offline: Offline
    server: list[ServerSearch] = Field(description="one per server target of the plan")
    in_process: InProcess = Field(description="the classifier called directly: the lower bound beside HTTP")


class Quality(Strict):
    """The variant's test-split metrics and gate verdict, as its store metadata records them."""

    accuracy: float = Field(ge=0, le=1)
    macro_f1: float = Field(ge=0, le=1)
    gate: GateStatus


class VariantMeasurements(Strict):
    candidate: str
    variant: RuntimeVariant
    runtime: Runtime
    precision: Precision
    model_version: str = Field(description="the store version measured; another one makes the record stale")
    reference: str | None = Field(description="the torch-fp32 variant it derives from; None for that one")
    quality: Quality
    size_mb: float = Field(ge=0)
    runs: dict[int, Run] = Field(description="thread count -> run")

    @model_validator(mode="after")
    def _consistent(self) -> VariantMeasurements:
        if (self.runtime, self.precision) != RUNTIME_OF[self.variant]:
            expected = "/".join(RUNTIME_OF[self.variant])
            raise ValueError(f"variant {self.variant} runs on {expected}, not {self.runtime}/{self.precision}")
        wrong = [key for key, run in self.runs.items() if run.threads != key]
        if wrong:
            raise ValueError(
                f"runs: keyed by thread count, but run {wrong[0]} says threads={self.runs[wrong[0]].threads}"
            )
        return self


class SplitRecord(Strict):
    fingerprint: str
    rows: int = Field(ge=0)


class TaskMeasurements(Strict):
    kind: TaskKind
    test_split: SplitRecord
    plan: TaskPlanRecord
    variants: dict[str, VariantMeasurements]
    rejected: dict[str, str] = Field(description="variants the accuracy gate rejected (not measured) -> why")


class Measurements(Strict):
    """The whole document: how, where and with what it was measured, and every task's variants."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    schema_id: Literal["scenario-serve/measurements"] = Field(MEASUREMENTS_SCHEMA, alias="schema")
    version: Literal[2] = MEASUREMENTS_VERSION
    generated_at: str
    command: str
    hardware: Hardware
    versions: dict[str, str | None] = Field(description="python and package versions (None: not installed)")
    settings: MeasurementSettings
    tasks: dict[str, TaskMeasurements]

    def as_json(self) -> dict[str, Any]:
        """The document as `measure` writes it (plain JSON values, keys in order; absent optional parts left out)."""
        return self.model_dump(mode="json")


def read_measurements(raw: Mapping[str, Any] | Measurements, source: str = "measurements") -> Measurements:
    """Validate a measurements document; a missing, renamed or malformed key raises MeasurementsError naming the
    source and the key."""
    if isinstance(raw, Measurements):
        return raw
    try:
        return Measurements.model_validate(dict(raw))
    except ValidationError as exc:
        problems = [f"{field_path(e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise MeasurementsError(f"{source}: does not match the measurements contract: {'; '.join(problems)}") from None
