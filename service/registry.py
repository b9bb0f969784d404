"""The variant registry: each variant's state, the loaded ones, and the routing table requests are routed by.

No I/O: the engine fills a `RoutingTable` by loading variants through its model store; `RoutingTable` answers
which variants serve, which routes have none, and whether the service is ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from service import metrics
from service.batching import BatchLimits, MicroBatcher
from service.config import ServiceConfig
from service.contracts import GateStatus, VariantMetadata
from service.model_store import ClassifierLike, StoredVariant
from service.routing import Router, Selection

ENDPOINTS = {"text": "/v1/text/classify", "image": "/v1/image/classify"}
"""The task kinds the service serves, and the endpoint of each."""


class VariantStatus(StrEnum):
    """A variant's state, as /v1/models and /v1/scenarios show it (the JSON carries the value)."""

    PENDING = "pending"  # in the load set, not tried yet
    LOADING = "loading"  # a load attempt is running
    READY = "ready"  # loaded, warmed up and served
    FAILED = "failed"  # the load attempt failed, or the variant was stored for another task; retried
    REJECTED = "rejected"  # the accuracy gate rejected it; never served, never retried
    NOT_LOADED = "not_loaded"  # routed, but left out of SCENARIO_SERVE_VARIANTS
    NOT_ROUTED = "not_routed"  # in the model store, routed nowhere


@dataclass
class VariantState:
    name: str
    status: VariantStatus = VariantStatus.PENDING
    reason: str | None = None
    version: str | None = None
    metadata: VariantMetadata | None = None  # once described (read from the store and validated)
    load_seconds: float | None = None
    attempts: int = 0  # load attempts in this routing table: the first (start-up or reload), then retries
    retry_at: float | None = None  # wall-clock time (epoch seconds) of the next background load attempt


def refusal(stored: StoredVariant, selection: Selection) -> tuple[VariantStatus, str] | None:
    """Why a stored variant must not be served: gate-rejected, or stored for another task/kind."""
    metadata = stored.metadata
    if metadata.gate.status == GateStatus.REJECTED:
        return VariantStatus.REJECTED, f"accuracy gate rejected it: {metadata.gate.reason or 'no reason recorded'}"
    task = selection.task_of(stored.name)
    if task is not None:
        expected_kind = selection.tasks[task].kind
        if metadata.task != task or metadata.task_kind != expected_kind:
            return VariantStatus.FAILED, (
                f"stored for task {metadata.task!r} ({metadata.task_kind}), "
                f"but routed for task {task!r} ({expected_kind})"
            )
    return None


@dataclass(eq=False)
class LoadedVariant:
    stored: StoredVariant
    classifier: ClassifierLike
    batcher: MicroBatcher
    in_flight: int = 0  # requests that hold this variant; one a reload unloaded closes when none is left

    def publish_info(self, value: int) -> None:
        """`scenario_serve_variant_info`: 1 while this variant is served, 0 once a reload unloaded it."""
        metadata = self.stored.metadata
        metrics.VARIANT_INFO.labels(
            variant=self.stored.name,
            task=metadata.task,
            runtime=str(metadata.runtime),
            precision=str(metadata.precision),
            gate=str(metadata.gate.status),
        ).set(value)


def batch_limits(config: ServiceConfig) -> BatchLimits:
    return BatchLimits(
        max_batch_size=config.max_batch_size,
        max_batch_s=config.max_batch_ms / 1000.0,
        max_latency_s=config.max_latency_ms / 1000.0,
        max_queue_items=config.max_queue_items,
        max_queue_wait_s=config.max_queue_wait_ms / 1000.0,
        shedding_queue_wait_s=config.shedding_queue_wait_ms / 1000.0,
        shedding_hold_s=config.shedding_hold_s,
        concurrency=config.batch_concurrency(),
    )


def load_set_of(config: ServiceConfig, selection: Selection) -> tuple[str, ...]:
    """The variants to load: SCENARIO_SERVE_VARIANTS when set, else every variant the selection routes."""
    return config.variants if config.variants is not None else tuple(selection.routed_variants())


@dataclass(frozen=True, eq=False)
class RoutingTable:
    """Everything requests are routed by: the selection, its router, the variants to load, their states and the
    loaded ones. A reload builds a new table aside and swaps `Engine.table` in one assignment on the event loop,
    so a reader that takes `engine.table` once sees one consistent table, even from a worker thread."""

    selection: Selection
    router: Router
    load_set: tuple[str, ...]
    states: dict[str, VariantState]
    loaded: dict[str, LoadedVariant]

    @classmethod
    def build(
        cls, selection: Selection, load_set: tuple[str, ...], keep: dict[str, tuple[VariantState, LoadedVariant]]
    ) -> RoutingTable:
        """Variants of `keep` stay loaded as they are; every other one of the load set is pending."""
        states = {name: keep[name][0] if name in keep else VariantState(name) for name in load_set}
        for name in selection.routed_variants():
            if name not in states:
                states[name] = VariantState(name, VariantStatus.NOT_LOADED, "not in SCENARIO_SERVE_VARIANTS")
        loaded = {name: keep[name][1] for name in load_set if name in keep}
        return cls(selection, Router(selection), load_set, states, loaded)

    def available(self) -> set[str]:
        return {name for name, state in self.states.items() if state.status == VariantStatus.READY}

    def serving(self, task: str, scenario: str, available: set[str] | None = None) -> str | None:
        """The variant that serves a route now (the first loaded one of its chain), None when none is."""
        available = self.available() if available is None else available
        chain = self.selection.tasks[task].scenarios[scenario].chain
        return next((variant for variant in chain if variant in available), None)

    def has_route(self, task: str, scenario: str) -> bool:
        return task in self.selection.tasks and scenario in self.selection.tasks[task].scenarios

    def dead_routes(self) -> list[str]:
        """`task/scenario` of routes with a variant in the load set but no loaded one (they answer 503)."""
        available, load_set = self.available(), set(self.load_set)
        return [
            f"{task_name}/{name}"
            for task_name, task in self.selection.tasks.items()
            for name, scenario in task.scenarios.items()
            if set(scenario.chain) & load_set and not set(scenario.chain) & available
        ]

    @property
    def ready(self) -> bool:
        """Every variant to load has had its first load attempt, and every route that has a variant in the load set
        has a loaded one, be it a fallback (/v1/scenarios names it). A failed variant whose routes fall back does not
        hold readiness back: it is retried in the background, with its reason in /v1/models."""
        unattempted = (VariantStatus.PENDING, VariantStatus.LOADING)
        if any(self.states[name].status in unattempted for name in self.load_set):
            return False
        return not self.dead_routes()
