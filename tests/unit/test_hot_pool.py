"""The inference threads' pool: the thread that went idle last takes the next job; threads only when needed."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from service.hot_pool import HotThreadPool


def thread_name() -> str:
    return threading.current_thread().name


def test_sequential_jobs_keep_to_one_thread() -> None:
    pool = HotThreadPool(4, "hot")
    try:
        names = {pool.submit(thread_name).result(timeout=5) for _ in range(20)}
    finally:
        pool.shutdown()
    assert names == {"hot_0"}


def test_the_thread_idle_for_the_shortest_time_takes_the_next_job() -> None:
    pool = HotThreadPool(2, "hot")
    release_first = threading.Event()
    try:
        first = pool.submit(lambda: (release_first.wait(5), thread_name())[1])
        second = pool.submit(thread_name)  # the first thread is busy: a second one starts
        assert second.result(timeout=5) == "hot_1"
        release_first.set()
        assert first.result(timeout=5) == "hot_0"
        names = [pool.submit(thread_name).result(timeout=5) for _ in range(5)]
    finally:
        pool.shutdown()
    assert names == ["hot_0"] * 5  # hot_0 went idle after hot_1


def test_never_more_threads_than_max_workers_and_waiting_jobs_run_in_order() -> None:
    pool = HotThreadPool(2, "hot")
    gate = threading.Event()
    order: list[int] = []
    try:
        blockers = [pool.submit(gate.wait, 5) for _ in range(2)]
        waiting = [pool.submit(order.append, index) for index in range(5)]
        assert not any(job.done() for job in waiting)
        gate.set()
        for job in blockers + waiting:
            job.result(timeout=5)
    finally:
        pool.shutdown()
    assert order == [0, 1, 2, 3, 4]
    assert len(pool._threads) == 2


def test_an_exception_reaches_the_caller_and_the_thread_keeps_serving() -> None:
    def explode() -> None:
        raise ValueError("runtime exploded")

    pool = HotThreadPool(1, "hot")
    try:
        with pytest.raises(ValueError, match="runtime exploded"):
            pool.submit(explode).result(timeout=5)
        assert pool.submit(thread_name).result(timeout=5) == "hot_0"
    finally:
        pool.shutdown()


def test_each_thread_runs_the_initializer_first() -> None:
    started: list[str] = []
    pool = HotThreadPool(1, "hot", initializer=lambda: started.append(thread_name()))
    try:
        pool.submit(thread_name).result(timeout=5)
    finally:
        pool.shutdown()
    assert started == ["hot_0"]


def test_shutdown_cancels_waiting_jobs_when_asked_and_refuses_new_ones() -> None:
    pool = HotThreadPool(1, "hot")
    gate = threading.Event()
    running = pool.submit(gate.wait, 5)
    waiting = pool.submit(thread_name)
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert running.result(timeout=5) is True
    with pytest.raises(CancelledError):
        waiting.result(timeout=5)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(thread_name)
    pool.shutdown(wait=True)
    assert not pool._threads[0].is_alive()


def test_shutdown_without_cancelling_runs_the_waiting_jobs() -> None:
    pool = HotThreadPool(1, "hot")
    gate = threading.Event()
    pool.submit(gate.wait, 5)
    waiting = pool.submit(thread_name)
    pool.shutdown(wait=False)
    gate.set()
    assert waiting.result(timeout=5) == "hot_0"
    pool.shutdown(wait=True)


def test_at_least_one_thread() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HotThreadPool(0, "hot")
