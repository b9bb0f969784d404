"""The serving engine: a registry of loaded variants, per-variant micro-batching, routing, predictions.

Plain Python (no BentoML service code): `service.app` owns one Engine and keeps its API methods thin. The
model store is injected (`ModelStore`), so HTTP tests run the real engine on a fake store with a tiny fake
classifier. Inference runs in worker threads; the event loop only queues requests and assembles answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from service import metrics
from service.config import ServiceConfig
from service.errors import InvalidRequest
from service.routing import Route, Router, Selection
from service.schemas import ClassifyResponse, Prediction

logger = logging.getLogger(__name__)

ENDPOINTS = {"text": "/v1/text/classify", "image": "/v1/image/classify"}
WARMUP_RUNS = 2
SCORE_DIGITS = 6


class ClassifierLike(Protocol):
    """What the engine needs of a loaded variant (`service.classifier.Classifier` is one)."""

    labels: list[str]

    def probabilities(self, items: list[Any]) -> np.ndarray: ...


@dataclass(frozen=True)
class StoredVariant:
    name: str
    version: str
    metadata: dict[str, Any]


class ModelStore(Protocol):
    def describe(self, name: str) -> StoredVariant: ...

    def load(self, stored: StoredVariant, threads: int) -> ClassifierLike: ...

    def list(self) -> list[StoredVariant]: ...


class BentoModelStore:
    """Variants from the BentoML model store (`BENTOML_HOME`), latest version of each name."""

    def describe(self, name: str) -> StoredVariant:
        import bentoml

        model = bentoml.models.get(f"{name}:latest")
        return StoredVariant(name, str(model.tag.version), dict(model.info.metadata))

    def load(self, stored: StoredVariant, threads: int) -> ClassifierLike:
        import bentoml

        from service.classifier import load_classifier

        model = bentoml.models.get(f"{stored.name}:{stored.version}")
        return load_classifier(Path(model.path), stored.metadata, threads)

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


# --- micro-batching ---------------------------------------------------------------------------------------------


@dataclass
class _Queued:
    items: list[Any]
    future: asyncio.Future[np.ndarray]
    enqueued: float


class MicroBatcher:
    """Per-variant dynamic batching (Triton-style): a batch runs when `max_batch_size` items are queued or when
    the oldest queued item has waited `max_latency_s`; with 0 it runs as soon as the runtime is free, batching
    whatever queued up while it was busy. One batch at a time per variant, in a worker thread."""

    def __init__(
        self, name: str, infer: Callable[[list[Any]], np.ndarray], max_batch_size: int, max_latency_s: float
    ) -> None:
        self.name = name
        self.infer = infer
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_s
        self._queue: deque[_Queued] = deque()
        self._queued_items = 0
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[Any]) -> np.ndarray:
        """Probabilities for `items`, in order; large requests are split into batch-sized chunks."""
        loop = asyncio.get_running_loop()
        self._start(loop)
        futures = []
        for start in range(0, len(items), self.max_batch_size):
            chunk = list(items[start : start + self.max_batch_size])
            queued = _Queued(chunk, loop.create_future(), loop.time())
            self._queue.append(queued)
            self._queued_items += len(chunk)
            futures.append(queued.future)
        assert self._wakeup is not None
        self._wakeup.set()
        return np.concatenate(await asyncio.gather(*futures))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._run(), name=f"batcher:{self.name}")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        while self._queue:
            self._queue.popleft().future.cancel()

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            deadline = self._queue[0].enqueued + self.max_latency_s
            while self._queued_items < self.max_batch_size and (remaining := deadline - loop.time()) > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
            await self._execute(self._take())

    def _take(self) -> list[_Queued]:
        batch = [self._queue.popleft()]
        size = len(batch[0].items)
        while self._queue and size + len(self._queue[0].items) <= self.max_batch_size:
            size += len(self._queue[0].items)
            batch.append(self._queue.popleft())
        self._queued_items -= size
        return batch

    async def _execute(self, batch: list[_Queued]) -> None:
        batch = [queued for queued in batch if not queued.future.done()]  # skip requests that went away
        if not batch:
            return
        items = [item for queued in batch for item in queued.items]
        metrics.BATCH_SIZE.labels(variant=self.name).observe(len(items))
        started = time.perf_counter()
        try:
            probabilities = await asyncio.to_thread(self.infer, items)
        except Exception as exc:  # handed to every waiting request; mapped to a 500 there
            for queued in batch:
                if not queued.future.done():
                    queued.future.set_exception(exc)
            return
        finally:
            metrics.INFERENCE_DURATION.labels(variant=self.name).observe(time.perf_counter() - started)
        offset = 0
        for queued in batch:
            count = len(queued.items)
            if not queued.future.done():  # the client may have gone away
                queued.future.set_result(probabilities[offset : offset + count])
            offset += count


@dataclass
class LoadedVariant:
    stored: StoredVariant
    classifier: ClassifierLike
    batcher: MicroBatcher


# --- the engine -------------------------------------------------------------------------------------------------


class Engine:
    """Loads the variants the configuration asks for, answers routing tables, and classifies."""

    def __init__(self, config: ServiceConfig, selection: Selection, store: ModelStore) -> None:
        self.config = config
        self.selection = selection
        self.router = Router(selection)
        self.store = store
        routed = selection.routed_variants()
        self.load_set: tuple[str, ...] = config.variants if config.variants is not None else tuple(routed)
        self.states: dict[str, VariantState] = {name: VariantState(name) for name in self.load_set}
        for name in routed:
            if name not in self.states:
                self.states[name] = VariantState(name, NOT_LOADED, "not in SCENARIO_SERVE_VARIANTS")
        self._loaded: dict[str, LoadedVariant] = {}

    # -- loading --

    def load_all(self) -> None:
        """Load and warm up every variant of the load set, one after the other (blocking: run in a thread)."""
        for name in self.load_set:
            self.load_one(name)
        logger.info("variants loaded: %s", ", ".join(f"{n}={s.status}" for n, s in self.states.items()))

    def load_one(self, name: str) -> None:
        state = self.states[name]
        state.status = LOADING
        started = time.perf_counter()
        try:
            stored = self.store.describe(name)
            state.version, state.metadata = stored.version, stored.metadata
            refusal = self._refusal(stored)
            if refusal is not None:
                state.status, state.reason = refusal
                logger.warning("variant %s not loaded: %s", name, state.reason)
                return
            classifier = self.store.load(stored, self.config.threads)
            kind = str(stored.metadata["task_kind"])
            for count in [1] * WARMUP_RUNS + [min(self.config.max_batch_size, 8)]:
                classifier.probabilities(warmup_items(kind, count))
        except Exception as exc:
            state.status, state.reason = FAILED, f"{type(exc).__name__}: {exc}"[:500]
            logger.error("variant %s failed to load: %s", name, state.reason)
            return
        state.load_seconds = time.perf_counter() - started
        batcher = MicroBatcher(
            name, classifier.probabilities, self.config.max_batch_size, self.config.max_latency_ms / 1000.0
        )
        self._loaded[name] = LoadedVariant(stored, classifier, batcher)
        state.status, state.reason = READY, None
        metadata = stored.metadata
        metrics.MODEL_LOAD_DURATION.labels(variant=name).set(state.load_seconds)
        metrics.VARIANT_INFO.labels(
            variant=name,
            task=str(metadata.get("task", metrics.NO_LABEL)),
            runtime=str(metadata.get("runtime", metrics.NO_LABEL)),
            precision=str(metadata.get("precision", metrics.NO_LABEL)),
            gate=gate_status(metadata),
        ).set(1)

    def _refusal(self, stored: StoredVariant) -> tuple[str, str] | None:
        """Why a stored variant must not be served: gate-rejected, or stored for another task/kind."""
        metadata = stored.metadata
        if gate_status(metadata) == "rejected":
            reason = (metadata.get("gate") or {}).get("reason") or "no reason recorded"
            return REJECTED, f"accuracy gate rejected it: {reason}"
        task = self.selection.task_of(stored.name)
        if task is not None:
            expected_kind = self.selection.tasks[task].kind
            if metadata.get("task") != task or metadata.get("task_kind") != expected_kind:
                return FAILED, (
                    f"stored for task {metadata.get('task')!r} ({metadata.get('task_kind')}), "
                    f"but routed for task {task!r} ({expected_kind})"
                )
        if metadata.get("task_kind") not in ENDPOINTS:
            return FAILED, f"unknown task_kind {metadata.get('task_kind')!r}"
        return None

    # -- state --

    def available(self) -> set[str]:
        return {name for name, state in self.states.items() if state.status == READY}

    @property
    def ready(self) -> bool:
        """Every variant to load is loaded and warmed up (gate-rejected ones are skipped, never served), and every
        route that has a variant in the load set can be served."""
        states = [self.states[name] for name in self.load_set]
        if any(state.status in (PENDING, LOADING, FAILED) for state in states):
            return False
        available = self.available()
        load_set = set(self.load_set)
        for task in self.selection.tasks.values():
            for scenario in task.scenarios.values():
                chain = set(scenario.chain)
                if chain & load_set and not chain & available:
                    return False
        return True

    async def close(self) -> None:
        for loaded in list(self._loaded.values()):
            await loaded.batcher.close()

    # -- serving --

    def route(self, kind: str, scenario: str | None) -> Route:
        route = self.router.route(kind, scenario, self.available())
        metrics.ROUTING_DECISIONS.labels(
            task=route.task, scenario=route.scenario, variant=route.variant, fallback=str(route.fallback).lower()
        ).inc()
        return route

    async def classify(self, route: Route, items: list[Any], top_k: int | None) -> ClassifyResponse:
        loaded = self._loaded[route.variant]
        labels = list(loaded.classifier.labels)
        if top_k is not None and top_k > len(labels):
            raise InvalidRequest(
                f"top_k is {top_k}; {route.variant} has {len(labels)} labels", field="top_k", limit=len(labels)
            )
        truncated: list[int] = []
        if self.selection.tasks[route.task].kind == "text":
            truncated = await asyncio.to_thread(truncated_indices, loaded.classifier, items)
        probabilities = await loaded.batcher.submit(items)
        metrics.ITEMS_CLASSIFIED.labels(task=route.task, variant=route.variant).inc(len(items))
        return ClassifyResponse(
            task=route.task,
            scenario=route.scenario,
            variant=route.variant,
            model_version=loaded.stored.version,
            fallback=route.fallback,
            predictions=[prediction(row, labels, top_k or len(labels)) for row in probabilities],
            truncated=truncated,
        )

    # -- tables for /v1/scenarios and /v1/models --

    def scenarios_table(self) -> dict[str, Any]:
        available = self.available()
        tasks: dict[str, Any] = {}
        for task_name, task in self.selection.tasks.items():
            scenarios: dict[str, Any] = {}
            for name, chosen in task.scenarios.items():
                serving = next((variant for variant in chosen.chain if variant in available), None)
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
                            "status": self.states[variant].status,
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
                "version": self.selection.version,
                "generated_by": self.selection.generated_by,
                "generated_at": self.selection.generated_at,
            },
            "tasks": tasks,
        }

    def models_table(self) -> dict[str, Any]:
        """Every variant known: the load set and routed ones (with their state), then the rest of the store."""
        try:
            stored = {variant.name: variant for variant in self.store.list()}
            store_error = None
        except Exception as exc:
            logger.error("cannot list the model store: %s", exc)
            stored, store_error = {}, "the model store could not be listed; see the server log"
        names = [*self.states, *sorted(name for name in stored if name not in self.states)]
        variants = []
        for name in names:
            state = self.states.get(name)
            record = stored.get(name)
            variants.append(
                {
                    "name": name,
                    "status": state.status if state else NOT_ROUTED,
                    "reason": state.reason if state else None,
                    "routes": self.selection.routes_using(name),
                    "version": (state.version if state and state.version else None)
                    or (record.version if record else None),
                    "load_seconds": round(state.load_seconds, 3) if state and state.load_seconds else None,
                    "metadata": (state.metadata if state and state.metadata else None)
                    or (record.metadata if record else None),
                }
            )
        return {"ready": self.ready, "store_error": store_error, "variants": variants}


def prediction(row: np.ndarray, labels: list[str], top_k: int) -> Prediction:
    order = np.argsort(-row, kind="stable")[:top_k]
    scores = {labels[i]: round(float(row[i]), SCORE_DIGITS) for i in order}
    best = int(order[0])
    return Prediction(label=labels[best], score=round(float(row[best]), SCORE_DIGITS), scores=scores)


def truncated_indices(classifier: ClassifierLike, texts: Iterable[str]) -> list[int]:
    """Texts longer than the variant's max_length tokens (they are classified on their first max_length)."""
    encoder = getattr(classifier, "encode", None)
    counts = getattr(encoder, "token_counts", None)
    max_length = getattr(encoder, "max_length", None)
    if counts is None or max_length is None:
        return []
    return [index for index, count in enumerate(counts(list(texts))) if count > max_length]
