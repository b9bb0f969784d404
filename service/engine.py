"""The serving engine: loads the variants of the routing table, retries failed ones, reloads the selection, serves.

Plain Python (no BentoML service code): `service.app` owns one Engine and keeps its API methods thin. The model
store is injected (`service.model_store`), so HTTP tests run the real engine on a fake store with a tiny fake
classifier. Inference runs in worker threads; the event loop only queues requests and assembles answers. The parts
live beside it: variant states and the routing table (`service.registry`), per-variant batching
(`service.batching`), serving along a route's fallbacks (`service.fallback`), what a reload keeps and changed
(`service.reload`), and the JSON views (`service.views`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable
from functools import partial
from typing import Any, TypeVar

import numpy as np

from service import metrics
from service.batching import MicroBatcher
from service.classifier import Inference
from service.config import ServiceConfig
from service.contracts import TaskKind
from service.errors import InvalidRequest, SelectionNotServable
from service.fallback import Breakers, serve_along_chain
from service.model_store import ModelStore
from service.registry import (
    LoadedVariant,
    RoutingTable,
    VariantState,
    VariantStatus,
    batch_limits,
    load_set_of,
    refusal,
)
from service.reload import ReloadSummary, file_signature, kept_variants, summarize, unservable_problems
from service.retry import Backoff, retry_with_backoff
from service.routing import Route, Router, Selection, SelectionError, load_selection
from service.schemas import ClassifyResponse, Prediction
from service.views import models_view, scenarios_view

logger = logging.getLogger(__name__)

WARMUP_RUNS = 2
SCORE_DIGITS = 6
RETIRE_POLL_S = 0.05  # how often an unloaded variant checks whether its last in-flight request has finished
T = TypeVar("T")


def warmup_items(kind: TaskKind, count: int) -> list[Any]:
    if kind == "text":
        return ["warm-up text for the runtime"] * count
    from PIL import Image

    return [Image.new("L", (8, 8))] * count


def freeze_heap() -> None:
    """Move everything alive now out of the garbage collector's view, so that full collections during serving scan
    only per-request objects. Measured here: a full collection of a worker took 160 ms with the ONNX runtime loaded
    and 360 ms with torch imported (the ~300 ms stalls seen in the access log); after gc.freeze() it takes
    microseconds. Called once the variants are loaded (they live as long as the process)."""
    gc.collect()
    gc.freeze()


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
        self.backoff = Backoff(config.load_retry_s, config.load_retry_max_s)
        self._tasks: set[asyncio.Future[Any]] = set()
        self.breakers = Breakers(config.breaker_failures, config.breaker_cooldown_s)

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
        """Start loading the variants in a worker thread (then retrying failed ones in the background), and the
        selection watch if configured (on the loop)."""
        self._startup = self._spawn(self._start_up())
        if self.config.watch_selection_s > 0:
            self._spawn(self._watch(self.config.watch_selection_s))

    def load_all(self) -> None:
        """Load and warm up every variant of the load set, one after the other (blocking: run in a thread)."""
        for name in self.table.load_set:
            self.load_one(name)
        freeze_heap()
        logger.info("variants loaded: %s", ", ".join(f"{n}={s.status}" for n, s in self.table.states.items()))

    def load_one(self, name: str) -> None:
        table = self.table
        state = table.states[name]
        loaded = self._load(state, table.selection)
        if loaded is not None:
            table.loaded[name] = loaded  # registered before READY: a READY variant is always in `loaded`
            state.status, state.reason = VariantStatus.READY, None
            loaded.publish_info(1)

    def _load(self, state: VariantState, selection: Selection) -> LoadedVariant | None:
        """One load attempt (`_attempt`), counted in the state and in scenario_serve_model_load_attempts_total."""
        state.attempts += 1
        loaded = self._attempt(state, selection)
        outcome = "success" if loaded is not None else state.status  # failed or rejected
        metrics.MODEL_LOAD_ATTEMPTS.labels(variant=state.name, outcome=outcome).inc()
        return loaded

    def _attempt(self, state: VariantState, selection: Selection) -> LoadedVariant | None:
        """Describe (metadata validated), check, load and warm up one variant (blocking). On failure (metadata that
        does not match the contract too: MetadataError names the key) or refusal the state says why and
        None comes back; on success the state is left LOADING for the caller to register the variant."""
        name = state.name
        state.status = VariantStatus.LOADING
        started = time.perf_counter()
        try:
            stored = self.store.describe(name)
            state.version, state.metadata = stored.version, stored.metadata
            refused = refusal(stored, selection)
            if refused is not None:
                state.status, state.reason = refused
                logger.warning("variant %s not loaded: %s", name, state.reason)
                return None
            classifier = self.store.load(stored, self.config.threads, self.config.max_batch_tokens)
            for count in [1] * WARMUP_RUNS + [min(self.config.max_batch_size, 8)]:
                classifier.run(warmup_items(stored.metadata.task_kind, count))
        except Exception as exc:
            state.status, state.reason = VariantStatus.FAILED, f"{type(exc).__name__}: {exc}"[:500]
            logger.error("variant %s failed to load: %s", name, state.reason)
            return None
        state.load_seconds = time.perf_counter() - started
        metrics.MODEL_LOAD_DURATION.labels(variant=name).set(state.load_seconds)
        return LoadedVariant(stored, classifier, MicroBatcher(name, classifier.run, batch_limits(self.config)))

    # -- retrying failed variants --

    async def _start_up(self) -> None:
        await asyncio.to_thread(self.load_all)
        self._retry_failed()

    def _retry_failed(self) -> None:
        """Retry each failed variant of the current table in the background with back-off (on the loop), until it
        loads, turns out gate-rejected (never retried), or a reload replaces the table (the reload tries it anew).
        Integrity mismatches are retried too: each attempt reads the store again, so a restored file or a variant
        prepared anew is picked up, at the cost of hashing its files once per attempt (0.07 s for 94 MB here)."""
        if not self.backoff.enabled:
            return
        table = self.table
        for name in table.load_set:
            if table.states[name].status == VariantStatus.FAILED:
                retry, planned = partial(self._retry, table, name), partial(self._plan_retry, table, name)
                self._spawn(retry_with_backoff(retry, self.backoff, planned))

    def _plan_retry(self, table: RoutingTable, name: str, delay_s: float) -> None:
        state = table.states[name]
        state.retry_at = time.time() + delay_s
        logger.warning("variant %s: load attempt %d failed; next attempt in %.3g s", name, state.attempts, delay_s)

    async def _retry(self, table: RoutingTable, name: str) -> bool:
        """One background load attempt of a failed variant; True when nothing is left to retry."""
        async with self._reload_lock:  # never at the same time as a reload's staging or commit
            failed = table.states[name]
            if self.table is not table or failed.status != VariantStatus.FAILED:
                return True
            # attempted aside: the variant shows `failed`, and readiness stays as it is, until the attempt is over
            attempt = VariantState(name, VariantStatus.LOADING, attempts=failed.attempts)
            loaded = await asyncio.to_thread(self._load_and_freeze, attempt, table.selection)
            if loaded is not None:
                table.loaded[name] = loaded  # registered before READY: a READY variant is always in `loaded`
                attempt.status = VariantStatus.READY
                loaded.publish_info(1)
                # a warning, like the failures before it: the recovery shows in the same log (BentoML's shows warnings)
                logger.warning("variant %s loaded on attempt %d", name, attempt.attempts)
            table.states[name] = attempt
            return attempt.status != VariantStatus.FAILED

    def _load_and_freeze(self, state: VariantState, selection: Selection) -> LoadedVariant | None:
        loaded = self._load(state, selection)
        if loaded is not None:
            freeze_heap()  # as after the start-up loading: the new variant lives as long as it is served
        return loaded

    # -- reloading the selection --

    async def reload(self) -> ReloadSummary:
        """Re-read `config.selection_path` and apply it when it is valid and servable.

        All or nothing: the new table is built aside (variants it routes that are not loaded yet are loaded and
        warmed up in a worker thread while the old table keeps serving) and swapped in only if it would be ready,
        as /readyz defines it; so a reload never takes a ready service out of rotation. Otherwise the old table
        stays in force and the variants loaded for the new one are dropped. A variant that fails to load while its
        routes fall back does not stop the new table (a worker started on the new file would serve it the same
        way): it is listed in `failed` and retried in the background. Variants the new table no longer
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
        keep = kept_variants(self.table, selection)
        staged = RoutingTable.build(selection, load_set_of(self.config, selection), keep)
        attempted = [name for name in staged.load_set if name not in keep]
        for name in attempted:
            loaded = self._load(staged.states[name], selection)
            if loaded is not None:
                staged.loaded[name] = loaded
                staged.states[name].status = VariantStatus.READY
        return staged, attempted

    def _commit(self, staged: RoutingTable, attempted: list[str]) -> ReloadSummary:
        """Swap `staged` in if it is ready (on the event loop: one assignment, no await in between)."""
        current = self.table
        if not staged.ready:
            for name in attempted:
                if name in staged.loaded:
                    self._retire(staged.loaded[name])
            problems = unservable_problems(staged)
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
        self._retry_failed()
        return summarize(self.config.selection_path, current, staged, attempted)

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
        """The route's first loaded variant; `classify` may still fall back further along its chain."""
        table = self.table
        return table.router.route(kind, scenario, table.available())

    async def classify(
        self, route: Route, items: list[Any], top_k: int | None, deadline: float | None = None
    ) -> ClassifyResponse:
        """Classify on the route's variant, or on the next one of its chain when inference fails there or its
        circuit is open (`service.fallback`). `deadline`: event-loop time after which nobody waits."""
        table = self.table

        async def attempt(loaded: LoadedVariant, variant: str) -> Inference:
            check_top_k(top_k, variant, loaded.classifier.labels)
            loaded.in_flight += 1
            try:
                return await loaded.batcher.submit(items, deadline)
            finally:
                loaded.in_flight -= 1

        served = await serve_along_chain(route, table.loaded.get, self.breakers, attempt)
        fallback = served.variant != route.selected
        metrics.labelled(
            metrics.ROUTING_DECISIONS,
            task=route.task,
            scenario=route.scenario,
            variant=served.variant,
            fallback=str(fallback).lower(),
        ).inc()
        if served.fallback_reason is not None:
            metrics.FALLBACKS.labels(task=route.task, scenario=route.scenario, reason=served.fallback_reason).inc()
        metrics.labelled(metrics.ITEMS_CLASSIFIED, task=route.task, variant=served.variant).inc(len(items))
        labels = list(served.loaded.classifier.labels)
        return ClassifyResponse(
            task=route.task,
            scenario=route.scenario,
            variant=served.variant,
            model_version=served.loaded.stored.version,
            fallback=fallback,
            fallback_reason=served.fallback_reason,
            predictions=[prediction(row, labels, top_k or len(labels)) for row in served.inference.probabilities],
            truncated=served.inference.truncated_indices(),
        )

    # -- tables for /v1/scenarios and /v1/models --

    def scenarios_table(self) -> dict[str, Any]:
        return scenarios_view(self.table, self.config.selection_path).model_dump(mode="json")

    def models_table(self) -> dict[str, Any]:
        """Blocking (it lists the model store): run it in a thread."""
        return models_view(self.table, self.store).model_dump()


def check_top_k(top_k: int | None, variant: str, labels: list[str]) -> None:
    if top_k is not None and top_k > len(labels):
        raise InvalidRequest(f"top_k is {top_k}; {variant} has {len(labels)} labels", field="top_k", limit=len(labels))


def prediction(row: np.ndarray, labels: list[str], top_k: int) -> Prediction:
    # Plain Python on a handful of labels: numpy's per-call overhead would dominate, on the event loop.
    values = row.tolist()
    order = sorted(range(len(values)), key=lambda index: -values[index])[:top_k]  # stable: ties keep label order
    scores = {labels[index]: round(values[index], SCORE_DIGITS) for index in order}
    return Prediction(label=labels[order[0]], score=scores[labels[order[0]]], scores=scores)
