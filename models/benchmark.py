"""measure: MLPerf-style load patterns on every stored variant, written once to a Measurements JSON.

What is measured is what is served. For each variant:
- served (the numbers `select` uses for single-stream and server scenarios, and memory): a real `bentoml serve`
  of this service with the variant routed (`models.served`: same app, workers, threads, batcher and queue
  settings as production), driven over HTTP on loopback by `models.loadgen`:
  - single-stream: one request at a time, back to back; latency percentiles and a 101-point CDF.
  - server: open-loop Poisson arrivals of one-item requests, latency from each *scheduled* arrival (LoadGen).
    Per (p99 bound, target rate): `repeats` trials at the target (the median-p99 one is recorded, with the
    spread), then a bounded search for the highest rate whose p99 stays within the bound, confirmed by repeats.
    A trial stops early once enough queries are over the bound (or failed) that the p99 must be too.
  - memory: the peak resident memory (VmHWM) of the worker process that served the variant.
- in process (a separate column, and offline): the variant loaded with `service.classifier.load_classifier` in a
  fresh spawned process; single-stream back to back, and offline throughput of full batches at each batch size.

The schema of the output is documented in the project's shared schemas (`scenario-serve/measurements`, v2).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import re
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.loadgen import latency_summary

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    import bentoml

    from models.catalog import Catalog, Task

SCHEMA = "scenario-serve/measurements"
VERSION = 2

MIN_OFFLINE_BATCHES = 2
CHILD_TIME_ALLOWANCE_S = 900.0  # loading, imports and slow models; on top of the planned measuring time
EXIT_GRACE_S = 10.0  # a measuring process that has answered gets this long to exit before it is stopped
REJECTED = "rejected"
VERSIONED_PACKAGES = ("torch", "onnxruntime", "transformers", "bentoml", "numpy")
CPU_FLAG_PREFIXES = ("avx512", "avx2", "amx")


class MeasurementError(RuntimeError):
    """A measurement cannot run or failed, or a measurements file is unusable; the message says which and why."""


# --- what to measure -------------------------------------------------------------------------------------------


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


def served_config() -> dict[str, Any]:
    """The settings the measured server runs with (SCENARIO_SERVE_* of this environment, else the defaults)."""
    from service.config import ServiceConfig

    config = ServiceConfig.from_env()
    keys = ("threads", "max_batch_size", "max_latency_ms", "max_batch_tokens", "max_queue_items", "max_queue_wait_ms")
    return {key: getattr(config, key) for key in keys}


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how often to measure; the defaults are the full run, `quick()` a CI-sized one."""

    seed: int = 0
    warmup: int = 10
    min_samples: int = 200
    max_samples: int = 1000
    single_stream_seconds: float = 10.0
    trial_seconds: float = 6.0
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
    def quick(cls) -> "MeasureSettings":
        """A CI-sized run: short phases and few search steps (numbers are noisier, the shape is the same)."""
        return cls(
            warmup=3,
            min_samples=30,
            max_samples=200,
            single_stream_seconds=0.5,
            trial_seconds=1.0,
            min_queries=30,
            search_steps=2,
            repeats=1,
            offline_seconds=0.3,
        )

    @property
    def sample_count(self) -> int:
        """Test-split items drawn for a task (cycled when a phase needs more)."""
        return max(self.warmup + self.max_samples, max(self.batch_sizes))


def settings_record(settings: MeasureSettings) -> dict[str, Any]:
    return {
        "seed": settings.seed,
        "single_stream": {
            "warmup": settings.warmup,
            "min_samples": settings.min_samples,
            "max_samples": settings.max_samples,
            "max_seconds": settings.single_stream_seconds,
        },
        "server": {
            "trial_seconds": settings.trial_seconds,
            "min_queries": settings.min_queries,
            "search_steps": settings.search_steps,
            "repeats": settings.repeats,
        },
        "service": served_config(),
        "offline": {"batch_sizes": list(settings.batch_sizes), "max_seconds": settings.offline_seconds},
    }


# --- pure helpers: statistics, arrivals, search ----------------------------------------------------------------


def sample_items(items: Sequence[Any], count: int, seed: int) -> list[Any]:
    """`count` items of the test split in a seeded random order (every item once before any repeats)."""
    if not items:
        raise MeasurementError("the task's test split is empty")
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < count:
        order.extend(int(i) for i in rng.permutation(len(items)))
    return [items[i] for i in order[:count]]


def cycled(items: Sequence[Any], start: int, size: int) -> list[Any]:
    return [items[(start + i) % len(items)] for i in range(size)]


# --- inside the measuring process ------------------------------------------------------------------------------

Infer = Callable[[list[Any]], np.ndarray]
Progress = Callable[[str], None]


def _status_kb(key: str) -> int | None:
    """A memory figure of this process from /proc/self/status (Linux), in kB."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    found = re.search(rf"^{key}:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    VmHWM, not `ru_maxrss`: Linux carries ru_maxrss over fork + exec, so a spawned child would report its
    parent's peak. VmHWM belongs to the process's own address space, which exec makes new.
    """
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb * 1024 / 1e6


def single_stream(infer: Infer, items: Sequence[Any], settings: MeasureSettings) -> dict[str, Any]:
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
    return latency_summary(samples)


def offline_batch(infer: Infer, items: Sequence[Any], batch_size: int, seconds: float) -> dict[str, Any]:
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
    return {"throughput_rps": round(done / elapsed, 3), "items": done, "seconds": round(elapsed, 4)}


def offline(infer: Infer, items: Sequence[Any], settings: MeasureSettings) -> dict[str, Any]:
    by_size = {
        str(size): offline_batch(infer, items, size, settings.offline_seconds) for size in settings.batch_sizes
    }
    best = max(by_size, key=lambda size: by_size[size]["throughput_rps"])
    return {"by_batch_size": by_size, "best_batch_size": int(best), "throughput_rps": by_size[best]["throughput_rps"]}


@dataclass(frozen=True)
class Job:
    """One (variant, threads) measurement, as sent to its process."""

    name: str
    task: str
    model_dir: str
    metadata: dict[str, Any]
    threads: int
    items: list[Any]
    targets: tuple[ServerTarget, ...]
    settings: MeasureSettings

    @property
    def label(self) -> str:
        return f"{self.name} @ {self.threads} thread{'s' if self.threads != 1 else ''}"


def run_job(job: Job, progress: Progress) -> dict[str, Any]:
    """In process: load the variant as the service does, then single-stream and offline on it."""
    from service.classifier import load_classifier

    baseline = peak_rss_mb()
    started = time.perf_counter()
    classifier = load_classifier(Path(job.model_dir), job.metadata, threads=job.threads)
    infer = classifier.probabilities
    progress(f"{job.label}: loaded in {time.perf_counter() - started:.1f} s; in-process single-stream")
    latency = single_stream(infer, job.items, job.settings)
    progress(f"{job.label}: in-process single-stream p50 {latency['p50_ms']:.2f} ms; offline")
    throughput = offline(infer, job.items, job.settings)
    progress(f"{job.label}: offline {throughput['throughput_rps']:.1f} items/s (batch {throughput['best_batch_size']})")
    peak = peak_rss_mb()
    return {
        "single_stream": latency,
        "offline": throughput,
        "memory": {"baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(peak, 1),
                   "model_rss_mb": round(peak - baseline, 1)},
    }


def child_main(job: Job, connection: "Connection") -> None:
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


METHOD = {
    "single_stream": "HTTP, a real `bentoml serve` of the service routing only this variant, one request at a time",
    "server": "HTTP, open-loop Poisson arrivals against that server, latency from the scheduled arrival; "
    "repeated trials at the target (median p99 and spread)",
    "offline": "in process, full batches back to back through the service's classifier",
    "memory": "peak RSS (VmHWM) of the server's worker process",
    "in_process": "the variant's classifier called directly in a fresh process (no HTTP, no batcher)",
}


def measure_run(job: Job, kind: str, log: Callable[[str], None]) -> dict[str, Any]:
    """One (variant, threads): in process (offline, reference single-stream), then served over HTTP."""
    from models.served_measure import measure_served

    local = measure_in_process(job, log)
    estimate = local["offline"]["throughput_rps"] or 1000.0 / local["single_stream"]["mean_ms"]
    served = measure_served(
        job.task, kind, job.name, job.items, job.targets, estimate, job.settings, job.threads, lambda line: log(f"  {line}")
    )
    return {
        "threads": job.threads,
        "method": METHOD,
        "memory": {
            "peak_rss_mb": served["worker_peak_rss_mb"],
            "torch_imported": served["torch_imported"],
            "in_process": local["memory"],
        },
        "single_stream": served["single_stream"],
        "offline": local["offline"],
        "server": served["server"],
        "in_process": {"single_stream": local["single_stream"]},
    }


def measure_in_process(job: Job, log: Callable[[str], None], time_limit_s: float | None = None) -> dict[str, Any]:
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
            if kind == "error":
                raise MeasurementError(f"measuring {job.label} failed:\n{payload}")
            return dict(payload)
    finally:
        receiver.close()
        if process.is_alive():  # timed out, or interrupted
            process.terminate()
        process.join(EXIT_GRACE_S)


# --- tasks and variants ----------------------------------------------------------------------------------------


def gate_of(metadata: dict[str, Any]) -> dict[str, Any]:
    return dict(metadata.get("gate") or {})


def variant_record(model: "bentoml.Model") -> dict[str, Any]:
    """The stored facts of a variant (what it is, its quality and size), before its runs are added."""
    metadata = model.info.metadata
    evaluation = metadata.get("eval") or {}
    return {
        "candidate": metadata.get("candidate"),
        "variant": metadata.get("variant"),
        "runtime": metadata.get("runtime"),
        "precision": metadata.get("precision"),
        "model_version": str(model.tag.version),
        "reference": metadata.get("reference"),
        "quality": {
            "accuracy": evaluation.get("accuracy"),
            "macro_f1": evaluation.get("macro_f1"),
            "gate": gate_of(metadata).get("status", "unknown"),
        },
        "size_mb": round(float(metadata.get("size_bytes", 0)) / 1e6, 3),
        "runs": {},
    }


def run_summary(name: str, run: dict[str, Any]) -> str:
    """One line per measured run: what a scenario would look at first."""
    single, offline = run["single_stream"], run["offline"]
    servers = ", ".join(
        f"max {s['max_rate_rps']:g} rps at p99 <= {s['p99_bound_ms']:g} ms" for s in run["server"]
    ) or "no server targets"
    return (
        f"{name} @ {run['threads']} thread(s): single-stream p50 {single['p50_ms']:.2f} ms, "
        f"p99 {single['p99_ms']:.2f} ms; {servers}; offline {offline['throughput_rps']:.1f} items/s "
        f"(batch {offline['best_batch_size']}); peak RSS {run['memory']['peak_rss_mb']:.0f} MB"
    )


def stored_variants(task: str) -> list["bentoml.Model"]:
    from models.store import list_variants

    models = list_variants(task)
    if not models:
        raise MeasurementError(
            f"no stored variants for task {task!r}; run `scenario-serve prepare --tasks {task}` first"
        )
    return models


def measure_task(
    name: str, task: "Task", plan: TaskPlan, settings: MeasureSettings, log: Callable[[str], None]
) -> dict[str, Any]:
    from models.datasets import load_task_data

    models = stored_variants(name)
    data = load_task_data(task)
    items = sample_items(data.test.items, settings.sample_count, settings.seed)
    rejected = {m.tag.name: str(gate_of(m.info.metadata).get("reason", "rejected by the accuracy gate"))
                for m in models if gate_of(m.info.metadata).get("status") == REJECTED}
    measured = [m for m in models if m.tag.name not in rejected]
    log(f"{name}: measuring {len(measured)} variant(s) at {list(plan.threads)} thread(s) on "
        f"{len(data.test.items)} test rows" + (f"; skipping gate-rejected {sorted(rejected)}" if rejected else ""))
    variants: dict[str, Any] = {}
    for model in measured:
        metadata = dict(model.info.metadata)
        stored_split = (metadata.get("test_split") or {}).get("fingerprint")
        if stored_split != data.test_fingerprint:
            log(f"  warning: {model.tag.name} was evaluated on test split {stored_split}, the data now gives "
                f"{data.test_fingerprint}; run `scenario-serve prepare --tasks {name}` to refresh it")
        record = variant_record(model)
        for threads in plan.threads:
            job = Job(model.tag.name, name, str(model.path), metadata, threads, items, plan.server_targets, settings)
            run = measure_run(job, task.kind, log)
            record["runs"][str(threads)] = run
            log(run_summary(model.tag.name, run))
        variants[model.tag.name] = record
    return {
        "kind": task.kind,
        "test_split": {"fingerprint": data.test_fingerprint, "rows": len(data.test.items)},
        "plan": plan_record(plan),
        "variants": variants,
        "rejected": rejected,
    }


def plan_record(plan: TaskPlan) -> dict[str, Any]:
    return {
        "threads": list(plan.threads),
        "server_targets": [{"p99_bound_ms": t.p99_bound_ms, "target_rps": t.target_rps} for t in plan.server_targets],
    }


# --- the machine and the software ------------------------------------------------------------------------------


def _proc_field(path: str, key: str) -> str | None:
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def hardware() -> dict[str, Any]:
    flags = (_proc_field("/proc/cpuinfo", "flags") or "").split()
    memory_kb = (_proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0]
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "logical_cores": os.cpu_count(),
        "memory_gb": round(int(memory_kb) * 1024 / 1e9, 1),
        "machine": platform.machine(),
        "cpu_flags": sorted(f for f in flags if f.startswith(CPU_FLAG_PREFIXES) or "vnni" in f),
    }


def versions() -> dict[str, str | None]:
    from models.store import package_versions

    return package_versions(*VERSIONED_PACKAGES)


# --- the run and its file --------------------------------------------------------------------------------------


def measure(
    catalog: "Catalog",
    plans: dict[str, TaskPlan],
    settings: MeasureSettings,
    command: str = "",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure every planned task's stored, non-rejected variants; the whole Measurements document."""
    unknown = sorted(set(plans) - set(catalog.tasks))
    if unknown:
        raise MeasurementError(f"unknown task(s) {unknown}; the catalog has {sorted(catalog.tasks)}")
    for name, plan in plans.items():
        if not plan.threads or min(plan.threads) < 1:
            raise MeasurementError(f"task {name!r}: the plan needs thread counts >= 1, got {plan.threads}")
    started = time.perf_counter()
    tasks = {name: measure_task(name, catalog.tasks[name], plan, settings, log) for name, plan in plans.items()}
    count = sum(len(task["variants"]) for task in tasks.values())
    log(f"measured {count} variant(s) in {time.perf_counter() - started:.0f} s")
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "hardware": hardware(),
        "versions": versions(),
        "settings": settings_record(settings),
        "tasks": tasks,
    }


def write_measurements(data: dict[str, Any], path: Path) -> None:
    """Write the document atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def reusable_measurements(path: Path, settings: MeasureSettings) -> dict[str, Any] | None:
    """The file at `path` when it was measured with these settings, on this machine and software; else None."""
    try:
        data = load_measurements(path)
    except MeasurementError:
        return None
    if data["settings"] != settings_record(settings) or data.get("versions") != versions():
        return None
    return data if same_machine(data.get("hardware") or {}, hardware()) else None


def stale_plans(existing: dict[str, Any] | None, plans: dict[str, TaskPlan]) -> dict[str, TaskPlan]:
    """The tasks whose recorded measurements are missing or no longer current (plan, variants, rejections)."""
    recorded = (existing or {}).get("tasks", {})
    return {name: plan for name, plan in plans.items() if name not in recorded or not task_current(recorded[name], plan, name)}


def merge_measurements(existing: dict[str, Any] | None, fresh: dict[str, Any]) -> dict[str, Any]:
    """`fresh` (header and its tasks) plus the tasks of `existing` it did not measure again."""
    kept = {name: task for name, task in (existing or {}).get("tasks", {}).items() if name not in fresh["tasks"]}
    return {**fresh, "tasks": {**kept, **fresh["tasks"]}}


def measurements_current(path: Path, plans: dict[str, TaskPlan], settings: MeasureSettings) -> bool:
    """True when `path` already holds what `measure(catalog, plans, settings)` would measure now: the same
    plans and settings, on this machine and software, of the variant versions (and rejections) now stored."""
    existing = reusable_measurements(path, settings)
    return existing is not None and not stale_plans(existing, plans)


def same_machine(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    keys = ("cpu", "logical_cores", "machine", "cpu_flags")
    return all(recorded.get(key) == current.get(key) for key in keys)


def task_current(recorded: dict[str, Any], plan: TaskPlan, task: str) -> bool:
    """The recorded task was measured with `plan`, on the latest stored version of every variant of `task`."""
    from models.store import list_variants

    if recorded.get("plan") != plan_record(plan):
        return False
    stored = {m.tag.name: (str(m.tag.version), gate_of(m.info.metadata).get("status")) for m in list_variants(task)}
    rejected = {name for name, (_, status) in stored.items() if status == REJECTED}
    measured = {name: version for name, (version, status) in stored.items() if status != REJECTED}
    recorded_versions = {name: v.get("model_version") for name, v in (recorded.get("variants") or {}).items()}
    return bool(stored) and set(recorded.get("rejected") or {}) == rejected and recorded_versions == measured


def load_measurements(path: Path) -> dict[str, Any]:
    """Read a Measurements document; a missing, unreadable or foreign file raises an error naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MeasurementError(f"measurements not found: {path}; run `scenario-serve measure` first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MeasurementError(f"{path}: not a readable JSON file ({exc})") from None
    found = data.get("schema") if isinstance(data, dict) else None
    if found != SCHEMA:
        raise MeasurementError(f"{path}: not a measurements file (schema {found!r}, expected {SCHEMA!r})")
    if data.get("version") != VERSION:
        raise MeasurementError(
            f"{path}: measurements version {data.get('version')!r}, this code reads version {VERSION}; "
            "run `scenario-serve measure` again"
        )
    if not isinstance(data.get("tasks"), dict):
        raise MeasurementError(f"{path}: no 'tasks' mapping")
    return data
