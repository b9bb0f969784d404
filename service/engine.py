"""The serving engine: a registry of loaded variants, per-variant micro-batching, routing, predictions.

Plain Python (no BentoML service code): `service.app` owns one Engine and keeps its API methods thin. The
model store is injected (`ModelStore`), so HTTP tests run the real engine on a fake store with a tiny fake
classifier. Inference runs in worker threads; the event loop only queues requests and assembles answers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from service import metrics
from service.batching import BatchLimits, MicroBatcher
from service.classifier import Inference
from service.config import ServiceConfig
from service.errors import InvalidRequest, SelectionNotServable
from service.routing import NoVariantAvailable, Route, Router, Selection, SelectionError, load_selection
from service.schemas import ClassifyResponse, Prediction

logger = logging.getLogger(__name__)

ENDPOINTS = {"text": "/v1/text/classify", "image": "/v1/image/classify"}
WARMUP_RUNS = 2
SCORE_DIGITS = 6
RETIRE_POLL_S = 0.05  # how often an unloaded variant checks whether its last in-flight request has finished
T = TypeVar("T")


class ClassifierLike(Protocol):
    """What the engine needs of a loaded variant (`service.classifier.Classifier` is one)."""

    labels: list[str]

    def run(self, items: list[Any]) -> Inference: ...


@dataclass(frozen=True)
class StoredVariant:
    name: str
    version: str
    metadata: dict[str, Any]


class ModelStore(Protocol):
    def describe(self, name: str) -> StoredVariant: ...

    def load(self, stored: StoredVariant, threads: int, max_batch_tokens: int) -> ClassifierLike: ...

    def list(self) -> list[StoredVariant]: ...


class BentoModelStore:
    """Variants from the BentoML model store (`BENTOML_HOME`), latest version of each name."""

    def describe(self, name: str) -> StoredVariant:
        import bentoml

        model = bentoml.models.get(f"{name}:latest")
        return StoredVariant(name, str(model.tag.version), dict(model.info.metadata))

    def load(self, stored: StoredVariant, threads: int, max_batch_tokens: int) -> ClassifierLike:
        import bentoml

        from service.classifier import load_classifier

        model = bentoml.models.get(f"{stored.name}:{stored.version}")
        return load_classifier(Path(model.path), stored.metadata, threads, max_batch_tokens)

    def list(self) -> list[StoredVariant]:
        import bentoml

        latest: dict[str, Any] = {}
        for model in bentoml.models.list():
            metadata = model.info.metadata
            if "task" not in metadata or "variant" not in metadata:
                continue  # not one of ours
            name = model.tag.name
            if name not in latest or model.info.creation_time > latest[name].info.creation_time:
                latest[name] = model
        return [StoredVariant(m.tag.name, str(m.tag.version), dict(m.info.metadata)) for m in latest.values()]


# --- variant registry -------------------------------------------------------------------------------------------

PENDING, LOADING, READY, FAILED, REJECTED, NOT_LOADED, NOT_ROUTED = (
    "pending",
    "loading",
    "ready",
    "failed",
    "rejected",
    "not_loaded",
    "not_routed",
)


@dataclass
class VariantState:
    name: str
    status: str = PENDING
    reason: str | None = None
    version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    load_seconds: float | None = None


def warmup_items(kind: str, count: int) -> list[Any]:
    if kind == "text":
        return ["warm-up text for the runtime"] * count
    from PIL import Image

    return [Image.new("L", (8, 8))] * count


def gate_status(metadata: dict[str, Any]) -> str:
    return str((metadata.get("gate") or {}).get("status", "unknown"))


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
            task=str(metadata.get("task", metrics.NO_LABEL)),
            runtime=str(metadata.get("runtime", metrics.NO_LABEL)),
            precision=str(metadata.get("precision", metrics.NO_LABEL)),
            gate=gate_status(metadata),
        ).set(value)


def batch_limits(config: ServiceConfig) -> BatchLimits:
    return BatchLimits(
        max_batch_size=config.max_batch_size,
        max_latency_s=config.max_latency_ms / 1000.0,
        max_queue_items=config.max_queue_items,
        max_queue_wait_s=config.max_queue_wait_ms / 1000.0,
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
    ) -> "RoutingTable":
        """Variants of `keep` stay loaded as they are; every other one of the load set is pending."""
        states = {name: keep[name][0] if name in keep else VariantState(name) for name in load_set}
        for name in selection.routed_variants():
            if name not in states:
                states[name] = VariantState(name, NOT_LOADED, "not in SCENARIO_SERVE_VARIANTS")
        loaded = {name: keep[name][1] for name in load_set if name in keep}
        return cls(selection, Router(selection), load_set, states, loaded)

    def available(self) -> set[str]:
        return {name for name, state in self.states.items() if state.status == READY}

    def serving(self, task: str, scenario: str, available: set[str] | None = None) -> str | None:
        """The variant that serves a route now (the first loaded one of its chain), None when none is."""
        available = self.available() if available is None else available
        chain = self.selection.tasks[task].scenarios[scenario].chain
        return next((variant for variant in chain if variant in available), None)

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
        """Every variant to load is loaded and warmed up (gate-rejected ones are skipped, never served), and every
        route that has a variant in the load set can be served."""
        if any(self.states[name].status in (PENDING, LOADING, FAILED) for name in self.load_set):
            return False
        return not self.dead_routes()


@dataclass(frozen=True)
class RouteChange:
    task: str
    scenario: str
    before: str | None  # the variant that served the route before the reload; None: a new route
    after: str | None  # the variant that serves it now; None: the route is gone


@dataclass(frozen=True)
class ReloadSummary:
    """What a reload changed; `body()` is the JSON answer of POST /v1/admin/reload."""

    path: str
    selection: Selection
    added: tuple[str, ...]  # variants loaded by this reload
    removed: tuple[str, ...]  # variants no longer to load; unloaded once their in-flight requests finish
    failed: tuple[tuple[str, str], ...]  # (variant, reason): routed, not served (gate-rejected), as at start-up
    changed_routes: tuple[RouteChange, ...]

    def body(self) -> dict[str, Any]:
        return {
            "reloaded": True,
            "path": self.path,
            "version": self.selection.version,
            "generated_by": self.selection.generated_by,
            "generated_at": self.selection.generated_at,
            "added": list(self.added),
            "removed": list(self.removed),
            "failed": [{"name": name, "reason": reason} for name, reason in self.failed],
            "changed_routes": [
                {"task": c.task, "scenario": c.scenario, "from": c.before, "to": c.after} for c in self.changed_routes
            ],
        }


def route_changes(old: RoutingTable, new: RoutingTable) -> tuple[RouteChange, ...]:
    """Routes whose serving variant differs between two tables (new routes first in file order, then gone ones)."""
    old_available, new_available = old.available(), new.available()
    keys = [(task, name) for task, selection in new.selection.tasks.items() for name in selection.scenarios]
    keys += [
        (task, name)
        for task, selection in old.selection.tasks.items()
        for name in selection.scenarios
        if (task, name) not in keys
    ]
    changes = []
    for task, name in keys:
        before = old.serving(task, name, old_available) if _has_route(old, task, name) else None
        after = new.serving(task, name, new_available) if _has_route(new, task, name) else None
        if before != after:
            changes.append(RouteChange(task, name, before, after))
    return tuple(changes)


def _has_route(table: RoutingTable, task: str, scenario: str) -> bool:
    return task in table.selection.tasks and scenario in table.selection.tasks[task].scenarios


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """What the selection watch compares: (inode, size, mtime in ns); None when the file cannot be read."""
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


# --- the engine -------------------------------------------------------------------------------------------------


class Engine:
    """Loads the variants the configuration asks for, answers routing tables, classifies, and reloads the
    selection file on demand (`reload`) or when it changes (`SCENARIO_SERVE_WATCH_SELECTION_S`)."""

    def __init__(self, config: ServiceConfig, selection: Selection, store: ModelStore) -> None:
        self.config = config
        self.store = store
        self.table = RoutingTable.build(selection, load_set_of(config, selection), keep={})
        self._file_seen = file_signature(config.selection_path)
        self._startup: asyncio.Future[None] | None = None
        self._reload_lock = asyncio.Lock()
        self._retiring: list[LoadedVariant] = []
        self._tasks: set[asyncio.Future[Any]] = set()

    # the current table's parts, for callers that need only one of them
    @property
    def selection(self) -> Selection:
        return self.table.selection

    @property
    def router(self) -> Router:
        return self.table.router

    @property
    def load_set(self) -> tuple[str, ...]:
        return self.table.load_set

    @property
    def states(self) -> dict[str, VariantState]:
        return self.table.states

    # -- loading --

    def start(self) -> None:
        """Start loading the variants in a worker thread, and the selection watch if configured (on the loop)."""
        self._startup = self._spawn(asyncio.to_thread(self.load_all))
        if self.config.watch_selection_s > 0:
            self._spawn(self._watch(self.config.watch_selection_s))

    def load_all(self) -> None:
        """Load and warm up every variant of the load set, one after the other (blocking: run in a thread)."""
        for name in self.table.load_set:
            self.load_one(name)
        # Everything loaded so far lives as long as the process: move it out of the garbage collector's view, so
        # that full collections during serving scan only per-request objects. Measured here: a full collection of
        # a worker took 160 ms with the ONNX runtime loaded and 360 ms with torch imported (the ~300 ms stalls
        # seen in the access log); after gc.freeze() it takes microseconds.
        gc.collect()
        gc.freeze()
        logger.info("variants loaded: %s", ", ".join(f"{n}={s.status}" for n, s in self.table.states.items()))

    def load_one(self, name: str) -> None:
        table = self.table
        state = table.states[name]
        loaded = self._load(state, table.selection)
        if loaded is not None:
            table.loaded[name] = loaded  # registered before READY: a READY variant is always in `loaded`
            state.status, state.reason = READY, None
            loaded.publish_info(1)

    def _load(self, state: VariantState, selection: Selection) -> LoadedVariant | None:
        """Describe, check, load and warm up one variant (blocking). On failure or refusal the state says why and
        None comes back; on success the state is left LOADING for the caller to register the variant."""
        name = state.name
        state.status = LOADING
        started = time.perf_counter()
        try:
            stored = self.store.describe(name)
            state.version, state.metadata = stored.version, stored.metadata
            refusal = self._refusal(stored, selection)
            if refusal is not None:
                state.status, state.reason = refusal
                logger.warning("variant %s not loaded: %s", name, state.reason)
                return None
            classifier = self.store.load(stored, self.config.threads, self.config.max_batch_tokens)
            kind = str(stored.metadata["task_kind"])
            for count in [1] * WARMUP_RUNS + [min(self.config.max_batch_size, 8)]:
                classifier.run(warmup_items(kind, count))
        except Exception as exc:
            state.status, state.reason = FAILED, f"{type(exc).__name__}: {exc}"[:500]
            logger.error("variant %s failed to load: %s", name, state.reason)
            return None
        state.load_seconds = time.perf_counter() - started
        metrics.MODEL_LOAD_DURATION.labels(variant=name).set(state.load_seconds)
        return LoadedVariant(stored, classifier, MicroBatcher(name, classifier.run, batch_limits(self.config)))

    def _refusal(self, stored: StoredVariant, selection: Selection) -> tuple[str, str] | None:
        """Why a stored variant must not be served: gate-rejected, or stored for another task/kind."""
        metadata = stored.metadata
        if gate_status(metadata) == "rejected":
            reason = (metadata.get("gate") or {}).get("reason") or "no reason recorded"
            return REJECTED, f"accuracy gate rejected it: {reason}"
        task = selection.task_of(stored.name)
        if task is not None:
            expected_kind = selection.tasks[task].kind
            if metadata.get("task") != task or metadata.get("task_kind") != expected_kind:
                return FAILED, (
                    f"stored for task {metadata.get('task')!r} ({metadata.get('task_kind')}), "
                    f"but routed for task {task!r} ({expected_kind})"
                )
        if metadata.get("task_kind") not in ENDPOINTS:
            return FAILED, f"unknown task_kind {metadata.get('task_kind')!r}"
        return None

    # -- reloading the selection --

    async def reload(self) -> ReloadSummary:
        """Re-read `config.selection_path` and apply it when it is valid and servable.

        All or nothing: the new table is built aside (variants it routes that are not loaded yet are loaded and
        warmed up in a worker thread while the old table keeps serving) and swapped in only if it would be ready,
        as /readyz defines it; so a reload never takes a ready service out of rotation. Otherwise the old table
        stays in force and the variants loaded for the new one are dropped. Variants the new table no longer
        loads are unloaded once their in-flight requests have finished. Reloads run one at a time (a second
        waits for the first, then reads the file again); one starts after the start-up loading has finished.

        Raises SelectionError (the file is missing, not JSON or off-schema) or SelectionNotServable.
        """
        # A task of its own, shielded: a caller that goes away does not abandon a half-done reload.
        return await asyncio.shield(self._spawn(self._reload()))

    async def _reload(self) -> ReloadSummary:
        async with self._reload_lock:
            if self._startup is not None:
                await asyncio.shield(self._startup)
            path = self.config.selection_path
            try:
                self._file_seen = file_signature(path)
                selection = await asyncio.to_thread(load_selection, path)
            except SelectionError as exc:
                metrics.SELECTION_RELOADS.labels(outcome="invalid").inc()
                logger.warning("selection not reloaded, the previous table stays in force: %s", exc)
                raise
            try:
                staged, attempted = await asyncio.to_thread(self._stage, selection)
                summary = self._commit(staged, attempted)
            except Exception:
                metrics.SELECTION_RELOADS.labels(outcome="failed").inc()
                raise
            metrics.SELECTION_RELOADS.labels(outcome="success").inc()
            logger.info(
                "selection reloaded from %s (generated_at %s): added %s, removed %s, %d route(s) changed",
                path,
                selection.generated_at,
                list(summary.added),
                list(summary.removed),
                len(summary.changed_routes),
            )
            return summary

    def _stage(self, selection: Selection) -> tuple[RoutingTable, list[str]]:
        """The table for `selection` (blocking: run in a thread). Loaded variants the new selection may serve are
        kept as they are; every other variant of its load set is (re)tried, failed and gate-rejected ones too."""
        current = self.table
        keep = {
            name: (current.states[name], loaded)
            for name, loaded in current.loaded.items()
            if current.states[name].status == READY and self._refusal(loaded.stored, selection) is None
        }
        staged = RoutingTable.build(selection, load_set_of(self.config, selection), keep)
        attempted = [name for name in staged.load_set if name not in keep]
        for name in attempted:
            loaded = self._load(staged.states[name], selection)
            if loaded is not None:
                staged.loaded[name] = loaded
                staged.states[name].status = READY
        return staged, attempted

    def _commit(self, staged: RoutingTable, attempted: list[str]) -> ReloadSummary:
        """Swap `staged` in if it is ready (on the event loop: one assignment, no await in between)."""
        current = self.table
        if not staged.ready:
            for name in attempted:
                if name in staged.loaded:
                    self._retire(staged.loaded[name])
            problems = [
                f"{name} {staged.states[name].status}: {staged.states[name].reason}"
                for name in staged.load_set
                if staged.states[name].status == FAILED
            ]
            problems += [f"route {route} would have no loaded variant" for route in staged.dead_routes()]
            message = f"selection {self.config.selection_path} not applied; the previous table stays in force: "
            logger.error("%s%s", message, "; ".join(problems))
            raise SelectionNotServable(message + "; ".join(problems))
        self.table = staged
        for name, loaded in current.loaded.items():
            if staged.loaded.get(name) is not loaded:
                loaded.publish_info(0)
                self._retire(loaded)
        for name in attempted:
            if name in staged.loaded:
                staged.loaded[name].publish_info(1)
        return ReloadSummary(
            path=str(self.config.selection_path),
            selection=staged.selection,
            added=tuple(name for name in attempted if name in staged.loaded),
            removed=tuple(name for name in current.load_set if name not in staged.load_set),
            failed=tuple(
                (name, staged.states[name].reason or staged.states[name].status)
                for name in attempted
                if name not in staged.loaded
            ),
            changed_routes=route_changes(current, staged),
        )

    def _retire(self, loaded: LoadedVariant) -> None:
        """Close a variant's batcher once no request holds it (requests routed before a reload finish on it)."""
        self._retiring.append(loaded)

        async def retire() -> None:
            while loaded.in_flight:
                await asyncio.sleep(RETIRE_POLL_S)
            await loaded.batcher.close()
            self._retiring.remove(loaded)

        self._spawn(retire())

    async def _watch(self, interval_s: float) -> None:
        """Reload whenever the selection file changes (inode, size or mtime); a file that fails is logged and not
        retried until it changes again (write it elsewhere and rename it over the old one to change it at once)."""
        while True:
            await asyncio.sleep(interval_s)
            if file_signature(self.config.selection_path) == self._file_seen:
                continue
            try:
                await self.reload()
            except (SelectionError, SelectionNotServable):
                pass  # logged by the reload; retried when the file changes again
            except Exception:
                logger.exception("selection watch: reload failed")

    def _spawn(self, awaitable: Awaitable[T]) -> asyncio.Future[T]:
        """A background task that `close()` cancels; kept referenced until done."""
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- state --

    def available(self) -> set[str]:
        return self.table.available()

    @property
    def ready(self) -> bool:
        return self.table.ready

    async def close(self) -> None:
        if self._startup is not None and not self._startup.done():
            await asyncio.wait([self._startup], timeout=30)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for loaded in [*self.table.loaded.values(), *self._retiring]:
            await loaded.batcher.close()

    # -- serving --

    def route(self, kind: str, scenario: str | None) -> Route:
        table = self.table
        route = table.router.route(kind, scenario, table.available())
        metrics.ROUTING_DECISIONS.labels(
            task=route.task, scenario=route.scenario, variant=route.variant, fallback=str(route.fallback).lower()
        ).inc()
        return route

    async def classify(self, route: Route, items: list[Any], top_k: int | None) -> ClassifyResponse:
        loaded = self.table.loaded.get(route.variant)
        if loaded is None:  # a reload unloaded it between routing and here (the app leaves no await between)
            raise NoVariantAvailable(route.task, route.scenario, (route.variant,))
        loaded.in_flight += 1
        try:
            return await self._classify(loaded, route, items, top_k)
        finally:
            loaded.in_flight -= 1

    async def _classify(
        self, loaded: LoadedVariant, route: Route, items: list[Any], top_k: int | None
    ) -> ClassifyResponse:
        labels = list(loaded.classifier.labels)
        if top_k is not None and top_k > len(labels):
            raise InvalidRequest(
                f"top_k is {top_k}; {route.variant} has {len(labels)} labels", field="top_k", limit=len(labels)
            )
        result = await loaded.batcher.submit(items)
        metrics.ITEMS_CLASSIFIED.labels(task=route.task, variant=route.variant).inc(len(items))
        return ClassifyResponse(
            task=route.task,
            scenario=route.scenario,
            variant=route.variant,
            model_version=loaded.stored.version,
            fallback=route.fallback,
            predictions=[prediction(row, labels, top_k or len(labels)) for row in result.probabilities],
            truncated=result.truncated_indices(),
        )

    # -- tables for /v1/scenarios and /v1/models --

    def scenarios_table(self) -> dict[str, Any]:
        table = self.table
        available = table.available()
        tasks: dict[str, Any] = {}
        for task_name, task in table.selection.tasks.items():
            scenarios: dict[str, Any] = {}
            for name, chosen in task.scenarios.items():
                serving = table.serving(task_name, name, available)
                scenarios[name] = {
                    "variant": chosen.variant,
                    "fallbacks": list(chosen.fallbacks),
                    "serving": serving,
                    "fallback": serving is not None and serving != chosen.variant,
                    "constraints": chosen.constraints,
                    "objective": chosen.objective,
                    "evidence": chosen.evidence,
                    "variants": [
                        {
                            "name": variant,
                            "role": "selected" if variant == chosen.variant else "fallback",
                            "status": table.states[variant].status,
                            "loaded": variant in available,
                        }
                        for variant in chosen.chain
                    ],
                }
            tasks[task_name] = {
                "kind": task.kind,
                "endpoint": ENDPOINTS[task.kind],
                "default_scenario": task.default_scenario,
                "scenarios": scenarios,
            }
        return {
            "selection": {
                "path": str(self.config.selection_path),
                "version": table.selection.version,
                "generated_by": table.selection.generated_by,
                "generated_at": table.selection.generated_at,
            },
            "tasks": tasks,
        }

    def models_table(self) -> dict[str, Any]:
        """Every variant known: the load set and routed ones (with their state), then the rest of the store."""
        table = self.table
        try:
            stored = {variant.name: variant for variant in self.store.list()}
            store_error = None
        except Exception as exc:
            logger.error("cannot list the model store: %s", exc)
            stored, store_error = {}, "the model store could not be listed; see the server log"
        names = [*table.states, *sorted(name for name in stored if name not in table.states)]
        variants = []
        for name in names:
            state = table.states.get(name)
            record = stored.get(name)
            variants.append(
                {
                    "name": name,
                    "status": state.status if state else NOT_ROUTED,
                    "reason": state.reason if state else None,
                    "routes": table.selection.routes_using(name),
                    "version": (state.version if state and state.version else None)
                    or (record.version if record else None),
                    "load_seconds": round(state.load_seconds, 3) if state and state.load_seconds else None,
                    "metadata": (state.metadata if state and state.metadata else None)
                    or (record.metadata if record else None),
                }
            )
        return {"ready": table.ready, "store_error": store_error, "variants": variants}


def prediction(row: np.ndarray, labels: list[str], top_k: int) -> Prediction:
    order = np.argsort(-row, kind="stable")[:top_k]
    scores = {labels[i]: round(float(row[i]), SCORE_DIGITS) for i in order}
    best = int(order[0])
    return Prediction(label=labels[best], score=round(float(row[best]), SCORE_DIGITS), scores=scores)
