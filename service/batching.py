"""Per-variant dynamic batching with admission control, on dedicated inference threads.

One `MicroBatcher` sits in front of each loaded variant. Requests queue their items; up to `concurrency` batches run
at once, each on a thread of the variant's own pool (never asyncio's shared default executor, so image decoding,
reloads or another variant's inference cannot delay it; the thread that went idle last takes the next batch, so
sparse requests keep to one thread and its warm caches: `service.hot_pool`). A batch starts as soon as a thread is
free: a lone request never waits for companions while one is (it runs from its own task, without passing through the
queue and the batch loop: one hand-off fewer), and whatever queued while every thread was busy forms the next batch
(up to `max_batch_size` items, and no more than fit in `max_batch_s` at the variant's measured seconds per item:
near capacity every item of a batch waits for the whole batch, so a batch of 32 texts at 8 ms each would hold each
of them 250 ms). Several threads per variant (one per CPU by default) are what let a worker use both
cores when its connections carry all the traffic: BentoML's workers share one listening socket, and a client's
keep-alive connections may all have been accepted by the same worker (measured: the other one sat idle).
`max_latency_s > 0` additionally holds an idle runtime back until that many seconds after the oldest queued item,
to form larger batches (a throughput setting; 0 by default).

The queue is bounded twice: by items (`max_queue_items`) and by the expected wait of a new item (queued items x the
measured seconds per item / the threads, `max_queue_wait_s`). A request that would exceed either is refused at once with
`Overloaded` (503 with Retry-After): the excess is shed quickly instead of every request waiting longer and longer.
A refusal at `max_queue_wait_s` or `max_queue_items` starts shedding (`service.shedding`): while the overload lasts
the expected-wait bound is the tighter `shedding_queue_wait_s`, so that admitted requests keep their latency.

No work for nobody: a request may carry a deadline (event-loop time). One whose deadline is nearer than its
expected wait is refused at once (504); queued items whose deadline has passed, or whose request was cancelled
(its client disconnected, or the request timed out), are dropped before inference and counted in
`scenario_serve_dropped_items_total`.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from service import metrics
from service.classifier import Inference
from service.config import DEFAULTS
from service.errors import Overloaded, RequestTimeout
from service.hot_pool import HotThreadPool
from service.shedding import LoadShedder

COST_WINDOW = 16  # recent batches whose median seconds per item is the cost estimate (one slow batch moves it not)
MIN_RETRY_AFTER_S = 1  # Retry-After is whole seconds (RFC 9110)
INFERENCE_NICENESS = 5  # added to the process' niceness for inference threads (CFS weight about a third)


def lower_thread_priority() -> None:
    """Inference threads yield the CPU to the event loops: under overload a worker runs more inference threads
    than there are cores, and the loop that parses requests and answers 503s must not wait behind them."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INFERENCE_NICENESS)
    except OSError:  # not permitted (or not Linux): the thread keeps the process' priority
        pass


@dataclass(frozen=True)
class BatchLimits:
    """How a variant's batcher forms batches and bounds its queue."""

    max_batch_size: int = DEFAULTS.max_batch_size
    max_batch_s: float = DEFAULTS.max_batch_ms / 1000.0  # a batch's expected run time caps its items (0: no cap)
    max_latency_s: float = DEFAULTS.max_latency_ms / 1000.0
    max_queue_items: int = DEFAULTS.max_queue_items
    max_queue_wait_s: float = DEFAULTS.max_queue_wait_ms / 1000.0
    shedding_queue_wait_s: float = DEFAULTS.shedding_queue_wait_ms / 1000.0  # the bound while shedding
    shedding_hold_s: float = DEFAULTS.shedding_hold_s  # shortest shedding, the window judging its end (0: never)
    concurrency: int = DEFAULTS.batch_concurrency()  # batches that may run at once, each on its own thread


@dataclass
class _Queued:
    items: list[Any]
    future: asyncio.Future[Inference]
    enqueued: float
    deadline: float | None  # event-loop time after which nobody waits for the answer

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


class MicroBatcher:
    """Batches the queued items of one variant and runs them on its own inference thread."""

    def __init__(self, name: str, infer: Callable[[list[Any]], Inference], limits: BatchLimits) -> None:
        self.name = name
        self.infer = infer
        self.limits = limits
        self._costs: deque[float] = deque(maxlen=COST_WINDOW)  # seconds per item of recent batches
        self._executor = HotThreadPool(limits.concurrency, f"infer-{name}", initializer=lower_thread_priority)
        self._queue: deque[_Queued] = deque()
        self._queued_items = 0
        self._running_items = 0
        self._running_batches: set[asyncio.Task[None]] = set()  # batches started by the batch loop
        self._busy_threads = 0
        self._shedder = LoadShedder(limits.shedding_hold_s)
        self._shedding_published = False
        self._shedding_check: asyncio.TimerHandle | None = None
        self._queued_gauge = metrics.labelled(metrics.QUEUED_ITEMS, variant=name)
        self._shedding_gauge = metrics.labelled(metrics.SHEDDING, variant=name)
        self._batch_sizes = metrics.labelled(metrics.BATCH_SIZE, variant=name)
        self._inference_seconds = metrics.labelled(metrics.INFERENCE_DURATION, variant=name)
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    # -- admission --

    @property
    def queued_items(self) -> int:
        return self._queued_items

    @property
    def seconds_per_item(self) -> float | None:
        """The median seconds per item of the recent batches; None until the first batch ran."""
        return statistics.median(self._costs) if self._costs else None

    def expected_wait_s(self, extra_items: int = 0) -> float:
        """How long a new request's last item would wait: everything ahead of it and itself, at the measured
        seconds per item, shared by the inference threads (0 before the first batch: nothing is known yet, so
        nothing is refused on that ground)."""
        per_item = self.seconds_per_item or 0.0
        return per_item * (self._running_items + self._queued_items + extra_items) / self.limits.concurrency

    def batch_item_cap(self) -> int:
        """Items one batch may hold: `max_batch_size`, and no more than fit in `max_batch_s` at the measured seconds
        per item (at least one; `max_batch_size` alone before the first batch ran, or when `max_batch_s` is 0)."""
        limits, per_item = self.limits, self.seconds_per_item
        if not limits.max_batch_s or not per_item:
            return limits.max_batch_size
        return max(1, min(limits.max_batch_size, int(limits.max_batch_s / per_item)))

    def queue_wait_bound_s(self, shedding: bool) -> float:
        """The expected wait beyond which a request is refused: `max_queue_wait_s`, or while shedding the tighter
        of it and `shedding_queue_wait_s`."""
        limits = self.limits
        return min(limits.max_queue_wait_s, limits.shedding_queue_wait_s) if shedding else limits.max_queue_wait_s

    def admit(self, count: int, seconds_left: float | None = None) -> None:
        """Refuse (Overloaded) a request of `count` items that the bounded queue cannot take, and (RequestTimeout)
        one whose deadline, `seconds_left` from now, is nearer than its expected wait."""
        now = time.monotonic()
        shedding = self._shedding(now)
        limits = self.limits
        if self._queued_items + count > limits.max_queue_items:
            self._refuse(now, "queue_items", f"{self._queued_items} items queued; at most {limits.max_queue_items}")
        if self._queued_items + self._running_items > 0:  # an idle runtime starts at once: nothing ahead to wait for
            self._admit_wait(now, count, self.queue_wait_bound_s(shedding), seconds_left)
        self._shedder.record(now, refused=False)

    def _admit_wait(self, now: float, count: int, bound: float, seconds_left: float | None) -> None:
        wait = self.expected_wait_s(count)
        if wait > bound:
            reason = "shedding" if bound < self.limits.max_queue_wait_s else "queue_wait"
            self._refuse(now, reason, f"expected wait {wait * 1000:.0f} ms; at most {bound * 1000:.0f} ms ({reason})")
        if seconds_left is not None and wait > seconds_left:
            metrics.REJECTIONS.labels(variant=self.name, reason="deadline").inc()
            raise RequestTimeout(
                f"{self.name} cannot answer within the request's deadline (expected wait {wait * 1000:.0f} ms, "
                f"{max(seconds_left, 0) * 1000:.0f} ms left)",
                limit=round(max(seconds_left, 0) * 1000),
            )

    def _shedding(self, now: float) -> bool:
        """Whether the variant sheds now, published as `scenario_serve_shedding` when that changed."""
        shedding = self._shedder.active(now)
        if shedding != self._shedding_published:
            self._shedding_gauge.set(int(shedding))
            self._shedding_published = shedding
            if shedding:
                self._recheck_shedding_later()
        return shedding

    def _recheck_shedding_later(self) -> None:
        """While shedding, look again every `shedding_hold_s`: the gauge returns to 0 when requests stop coming."""
        loop = asyncio.get_running_loop()
        self._shedding_check = loop.call_later(self.limits.shedding_hold_s, self._recheck_shedding)

    def _recheck_shedding(self) -> None:
        if self._shedding(time.monotonic()):
            self._recheck_shedding_later()

    def _refuse(self, now: float, reason: str, detail: str) -> None:
        metrics.REJECTIONS.labels(variant=self.name, reason=reason).inc()
        self._shedder.record(now, refused=True)
        if reason != "shedding":
            self._shedder.overflowed(now)
            self._shedding(now)
        retry_after = max(MIN_RETRY_AFTER_S, math.ceil(self.expected_wait_s()))
        raise Overloaded(f"{self.name} is overloaded ({detail}); retry later", retry_after_s=retry_after)

    # -- submitting --

    async def submit(self, items: Sequence[Any], deadline: float | None = None) -> Inference:
        """The inference of `items`, in order; refused at once when the queue is full or the deadline (event-loop
        time) cannot be met. Large requests are split into batch-sized chunks that may run in different batches."""
        loop = asyncio.get_running_loop()
        self.admit(len(items), None if deadline is None else deadline - loop.time())
        if self._runs_at_once(len(items)):
            return await self._run_at_once(items, loop.create_future(), loop.time(), deadline)
        self._start(loop)
        futures = []
        size = self.batch_item_cap()
        for start in range(0, len(items), size):
            chunk = list(items[start : start + size])
            queued = _Queued(chunk, loop.create_future(), loop.time(), deadline)
            self._queue.append(queued)
            self._queued_items += len(chunk)
            futures.append(queued.future)
        self._queued_gauge.set(self._queued_items)
        assert self._wakeup is not None
        self._wakeup.set()
        return Inference.concatenate(await asyncio.gather(*futures))

    def _runs_at_once(self, count: int) -> bool:
        """Whether a request of `count` items can skip the queue: an inference thread is free, nothing is queued, it
        fits in one batch, and no companion wait is configured."""
        free = self._busy_threads < self.limits.concurrency and not self._queue
        return free and count <= self.batch_item_cap() and self.limits.max_latency_s == 0

    async def _run_at_once(
        self, items: Sequence[Any], future: asyncio.Future[Inference], now: float, deadline: float | None
    ) -> Inference:
        queued = _Queued(list(items), future, now, deadline)
        self._busy_threads += 1
        await self._execute([queued])
        return future.result()

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._run(), name=f"batcher:{self.name}")

    async def close(self) -> None:
        for task in [self._worker, *self._running_batches]:
            if task is None:
                continue
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._worker = None
        self._running_batches.clear()
        if self._shedding_check is not None:
            self._shedding_check.cancel()
        while self._queue:
            self._queue.popleft().future.cancel()
        self._queued_items = 0
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- the batch loop --

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue or self._busy_threads >= self.limits.concurrency:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.limits.max_latency_s > 0 and not self._busy_threads:
                await self._hold_for_companions(loop)
            batch = self._take()
            if batch:
                self._busy_threads += 1  # counted now: the loop must not start more batches than threads
                task = loop.create_task(self._execute(batch), name=f"batch:{self.name}")
                self._running_batches.add(task)
                task.add_done_callback(self._running_batches.discard)

    async def _hold_for_companions(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._wakeup is not None
        deadline = self._queue[0].enqueued + self.limits.max_latency_s
        while self._queued_items < self.batch_item_cap() and (remaining := deadline - loop.time()) > 0:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Queued]:
        """The next batch: queued requests in order up to `batch_item_cap()` items, dropping those nobody awaits."""
        batch: list[_Queued] = []
        size, cap = 0, self.batch_item_cap()
        now = asyncio.get_running_loop().time()
        while self._queue and (not batch or size + len(self._queue[0].items) <= cap):
            queued = self._queue.popleft()
            self._queued_items -= len(queued.items)
            if self._still_awaited(queued, now):
                batch.append(queued)
                size += len(queued.items)
        self._queued_gauge.set(self._queued_items)
        return batch

    def _still_awaited(self, queued: _Queued, now: float) -> bool:
        """False (and the items counted as dropped) when the request was cancelled or its deadline passed."""
        if not queued.future.done() and not queued.expired(now):
            return True
        reason = "deadline" if queued.expired(now) else "disconnected"
        if not queued.future.done():
            queued.future.set_exception(RequestTimeout("the request's deadline passed while it was queued"))
        metrics.DROPPED_ITEMS.labels(variant=self.name, reason=reason).inc(len(queued.items))
        return False

    async def _execute(self, batch: list[_Queued]) -> None:
        """Run one batch on an inference thread, which the caller has counted busy (and this frees)."""
        items = [item for queued in batch for item in queued.items]
        self._running_items += len(items)
        self._batch_sizes.observe(len(items))
        started = time.perf_counter()
        try:
            result, runtime_s = await asyncio.get_running_loop().run_in_executor(self._executor, self._timed, items)
        except Exception as exc:  # handed to every waiting request; mapped to a 500 there
            for queued in batch:
                if not queued.future.done():
                    queued.future.set_exception(exc)
            return
        finally:
            elapsed = time.perf_counter() - started
            self._running_items -= len(items)
            self._busy_threads -= 1
            if self._queue and self._wakeup is not None:
                self._wakeup.set()  # requests queued behind a batch that ran from a request's own task
        self._inference_seconds.observe(runtime_s)
        self._learn_cost(elapsed, len(items))  # with the hand-offs: what the next request waits for
        offset = 0
        for queued in batch:
            count = len(queued.items)
            if not queued.future.done():  # the client may have gone away
                queued.future.set_result(result.rows(offset, offset + count))
            offset += count

    def _timed(self, items: list[Any]) -> tuple[Inference, float]:
        """Run on the inference thread: the batch's result and the seconds it took there, without the hand-offs
        to and from the event loop (so a request's duration minus this is the server's own share)."""
        started = time.perf_counter()
        result = self.infer(items)
        return result, time.perf_counter() - started

    def _learn_cost(self, seconds: float, items: int) -> None:
        self._costs.append(seconds / items)
