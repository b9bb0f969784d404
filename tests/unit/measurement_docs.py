"""Measurements documents for tests, in the shape `measure` writes (`service.contracts.Measurements`): every key
present, numbers chosen by the test. Not a test module."""

from __future__ import annotations

from typing import Any

from models.machine import hardware, versions
from models.measure_plan import METHODS, MeasureSettings, settings_record
from models.records import SCHEMA, VERSION

RUNTIMES = {"torch-fp32": ("torch", "fp32"), "onnx-fp32": ("onnxruntime", "fp32"), "onnx-int8": ("onnxruntime", "int8")}


def latency(p50: float, p95: float, p99: float, mean: float | None = None, samples: int = 300) -> dict[str, Any]:
    """A single-stream summary (`models.latency.latency_summary`) with a three-point CDF."""
    return {
        "samples": samples,
        "mean_ms": mean if mean is not None else p95 * 0.8,
        "p50_ms": p50,
        "p90_ms": (p50 + p95) / 2,
        "p95_ms": p95,
        "p99_ms": p99,
        "cdf_ms": [p50 / 2, p50, p99],
    }


def trial(rate: float, p99: float, bound: float, queries: int = 100) -> dict[str, Any]:
    """One server trial whose every query was answered 200."""
    return {
        "rate_rps": rate,
        "queries": queries,
        "achieved_rps": rate,
        "outcomes": {"200": queries},
        "p99_ms_by_outcome": {"200": p99},
        "p50_ms": p99 / 2,
        "p95_ms": p99 * 0.8,
        "p99_ms": p99,
        "issue_lateness_p50_ms": 0.05,
        "meets_bound": p99 <= bound,
        "stopped_early": False,
    }


def server(bound: float, target: float, max_rate: float, p99_at_target: float) -> dict[str, Any]:
    """One server target: the trial at the target, and the best rate found (0 when none met the bound)."""
    at_target = trial(target, p99_at_target, bound)
    trials = [at_target] + ([trial(max_rate, bound * 0.9, bound)] if max_rate > target else [])
    return {
        "p99_bound_ms": bound,
        "target_rps": target,
        "max_rate_rps": max_rate,
        "at_target": at_target,
        "trials": trials,
    }


def run(
    threads: int,
    single_stream: dict[str, Any],
    *,
    offline_rps: float = 200.0,
    best_batch_size: int = 8,
    memory_mb: float = 400.0,
    torch_imported: bool = False,
    servers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "threads": threads,
        "method": METHODS.model_dump(),
        "memory": {
            "peak_rss_mb": memory_mb,
            "torch_imported": torch_imported,
            "in_process": {"baseline_rss_mb": 100.0, "peak_rss_mb": memory_mb, "model_rss_mb": memory_mb - 100.0},
        },
        "single_stream": single_stream,
        "offline": {
            "by_batch_size": {
                "1": {"throughput_rps": offline_rps / 2, "items": 10, "seconds": 1.0},
                str(best_batch_size): {"throughput_rps": offline_rps, "items": 80, "seconds": 1.0},
            },
            "best_batch_size": best_batch_size,
            "throughput_rps": offline_rps,
        },
        "server": servers or [],
        "in_process": {"single_stream": single_stream},
    }


def variant(
    kind: str, f1: float, size_mb: float, runs: list[dict[str, Any]], model_version: str = "v1"
) -> dict[str, Any]:
    runtime, precision = RUNTIMES[kind]
    return {
        "candidate": "c",
        "variant": kind,
        "runtime": runtime,
        "precision": precision,
        "model_version": model_version,
        "reference": None if kind == "torch-fp32" else "c-torch-fp32",
        "quality": {"accuracy": min(1.0, f1 + 0.02), "macro_f1": f1, "gate": "accepted"},
        "size_mb": size_mb,
        "runs": {str(r["threads"]): r for r in runs},
    }


def task(
    variants: dict[str, dict[str, Any]],
    rejected: dict[str, str] | None = None,
    threads: tuple[int, ...] = (1,),
    targets: tuple[tuple[float, float], ...] = (),
    kind: str = "text",
) -> dict[str, Any]:
    return {
        "kind": kind,
        "test_split": {"fingerprint": "0123456789abcdef", "rows": 2000},
        "plan": {
            "threads": list(threads),
            "server_targets": [{"p99_bound_ms": bound, "target_rps": rate} for bound, rate in targets],
        },
        "variants": variants,
        "rejected": rejected or {},
    }


def document(
    tasks: dict[str, Any], settings: MeasureSettings | None = None, served_threads: int | None = None
) -> dict[str, Any]:
    """A whole document as `measure` writes it on this machine (its hardware, versions and service settings); with
    `served_threads`, the server measured with that many threads instead of this environment's setting."""
    recorded = settings_record(settings or MeasureSettings.quick()).model_dump(mode="json")
    if served_threads is not None:
        recorded["service"]["threads"] = served_threads
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "generated_at": "2026-11-30T00:00:00Z",
        "command": "pytest",
        "hardware": hardware(),
        "versions": versions(),
        "settings": recorded,
        "tasks": tasks,
    }
