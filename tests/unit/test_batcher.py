"""The per-variant micro-batcher, driven directly on an event loop (no HTTP, no models)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from service.batching import BatchLimits, MicroBatcher
from service.classifier import Inference
from service.errors import Overloaded


class Recorder:
    """A fake runtime: item i -> probability row [i]; `delay` seconds per batch; `gate` blocks batches."""

    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.thread_names: set[str] = set()
        self.fail = fail
        self.delay = delay
        self.gate: threading.Event | None = None

    def __call__(self, items: list[int]) -> Inference:
        self.thread_names.add(threading.current_thread().name)
        if self.gate is not None:
            assert self.gate.wait(5)
        self.batches.append(list(items))
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("runtime exploded")
        return Inference(np.asarray([[float(item)] for item in items]), np.asarray([item < 0 for item in items]))


def limits(**overrides: float) -> BatchLimits:
    """One batch at a time unless `concurrency` says otherwise (the service's default is one per CPU), batches capped
    by `max_batch_size` alone unless `max_batch_s` says otherwise (the fake runtime's cost is the test's timing), a
    100 ms queue and no shedding unless `shedding_hold_s` says otherwise."""
    settings = {
        "max_batch_size": 4,
        "max_batch_s": 0.0,
        "max_latency_s": 0.0,
        "concurrency": 1,
        "max_queue_wait_s": 0.1,
        "shedding_hold_s": 0.0,
        **overrides,
    }
    return BatchLimits(**settings)  # type: ignore[arg-type]


def values(result: Inference) -> list[float]:
    return result.probabilities.ravel().tolist()


def test_concurrent_requests_form_batches_up_to_max_batch_size() -> None:
    recorder = Recorder()

    async def scenario() -> list[Inference]:
        batcher = MicroBatcher("v", recorder, limits(max_latency_s=0.2))
        try:
            return await asyncio.gather(*(batcher.submit([i]) for i in range(6)))
        finally:
            await batcher.close()

    results = asyncio.run(scenario())
    assert [values(r) for r in results] == [[float(i)] for i in range(6)]  # each request gets its own rows
    assert [len(batch) for batch in recorder.batches] == [4, 2]


def test_inference_runs_on_the_variants_own_thread_not_the_default_executor() -> None:
    recorder = Recorder()

    async def scenario() -> None:
        batcher = MicroBatcher("v", recorder, limits())
        try:
            await batcher.submit([1])
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert recorder.thread_names and all(name.startswith("infer-v") for name in recorder.thread_names)


def test_large_request_is_split_and_reassembled_in_order_with_its_truncation_flags() -> None:
    recorder = Recorder()

    async def scenario() -> Inference:
        batcher = MicroBatcher("v", recorder, limits(max_batch_size=3))
        try:
            return await batcher.submit([0, -1, 2, 3, -4, 5, 6])
        finally:
            await batcher.close()

    result = asyncio.run(scenario())
    assert values(result) == [0.0, -1.0, 2.0, 3.0, -4.0, 5.0, 6.0]
    assert result.truncated_indices() == [1, 4]
    assert all(len(batch) <= 3 for batch in recorder.batches)


def test_a_lone_request_on_an_idle_runtime_does_not_wait_for_companions() -> None:
    recorder = Recorder()

    async def scenario() -> float:
        batcher = MicroBatcher("v", recorder, limits(max_batch_size=32))
        loop = asyncio.get_running_loop()
        try:
            await batcher.submit([0])  # the worker task and thread exist
            started = loop.time()
            await batcher.submit([1])
            return loop.time() - started
        finally:
            await batcher.close()

    assert asyncio.run(scenario()) < 0.05
    assert recorder.batches == [[0], [1]]


def test_a_lone_request_on_an_idle_runtime_skips_the_queue_and_the_batch_loop() -> None:
    recorder = Recorder()

    async def scenario() -> list[str]:
        batcher = MicroBatcher("v", recorder, limits())
        try:
            for item in range(3):
                assert values(await batcher.submit([item])) == [float(item)]
            return [task.get_name() for task in asyncio.all_tasks()]
        finally:
            await batcher.close()

    assert not any(name.startswith("batcher:") for name in asyncio.run(scenario()))
    assert recorder.batches == [[0], [1], [2]]
    assert recorder.thread_names == {"infer-v_0"}


def test_a_failure_or_cancellation_of_a_request_run_at_once_leaves_the_batcher_serving() -> None:
    recorder = Recorder(fail=True)

    async def scenario() -> None:
        batcher = MicroBatcher("v", recorder, limits())
        try:
            with pytest.raises(RuntimeError, match="exploded"):
                await batcher.submit([1])
            recorder.fail, recorder.gate = False, threading.Event()
            cancelled = asyncio.ensure_future(batcher.submit([2]))
            await asyncio.sleep(0.05)  # on the inference thread, held by the gate
            queued = asyncio.ensure_future(batcher.submit([3]))
            cancelled.cancel()
            recorder.gate.set()
            assert values(await queued) == [3.0]
            assert values(await batcher.submit([4])) == [4.0]
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert recorder.batches == [[1], [2], [3], [4]]  # [2] was on the thread when cancelled: it finished


def test_items_that_queue_while_a_batch_runs_form_the_next_batch() -> None:
    recorder = Recorder()
    recorder.gate = threading.Event()

    async def scenario() -> None:
        batcher = MicroBatcher("v", recorder, limits(max_batch_size=8))
        try:
            first = asyncio.ensure_future(batcher.submit([0]))
            await asyncio.sleep(0.05)  # batch [0] is running, held by the gate
            rest = [asyncio.ensure_future(batcher.submit([i])) for i in range(1, 6)]
            await asyncio.sleep(0.01)
            recorder.gate.set()
            await asyncio.gather(first, *rest)
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]


def test_a_batch_holds_no_more_items_than_fit_in_max_batch_s_at_the_measured_cost() -> None:
    recorder = Recorder()
    recorder.gate = threading.Event()

    async def scenario() -> None:
        batcher = MicroBatcher("v", recorder, limits(max_batch_size=8, max_batch_s=0.025))
        try:
            batcher._costs.extend([0.01] * 16)  # 10 ms per item, as if measured (the gated batch moves it not)
            first = asyncio.ensure_future(batcher.submit([0]))
            await asyncio.sleep(0.05)  # batch [0] is running, held by the gate
            rest = [asyncio.ensure_future(batcher.submit([i])) for i in range(1, 6)]
            large = asyncio.ensure_future(batcher.submit([6, 7, 8]))  # split into chunks of the cap
            await asyncio.sleep(0.01)
            recorder.gate.set()
            results = await asyncio.gather(first, *rest, large)
            assert values(results[-1]) == [6.0, 7.0, 8.0]
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert recorder.batches == [[0], [1, 2], [3, 4], [5], [6, 7], [8]]  # a request's chunks are never re-split


def test_a_request_that_hung_up_while_its_first_chunk_ran_drops_its_queued_chunks() -> None:
    from prometheus_client import REGISTRY

    from service.metric_names import DROPPED_ITEMS

    recorder = Recorder()
    recorder.gate = threading.Event()

    async def scenario() -> None:
        batcher = MicroBatcher("split-then-hung-up", recorder, limits(max_batch_size=8, max_batch_s=0.025))
        try:
            batcher._costs.extend([0.01] * 16)  # 10 ms per item: a cap of 2 items
            hung_up = asyncio.ensure_future(batcher.submit([1, 2, 3, 4, 5]))  # chunks [1, 2], [3, 4], [5]
            await asyncio.sleep(0.05)  # chunk [1, 2] is running, held by the gate
            hung_up.cancel()
            recorder.gate.set()
            assert values(await batcher.submit([6])) == [6.0]
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert recorder.batches == [[1, 2], [6]]  # the running chunk finished; the queued ones never ran
    labels = {"variant": "split-then-hung-up", "reason": "disconnected"}
    assert REGISTRY.get_sample_value(DROPPED_ITEMS, labels) == 3


@pytest.mark.parametrize(
    ("max_batch_s", "per_item_s", "cap"),
    [(0.025, 0.01, 2), (0.025, 0.001, 8), (0.025, 0.1, 1), (0.0, 0.01, 8), (0.025, None, 8)],
)
def test_the_batch_item_cap_is_max_batch_size_bounded_by_the_time_budget(
    max_batch_s: float, per_item_s: float | None, cap: int
) -> None:
    batcher = MicroBatcher("v", Recorder(), limits(max_batch_size=8, max_batch_s=max_batch_s))
    if per_item_s is not None:
        batcher._costs.append(per_item_s)
    assert batcher.batch_item_cap() == cap


class Overlap(Recorder):
    """A Recorder that counts the batches running at once (each still waits at `gate`, when set)."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, items: list[int]) -> Inference:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            return super().__call__(items)
        finally:
            with self.lock:
                self.running -= 1


def test_with_two_threads_two_batches_run_at_once_and_the_rest_queue_for_the_next() -> None:
    overlap = Overlap()
    overlap.gate = threading.Event()

    async def scenario() -> list[Inference]:
        batcher = MicroBatcher("v", overlap, limits(max_batch_size=8, concurrency=2))
        try:
            first = [asyncio.ensure_future(batcher.submit([i])) for i in (0, 1)]
            while overlap.running < 2:  # both lone requests run at once, each on a thread of its own
                await asyncio.sleep(0.005)
            rest = [asyncio.ensure_future(batcher.submit([i])) for i in range(2, 6)]
            await asyncio.sleep(0.02)
            assert batcher.queued_items == 4  # no third batch while both threads are busy
            overlap.gate.set()
            return await asyncio.gather(*first, *rest)
        finally:
            await batcher.close()

    results = asyncio.run(scenario())
    assert [values(r) for r in results] == [[float(i)] for i in range(6)]
    assert sorted(map(sorted, overlap.batches)) == [[0], [1], [2, 3, 4, 5]]
    assert overlap.most_at_once == 2 and len(overlap.thread_names) == 2


def test_never_more_batches_at_once_than_threads() -> None:
    overlap = Overlap()
    overlap.delay = 0.01

    async def scenario() -> None:
        batcher = MicroBatcher("v", overlap, limits(max_batch_size=1, concurrency=3))
        try:
            await asyncio.gather(*(batcher.submit([i]) for i in range(12)))
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert sorted(item for batch in overlap.batches for item in batch) == list(range(12))
    assert overlap.most_at_once == 3


def test_the_expected_wait_is_shared_by_the_threads() -> None:
    one, two = (
        MicroBatcher("a", Recorder(), limits(concurrency=1)),
        MicroBatcher("b", Recorder(), limits(concurrency=2)),
    )
    for batcher in (one, two):
        batcher._costs.append(0.01)  # 10 ms per item, as if measured
        batcher._queued_items = 6
    assert one.expected_wait_s(2) == pytest.approx(0.08) and two.expected_wait_s(2) == pytest.approx(0.04)


def test_a_full_queue_refuses_at_once_with_retry_after_and_admitted_requests_complete() -> None:
    recorder = Recorder()
    recorder.gate = threading.Event()

    async def scenario() -> tuple[list[object], float]:
        batcher = MicroBatcher("v", recorder, limits(max_batch_size=2, max_queue_items=3))
        loop = asyncio.get_running_loop()
        try:
            running = asyncio.ensure_future(batcher.submit([0]))
            await asyncio.sleep(0.05)
            queued = [asyncio.ensure_future(batcher.submit([i])) for i in (1, 2, 3)]
            await asyncio.sleep(0)
            started = loop.time()
            with pytest.raises(Overloaded) as refused:
                await batcher.submit([4])
            refusal_s = loop.time() - started
            assert refused.value.status == 503 and refused.value.retry_after_s >= 1
            recorder.gate.set()
            return await asyncio.gather(running, *queued), refusal_s
        finally:
            await batcher.close()

    results, refusal_s = asyncio.run(scenario())
    assert [values(r) for r in results] == [[0.0], [1.0], [2.0], [3.0]]  # nothing admitted was lost
    assert refusal_s < 0.01


def test_the_expected_wait_bound_refuses_once_the_measured_cost_says_the_queue_is_too_long() -> None:
    recorder = Recorder(delay=0.02)

    async def scenario() -> tuple[int, float]:
        batcher = MicroBatcher("v", recorder, limits(max_batch_size=1, max_queue_wait_s=0.1))
        try:
            await batcher.submit([0])  # learns the cost: about 20 ms per item
            per_item = batcher.seconds_per_item
            assert per_item is not None and per_item >= 0.02
            outcomes = await asyncio.gather(*(batcher.submit([i]) for i in range(20)), return_exceptions=True)
            return sum(isinstance(outcome, Overloaded) for outcome in outcomes), per_item
        finally:
            await batcher.close()

    refused, per_item = asyncio.run(scenario())
    # the k-th queued request expects k x per_item seconds; those over 0.1 s are refused, the first always runs
    admitted = max(1, int(0.1 / per_item))
    assert refused == 20 - admitted


def test_an_idle_variant_admits_a_request_whatever_its_measured_cost() -> None:
    recorder = Recorder(delay=0.05)

    async def scenario() -> None:
        batcher = MicroBatcher("v", recorder, limits(max_batch_size=4, max_queue_wait_s=0.01))
        try:
            await batcher.submit([0, 1, 2])
            await batcher.submit([3, 4, 5])  # expected 150 ms > 10 ms, but nothing is ahead of it
        finally:
            await batcher.close()

    asyncio.run(scenario())


def test_runtime_errors_reach_every_request_of_the_batch_and_the_batcher_survives() -> None:
    recorder = Recorder(fail=True)

    async def scenario() -> None:
        batcher = MicroBatcher("v", recorder, limits(max_batch_size=8, max_latency_s=0.05))
        try:
            outcomes = await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True)
            assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
            recorder.fail = False
            assert values(await batcher.submit([3])) == [3.0]
        finally:
            await batcher.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("latency", [0.0, 0.01])
def test_sequential_requests_each_get_answered(latency: float) -> None:
    recorder = Recorder()

    async def scenario() -> list[float]:
        batcher = MicroBatcher("v", recorder, limits(max_latency_s=latency))
        try:
            return [values(await batcher.submit([i]))[0] for i in range(5)]
        finally:
            await batcher.close()

    assert asyncio.run(scenario()) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_inference_duration_is_the_inference_threads_time_and_the_learned_cost_includes_the_hand_offs() -> None:
    from prometheus_client import REGISTRY

    from service.metric_names import INFERENCE_DURATION

    recorder = Recorder(delay=0.05)

    async def scenario() -> float | None:
        batcher = MicroBatcher("timed-on-its-thread", recorder, limits())
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, time.sleep, 0.15)  # the event loop is busy when the batch's result comes back
        try:
            await batcher.submit([1])
            return batcher.seconds_per_item
        finally:
            await batcher.close()

    learned = asyncio.run(scenario())
    labels = {"variant": "timed-on-its-thread"}
    assert REGISTRY.get_sample_value(f"{INFERENCE_DURATION}_count", labels) == 1
    assert 0.045 <= REGISTRY.get_sample_value(f"{INFERENCE_DURATION}_sum", labels) < 0.12  # type: ignore[operator]
    assert learned is not None and learned >= 0.15  # a request waits for the loop too: admission counts it


def shedding_gauge(variant: str) -> float | None:
    from prometheus_client import REGISTRY

    from service.metric_names import SHEDDING

    return REGISTRY.get_sample_value(SHEDDING, {"variant": variant})


def rejections(variant: str, reason: str) -> float:
    from prometheus_client import REGISTRY

    from service.metric_names import REJECTIONS

    return REGISTRY.get_sample_value(REJECTIONS, {"variant": variant, "reason": reason}) or 0.0


async def queued_behind_a_running_batch(batcher: MicroBatcher, recorder: Recorder, queued: int) -> list[bool]:
    """Submit `queued` one-item requests while one runs (held by the gate), at 20 ms per item (as if measured): the
    k-th expects (1 + k) x 20 ms. Which of all were refused (Overloaded)."""
    batcher._costs.clear()
    batcher._costs.extend([0.02] * 16)
    recorder.gate = threading.Event()
    running = asyncio.ensure_future(batcher.submit([0]))
    await asyncio.sleep(0.02)
    waiting = [asyncio.ensure_future(batcher.submit([i])) for i in range(1, queued + 1)]
    await asyncio.sleep(0.01)
    recorder.gate.set()
    results = await asyncio.gather(running, *waiting, return_exceptions=True)
    assert not any(isinstance(result, Exception) and not isinstance(result, Overloaded) for result in results)
    return [isinstance(result, Overloaded) for result in results]


def test_a_refusal_at_the_queue_bound_starts_shedding_at_the_tighter_bound_until_the_overload_ends() -> None:
    name = "v-shedding"
    recorder = Recorder()
    settings = limits(max_batch_size=1, max_queue_wait_s=0.1, shedding_queue_wait_s=0.03, shedding_hold_s=0.2)

    async def scenario() -> None:
        batcher = MicroBatcher(name, recorder, settings)
        try:
            assert await queued_behind_a_running_batch(batcher, recorder, 1) == [False, False]  # 40 ms <= 100 ms
            assert shedding_gauge(name) in (None, 0)
            # 40, 60, 80, 100 ms admitted; 120 ms refused at the queue bound, which starts shedding; so is the next
            assert await queued_behind_a_running_batch(batcher, recorder, 6) == [False] * 5 + [True] * 2
            assert rejections(name, "queue_wait") == 1 and rejections(name, "shedding") == 1
            assert shedding_gauge(name) == 1
            assert await queued_behind_a_running_batch(batcher, recorder, 1) == [False, True]  # 40 ms > 30 ms now
            await asyncio.sleep(0.5)  # no request for longer than the hold: the re-check ends shedding
            assert shedding_gauge(name) == 0
            assert await queued_behind_a_running_batch(batcher, recorder, 1) == [False, False]  # 100 ms again
        finally:
            await batcher.close()

    asyncio.run(scenario())


def test_with_a_hold_of_zero_a_refusal_never_starts_shedding() -> None:
    name = "v-no-shedding"
    recorder = Recorder()
    settings = limits(max_batch_size=1, max_queue_wait_s=0.05, shedding_queue_wait_s=0.001, shedding_hold_s=0.0)

    async def scenario() -> None:
        batcher = MicroBatcher(name, recorder, settings)
        try:
            assert await queued_behind_a_running_batch(batcher, recorder, 3) == [False, False, True, True]
            assert await queued_behind_a_running_batch(batcher, recorder, 1) == [False, False]  # 40 ms <= 50 ms
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert rejections(name, "queue_wait") == 2 and rejections(name, "shedding") == 0
    assert shedding_gauge(name) in (None, 0)
