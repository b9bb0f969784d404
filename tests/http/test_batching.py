"""The per-variant micro-batcher, driven directly on an event loop (no HTTP)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from service.engine import MicroBatcher


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[int] = set()
        self.fail = fail

    def __call__(self, items: list[int]) -> np.ndarray:
        self.threads.add(threading.get_ident())
        self.batches.append(list(items))
        if self.fail:
            raise RuntimeError("runtime exploded")
        return np.asarray([[float(item)] for item in items])


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_requests_form_batches_up_to_max_batch_size():
    recorder = Recorder()

    async def scenario() -> list[np.ndarray]:
        batcher = MicroBatcher("v", recorder, max_batch_size=4, max_latency_s=0.2)
        try:
            return await asyncio.gather(*(batcher.submit([i]) for i in range(6)))
        finally:
            await batcher.close()

    results = run(scenario())
    assert [r.ravel().tolist() for r in results] == [[float(i)] for i in range(6)]  # each gets its own rows
    assert [len(batch) for batch in recorder.batches] == [4, 2]
    assert threading.get_ident() not in recorder.threads  # inference ran off the event loop thread


def test_large_request_is_split_and_reassembled_in_order():
    recorder = Recorder()

    async def scenario() -> np.ndarray:
        batcher = MicroBatcher("v", recorder, max_batch_size=3, max_latency_s=0.0)
        try:
            return await batcher.submit(list(range(7)))
        finally:
            await batcher.close()

    assert run(scenario()).ravel().tolist() == [float(i) for i in range(7)]
    assert all(len(batch) <= 3 for batch in recorder.batches)
    assert sum(len(batch) for batch in recorder.batches) == 7


def test_zero_latency_does_not_wait_for_companions():
    recorder = Recorder()

    async def scenario() -> float:
        batcher = MicroBatcher("v", recorder, max_batch_size=32, max_latency_s=0.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await batcher.submit([1])
            return loop.time() - started
        finally:
            await batcher.close()

    assert run(scenario()) < 0.5
    assert recorder.batches == [[1]]


def test_runtime_errors_reach_every_request_of_the_batch_and_the_batcher_survives():
    recorder = Recorder(fail=True)

    async def scenario() -> None:
        batcher = MicroBatcher("v", recorder, max_batch_size=8, max_latency_s=0.05)
        try:
            outcomes = await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True)
            assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
            recorder.fail = False
            assert (await batcher.submit([3])).ravel().tolist() == [3.0]
        finally:
            await batcher.close()

    run(scenario())


@pytest.mark.parametrize("latency", [0.0, 0.01])
def test_sequential_requests_each_get_answered(latency):
    recorder = Recorder()

    async def scenario() -> list[float]:
        batcher = MicroBatcher("v", recorder, max_batch_size=4, max_latency_s=latency)
        try:
            return [float((await batcher.submit([i]))[0, 0]) for i in range(5)]
        finally:
            await batcher.close()

    assert run(scenario()) == [0.0, 1.0, 2.0, 3.0, 4.0]
