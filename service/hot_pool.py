"""A thread pool that hands each job to the thread that went idle last.

`concurrent.futures.ThreadPoolExecutor` lets its idle threads race for a shared queue, so sparse jobs alternate
between threads (and between the cores they last ran on). An inference thread that ran the previous batch still has
the model's working set in its core's caches; on the 2-core test VM, alternating between two threads added about
half a millisecond to the server's share of each back-to-back one-text request (README, Results). Here the most
recently idle thread takes the next job, a new thread starts only when every started one is busy, and jobs that
find every thread busy wait in order for the first to finish.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from functools import partial
from queue import SimpleQueue
from typing import Any


@dataclass
class _Job:
    future: Future[Any]
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def call(self) -> Callable[[], None]:
        """Run the function (unless the job was cancelled) and return what hands its outcome to the future: the
        worker publishes it only after it is ready for the next job, so a caller that submits again at once finds
        this thread idle."""
        if not self.future.set_running_or_notify_cancel():
            return lambda: None
        try:
            result = self.function(*self.args, **self.kwargs)
        except BaseException as exc:  # handed to whoever awaits the future, as ThreadPoolExecutor does
            return partial(self.future.set_exception, exc)
        return partial(self.future.set_result, result)


@dataclass
class _Worker:
    inbox: SimpleQueue[_Job | None] = field(default_factory=SimpleQueue)


class HotThreadPool(Executor):
    """At most `max_workers` threads named `{thread_name_prefix}_{n}`, each running `initializer` first; the thread
    idle for the shortest time takes the next job."""

    def __init__(self, max_workers: int, thread_name_prefix: str, initializer: Callable[[], None] | None = None):
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._initializer = initializer
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # a stack: the last to go idle is on top
        self._backlog: deque[_Job] = deque()
        self._workers: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        job = _Job(Future(), fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit a job after shutdown")
            if self._idle:
                self._idle.pop().inbox.put(job)
            elif len(self._workers) < self._max_workers:
                self._start(job)
            else:
                self._backlog.append(job)
        return job.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._backlog:
                    self._backlog.popleft().future.cancel()
            for worker in self._workers:
                worker.inbox.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _start(self, first_job: _Job) -> None:
        worker = _Worker()
        worker.inbox.put(first_job)
        thread = threading.Thread(
            target=self._serve, args=(worker,), name=f"{self._prefix}_{len(self._workers)}", daemon=True
        )
        self._workers.append(worker)
        self._threads.append(thread)
        thread.start()

    def _serve(self, worker: _Worker) -> None:
        if self._initializer is not None:
            self._initializer()
        job = worker.inbox.get()
        while job is not None:
            publish = job.call()
            next_job = self._waiting_job_or_idle(worker)
            publish()
            job = next_job or worker.inbox.get()

    def _waiting_job_or_idle(self, worker: _Worker) -> _Job | None:
        """The oldest waiting job, or (none waiting) None with this worker on top of the idle stack."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            self._idle.append(worker)
            return None
