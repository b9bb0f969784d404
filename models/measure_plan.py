"""What `measure` measures and for how long: server targets, per-task plans, settings, the items it sends.

`settings_record` and `plan_record` are how these appear in the measurements document (`service.contracts.
measurements`), so a later run can tell whether a recorded measurement was made the way it would be made now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.contracts.measurements import (
    MeasurementSettings,
    Methods,
    OfflineSettings,
    ServedSettings,
    ServerSettings,
    SingleStreamSettings,
    TargetPlan,
    TaskPlanRecord,
)

# How each part of a run is measured, written into every run; a file written by another method is re-measured.
METHODS = Methods(
    single_stream="HTTP, a real `bentoml serve` of the service routing only this variant, one request at a time "
    "from a minimal client (one keep-alive socket, prepared requests: no client library's cost); "
    "the same requests' means from the server's own timings (request duration, inference thread) split off the "
    "served path's share",
    server="HTTP (aiohttp client), open-loop Poisson arrivals against that server, latency from the scheduled arrival; "
    "repeated trials at the target (p99 of their pooled latencies, each repeat's p99 as the spread); the highest "
    "rate within the bound searched with single trials, then confirmed by repeated trials (pooled p99), "
    "bisecting below it while it misses; queries issued within microseconds of their scheduled arrivals",
    offline="in process, full batches back to back through the service's classifier",
    memory="peak RSS (VmHWM) of the server's worker process",
    in_process="the variant's classifier called directly (no HTTP, no batcher): in a fresh process of its own "
    "(single-stream, offline), and in the measuring process in blocks of 50 alternating with the HTTP "
    "single-stream's on the same items (beside_http: what the HTTP p50 is compared with)",
)


class MeasurementError(RuntimeError):
    """A measurement cannot run or failed, or a measurements file is unusable; the message says which and why."""


@dataclass(frozen=True)
class ServerTarget:
    """A server scenario's need: p99 latency bound (ms) and the Poisson arrival rate it must hold (items/s)."""

    p99_bound_ms: float
    target_rps: float


@dataclass(frozen=True)
class TaskPlan:
    """What one task's scenarios ask to be measured: thread counts and server (bound, rate) pairs."""

    threads: tuple[int, ...]
    server_targets: tuple[ServerTarget, ...] = ()


def plan_record(plan: TaskPlan) -> TaskPlanRecord:
    return TaskPlanRecord(
        threads=list(plan.threads),
        server_targets=[TargetPlan(p99_bound_ms=t.p99_bound_ms, target_rps=t.target_rps) for t in plan.server_targets],
    )


def served_config() -> ServedSettings:
    """The settings the measured server runs with (SCENARIO_SERVE_* of this environment, else the defaults)."""
    from service.config import ServiceConfig

    config = ServiceConfig.from_env()
    settings = {key: getattr(config, key) for key in ServedSettings.model_fields}
    return ServedSettings.model_validate({**settings, "concurrent_batches": config.batch_concurrency()})


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how often to measure; the defaults are the full run, `quick()` a CI-sized one."""

    seed: int = 0
    warmup: int = 10
    min_samples: int = 200
    max_samples: int = 1000
    single_stream_seconds: float = 10.0
    trial_seconds: float = 6.0
    # The repeats at a server scenario's target rate are what select predicts and `live_check` checks, sized alike:
    # at least 30 s and 1,200 queries each (a p99 of 600 queries, 30 s at 20 rps, is the 6th slowest: the three
    # repeats of one run spread about 15% around their pooled p99, the whole live-check tolerance).
    target_seconds: float = 30.0
    target_queries: int = 1200
    min_queries: int = 200
    search_steps: int = 5
    repeats: int = 3
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    offline_seconds: float = 4.0

    def __post_init__(self) -> None:
        positive = {
            "min_samples": self.min_samples,
            "max_samples": self.max_samples,
            "single_stream_seconds": self.single_stream_seconds,
            "trial_seconds": self.trial_seconds,
            "target_seconds": self.target_seconds,
            "target_queries": self.target_queries,
            "min_queries": self.min_queries,
            "repeats": self.repeats,
            "offline_seconds": self.offline_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"MeasureSettings.{name} must be > 0, got {value}")
        if self.warmup < 0 or self.search_steps < 0:
            raise ValueError("MeasureSettings.warmup and search_steps must be >= 0")
        if self.min_samples > self.max_samples:
            raise ValueError(f"MeasureSettings.min_samples ({self.min_samples}) > max_samples ({self.max_samples})")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError(f"MeasureSettings.batch_sizes must be positive sizes, got {self.batch_sizes}")

    @classmethod
    def quick(cls) -> MeasureSettings:
        """A CI-sized run: short phases and few search steps (numbers are noisier, the shape is the same)."""
        return cls(
            warmup=3,
            min_samples=30,
            max_samples=200,
            single_stream_seconds=0.5,
            trial_seconds=1.0,
            target_seconds=1.0,
            target_queries=30,
            min_queries=30,
            search_steps=2,
            repeats=1,
            offline_seconds=0.3,
        )

    @property
    def sample_count(self) -> int:
        """Test-split items drawn for a task (cycled when a phase needs more)."""
        return max(self.warmup + self.max_samples, max(self.batch_sizes))


def settings_record(settings: MeasureSettings) -> MeasurementSettings:
    return MeasurementSettings(
        seed=settings.seed,
        single_stream=SingleStreamSettings(
            warmup=settings.warmup,
            min_samples=settings.min_samples,
            max_samples=settings.max_samples,
            max_seconds=settings.single_stream_seconds,
        ),
        server=ServerSettings(
            trial_seconds=settings.trial_seconds,
            target_seconds=settings.target_seconds,
            target_queries=settings.target_queries,
            min_queries=settings.min_queries,
            search_steps=settings.search_steps,
            repeats=settings.repeats,
        ),
        service=served_config(),
        offline=OfflineSettings(batch_sizes=list(settings.batch_sizes), max_seconds=settings.offline_seconds),
    )


def sample_items(items: Sequence[Any], count: int, seed: int) -> list[Any]:
    """`count` items of the test split in a seeded random order (every item once before any repeats)."""
    if not items:
        raise MeasurementError("the task's test split is empty")
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < count:
        order.extend(int(i) for i in rng.permutation(len(items)))
    return [items[i] for i in order[:count]]
