"""measure: MLPerf-style load patterns on every stored variant, written once to a Measurements JSON.

What is measured is what is served. For each variant:
- served (the numbers `select` uses for single-stream and server scenarios, and memory): a real `bentoml serve`
  of this service with the variant routed (`models.served`: same app, workers, threads, batcher and queue
  settings as production), driven over HTTP on loopback by `models.loadgen`:
  - single-stream: one request at a time, back to back; latency percentiles and a 101-point CDF.
  - server: open-loop Poisson arrivals of one-item requests, latency from each *scheduled* arrival (LoadGen).
    Per (p99 bound, target rate): `repeats` trials at the target, their latencies pooled (each repeat's p99
    and their spread beside), then a bounded search for the highest rate whose p99 stays within the bound,
    confirmed by repeats.
    A trial stops early once enough queries are over the bound (or failed) that the p99 must be too.
  - memory: the peak resident memory (VmHWM) of the worker process that served the variant.
- in process (a separate column, and offline): the variant loaded with `service.classifier.load_classifier` in a
  fresh spawned process; single-stream back to back, and offline throughput of full batches at each batch size.

The output is a `service.contracts.Measurements` document (`scenario-serve/measurements`, v2).
The parts: what to measure (`models.measure_plan`), the in-process harness (`models.harness`), the served
half (`models.served_measure`), the document and its staleness (`models.records`), the machine (`models.machine`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from models.harness import Job, measure_in_process
from models.machine import hardware, versions
from models.measure_plan import (
    METHODS,
    MeasurementError,
    MeasureSettings,
    TaskPlan,
    plan_record,
    sample_items,
    settings_record,
)
from models.records import stored_metadata, variant_record
from service.contracts import GateStatus, Measurements, Run, TaskMeasurements, VariantMeasurements
from service.contracts.measurements import Hardware, InProcess, Memory, SplitRecord

if TYPE_CHECKING:
    import bentoml

    from models.catalog import Catalog, Task


def measure_run(job: Job, kind: str, log: Callable[[str], None]) -> Run:
    """One (variant, threads): in process (offline, reference single-stream), then served over HTTP."""
    from models.served_measure import measure_served

    local = measure_in_process(job, log)
    estimate = local.offline.throughput_rps or 1000.0 / local.single_stream.mean_ms
    served = measure_served(
        job.task,
        kind,
        job.name,
        job.items,
        job.targets,
        estimate,
        job.settings,
        job.threads,
        lambda line: log(f"  {line}"),
        lambda: job.load_classifier().probabilities,
    )
    return Run(
        threads=job.threads,
        method=METHODS,
        memory=Memory(
            peak_rss_mb=served.worker_peak_rss_mb, torch_imported=served.torch_imported, in_process=local.memory
        ),
        single_stream=served.single_stream.http,
        server_share=served.single_stream.share,
        offline=local.offline,
        server=served.server,
        in_process=InProcess(single_stream=local.single_stream, beside_http=served.single_stream.direct),
    )


def run_summary(name: str, run: Run) -> str:
    """One line per measured run: what a scenario would look at first."""
    single, offline = run.single_stream, run.offline
    servers = (
        ", ".join(f"max {s.max_rate_rps:g} rps at p99 <= {s.p99_bound_ms:g} ms" for s in run.server)
        or "no server targets"
    )
    share = "" if run.server_share is None else f" (served overhead {run.server_share.overhead_ms:.2f} ms)"
    excess = run.in_process.http_excess_ms(single)
    if excess is not None:
        share += f", p50 {excess:+.2f} ms over the direct calls beside it"
    return (
        f"{name} @ {run.threads} thread(s): single-stream p50 {single.p50_ms:.2f} ms, "
        f"p99 {single.p99_ms:.2f} ms{share}; {servers}; offline {offline.throughput_rps:.1f} items/s "
        f"(batch {offline.best_batch_size}); peak RSS {run.memory.peak_rss_mb:.0f} MB"
    )


def stored_variants(task: str) -> list[bentoml.Model]:
    from models.store import list_variants

    models = list_variants(task)
    if not models:
        raise MeasurementError(
            f"no stored variants for task {task!r}; run `scenario-serve prepare --tasks {task}` first"
        )
    return models


def measure_task(
    name: str, task: Task, plan: TaskPlan, settings: MeasureSettings, log: Callable[[str], None]
) -> TaskMeasurements:
    from models.datasets import load_task_data

    models = stored_variants(name)
    data = load_task_data(task)
    items = sample_items(data.test.items, settings.sample_count, settings.seed)
    metadata = {m.tag.name: stored_metadata(m) for m in models}
    rejected = {n: meta.gate.reason for n, meta in metadata.items() if meta.gate.status == GateStatus.REJECTED}
    measured = [m for m in models if m.tag.name not in rejected]
    log(
        f"{name}: measuring {len(measured)} variant(s) at {list(plan.threads)} thread(s) on "
        f"{len(data.test.items)} test rows" + (f"; skipping gate-rejected {sorted(rejected)}" if rejected else "")
    )
    variants: dict[str, VariantMeasurements] = {}
    for model in measured:
        meta = metadata[model.tag.name]
        if meta.test_split.fingerprint != data.test_fingerprint:
            log(
                f"  warning: {model.tag.name} was evaluated on test split {meta.test_split.fingerprint}, the data "
                f"now gives {data.test_fingerprint}; run `scenario-serve prepare --tasks {name}` to refresh it"
            )
        runs: dict[int, Run] = {}
        for threads in plan.threads:
            spec = meta.serving_spec()
            job = Job(model.tag.name, name, str(model.path), spec, threads, items, plan.server_targets, settings)
            runs[threads] = measure_run(job, task.kind, log)
            log(run_summary(model.tag.name, runs[threads]))
        variants[model.tag.name] = variant_record(model, meta, runs)
    return TaskMeasurements(
        kind=task.kind,
        test_split=SplitRecord(fingerprint=data.test_fingerprint, rows=len(data.test.items)),
        plan=plan_record(plan),
        variants=variants,
        rejected=rejected,
    )


def measure(
    catalog: Catalog,
    plans: dict[str, TaskPlan],
    settings: MeasureSettings,
    command: str = "",
    log: Callable[[str], None] = print,
) -> Measurements:
    """Measure every planned task's stored, non-rejected variants; the whole measurements document."""
    unknown = sorted(set(plans) - set(catalog.tasks))
    if unknown:
        raise MeasurementError(f"unknown task(s) {unknown}; the catalog has {sorted(catalog.tasks)}")
    for name, plan in plans.items():
        if not plan.threads or min(plan.threads) < 1:
            raise MeasurementError(f"task {name!r}: the plan needs thread counts >= 1, got {plan.threads}")
    started = time.perf_counter()
    tasks = {name: measure_task(name, catalog.tasks[name], plan, settings, log) for name, plan in plans.items()}
    count = sum(len(task.variants) for task in tasks.values())
    log(f"measured {count} variant(s) in {time.perf_counter() - started:.0f} s")
    return Measurements(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        command=command,
        hardware=Hardware.model_validate(hardware()),
        versions=versions(),
        settings=settings_record(settings),
        tasks=tasks,
    )
