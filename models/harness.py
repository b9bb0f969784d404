"""The in-process half of `measure`: a variant loaded as the service loads it, called directly (no HTTP, no
batcher), in a fresh spawned process of its own; single-stream back to back, and offline throughput of full
batches at each batch size.

The parent supervises the process: progress lines arrive over a pipe, then the result or the child's traceback;
a child that dies (out of memory, a crash in the runtime) or hangs raises an error naming the variant.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.latency import latency_summary
from models.machine import peak_rss_mb
from models.measure_plan import MeasurementError, MeasureSettings, ServerTarget
from service.contracts import ServingSpec
from service.contracts.measurements import LatencySummary, Offline, OfflineBatch, ProcessMemory

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from service.classifier import Classifier

MIN_OFFLINE_BATCHES = 2
CHILD_TIME_ALLOWANCE_S = 900.0  # loading, imports and slow models; on top of the planned measuring time
EXIT_GRACE_S = 10.0  # a measuring process that has answered gets this long to exit before it is stopped

Infer = Callable[[list[Any]], np.ndarray]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Job:
    """One (variant, threads) measurement, as sent to its process."""

    name: str
    task: str
    model_dir: str
    spec: ServingSpec  # what loading the variant takes (its store metadata's serving part)
    threads: int
    items: list[Any]
    targets: tuple[ServerTarget, ...]
    settings: MeasureSettings

    @property
    def label(self) -> str:
        return f"{self.name} @ {self.threads} thread{'s' if self.threads != 1 else ''}"

    def load_classifier(self) -> Classifier:
        """The variant loaded as the service loads it, with this job's intra-op threads."""
        from service.classifier import load_classifier

        return load_classifier(Path(self.model_dir), self.spec, threads=self.threads)


@dataclass(frozen=True)
class InProcessMeasurement:
    """What a job's process measured: single-stream and offline on the classifier called directly, and memory."""

    single_stream: LatencySummary
    offline: Offline
    memory: ProcessMemory


# --- inside the measuring process ------------------------------------------------------------------------------


def cycled(items: Sequence[Any], start: int, size: int) -> list[Any]:
    return [items[(start + i) % len(items)] for i in range(size)]


def single_stream(infer: Infer, items: Sequence[Any], settings: MeasureSettings) -> LatencySummary:
    """One item at a time, back to back, after a warm-up: until max_samples, or the time is up and min_samples."""
    for index in range(settings.warmup):
        infer([items[index % len(items)]])
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < settings.max_samples:
        if len(samples) >= settings.min_samples and time.perf_counter() - started >= settings.single_stream_seconds:
            break
        item = items[(settings.warmup + len(samples)) % len(items)]
        begin = time.perf_counter()
        infer([item])
        samples.append((time.perf_counter() - begin) * 1000.0)
    return LatencySummary.model_validate(latency_summary(samples))


def offline_batch(infer: Infer, items: Sequence[Any], batch_size: int, seconds: float) -> OfflineBatch:
    """Full batches back to back (after one warm-up batch) for `seconds`, at least MIN_OFFLINE_BATCHES of them."""
    infer(cycled(items, 0, batch_size))
    batches, done = 0, 0
    started = time.perf_counter()
    while True:
        infer(cycled(items, done, batch_size))
        batches, done = batches + 1, done + batch_size
        elapsed = time.perf_counter() - started
        if batches >= MIN_OFFLINE_BATCHES and elapsed >= seconds:
            break
    return OfflineBatch(throughput_rps=round(done / elapsed, 3), items=done, seconds=round(elapsed, 4))


def offline(infer: Infer, items: Sequence[Any], settings: MeasureSettings) -> Offline:
    by_size = {size: offline_batch(infer, items, size, settings.offline_seconds) for size in settings.batch_sizes}
    best = max(by_size, key=lambda size: by_size[size].throughput_rps)
    return Offline(by_batch_size=by_size, best_batch_size=best, throughput_rps=by_size[best].throughput_rps)


def run_job(job: Job, progress: Progress) -> InProcessMeasurement:
    """In process: load the variant as the service does, then single-stream and offline on it."""
    baseline = peak_rss_mb()
    started = time.perf_counter()
    classifier = job.load_classifier()
    infer = classifier.probabilities
    progress(f"{job.label}: loaded in {time.perf_counter() - started:.1f} s; in-process single-stream")
    latency = single_stream(infer, job.items, job.settings)
    progress(f"{job.label}: in-process single-stream p50 {latency.p50_ms:.2f} ms; offline")
    throughput = offline(infer, job.items, job.settings)
    progress(f"{job.label}: offline {throughput.throughput_rps:.1f} items/s (batch {throughput.best_batch_size})")
    peak = peak_rss_mb()
    memory = ProcessMemory(
        baseline_rss_mb=round(baseline, 1), peak_rss_mb=round(peak, 1), model_rss_mb=round(peak - baseline, 1)
    )
    return InProcessMeasurement(single_stream=latency, offline=throughput, memory=memory)


def child_main(job: Job, connection: Connection) -> None:
    """Entry point of the measuring process: progress lines, then ("result", run) or ("error", traceback)."""
    try:
        result = run_job(job, lambda line: connection.send(("progress", line)))
        connection.send(("result", result))
    except BaseException:
        connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()


# --- in the parent: one fresh process per measurement ----------------------------------------------------------


def planned_seconds(job: Job) -> float:
    """Upper estimate of the measuring time a job plans (before any slow model stretches it)."""
    s = job.settings
    return s.single_stream_seconds + len(s.batch_sizes) * s.offline_seconds


def measure_in_process(job: Job, log: Callable[[str], None], time_limit_s: float | None = None) -> InProcessMeasurement:
    """Run `job` in a fresh spawned process; its failure, death or hang raises an error naming the variant."""
    limit = time_limit_s if time_limit_s is not None else CHILD_TIME_ALLOWANCE_S + 3.0 * planned_seconds(job)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=child_main, args=(job, sender), name=f"measure {job.name}")
    process.start()
    sender.close()
    deadline = time.monotonic() + limit
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MeasurementError(f"measuring {job.label} gave no result within {limit:.0f} s; stopped it")
            if not receiver.poll(min(remaining, 1.0)):
                continue
            try:
                kind, payload = receiver.recv()
            except EOFError:
                process.join(EXIT_GRACE_S)
                raise MeasurementError(
                    f"the process measuring {job.label} died (exit code {process.exitcode}); "
                    "out of memory or a crash in the runtime?"
                ) from None
            if kind == "progress":
                log(f"  {payload}")
                continue
            process.join(EXIT_GRACE_S)  # it exits right after its result or error
            if kind == "error" or not isinstance(payload, InProcessMeasurement):
                raise MeasurementError(f"measuring {job.label} failed:\n{payload}")
            return payload
    finally:
        receiver.close()
        if process.is_alive():  # timed out, or interrupted
            process.terminate()
        process.join(EXIT_GRACE_S)
