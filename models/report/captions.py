"""The headings, captions and reproduce lines that the Markdown and HTML renderers share, as plain text."""

from __future__ import annotations

from collections.abc import Mapping

from models.report.format import fmt_plain, fmt_rate
from service.contracts.measurements import Hardware, MeasurementSettings, Methods
from service.contracts.report import CapacityPlan, LiveHeader, ReportData, ScenarioReport, TaskReport

VARIANTS_NOTE = (
    "★ on the Pareto front of single-stream p99 latency vs macro-F1. Served overhead: the HTTP single-stream's "
    "mean minus the time the same requests spent on the server's inference thread (its own metrics), i.e. HTTP, "
    "middleware, handler, hand-offs and the client. p50 over in-process: the HTTP single-stream's p50 minus the "
    "p50 of the variant called directly in the measuring process, in blocks alternating with the HTTP queries."
)
NO_VARIANTS = "No measured variants."
REJECTED_NOTE = "Rejected by the quality gate (not measured):"


def settings_text(settings: MeasurementSettings) -> list[str]:
    """One line per group of settings (`key: name=value, ...`), one per single setting (`name=value`)."""
    lines = []
    for key, value in settings.model_dump().items():
        if isinstance(value, Mapping):
            lines.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
        else:
            lines.append(f"{key}={value}")
    return lines


def hardware_text(hardware: Hardware) -> str:
    cores = "?" if hardware.logical_cores is None else hardware.logical_cores
    parts = [hardware.cpu, f"{cores} logical cores", f"{hardware.memory_gb} GB memory", hardware.machine]
    if hardware.cpu_flags:
        parts.append("flags " + " ".join(hardware.cpu_flags))
    return ", ".join(p for p in parts if p)


def versions_text(versions: Mapping[str, str | None]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items()) or "not recorded"


def task_heading(name: str, task: TaskReport) -> str:
    split = task.test_split
    details = [str(task.kind or "unknown kind")]
    if split is not None and split.rows is not None:
        details.append(f"test split {split.rows} rows")
    if split is not None and split.fingerprint:
        details.append(f"fingerprint {split.fingerprint}")
    return f"Task `{name}` ({', '.join(details)})"


SERVER_LATENCY = (
    "p99 at the target rate, the median of the repeated trials' p99s (the prediction live checks compare); beside "
    "it their lowest-highest and the p99 of their latencies pooled, which the p99 bound is checked against"
)


def scenario_facts(scenario: ScenarioReport) -> list[tuple[str, str]]:
    """The scenario's load, limits and objective as (label, text); a server scenario's latency column explained."""
    facts = [
        ("Load pattern", scenario.load),
        ("Constraints", ", ".join(scenario.constraints) or "none"),
        ("Objective", scenario.objective or "not recorded"),
    ]
    return facts + [("Latency", SERVER_LATENCY)] if scenario.load_pattern == "server" else facts


def verdict_text(feasible: bool | None) -> str:
    return "infeasible" if feasible is False else "feasible" if feasible else "no evidence"


def methods_text(methods: Methods) -> list[str]:
    """One line per measured quantity: how it was obtained."""
    return [f"{name.replace('_', '-')}: {text}" for name, text in methods.model_dump().items()]


def reproduce_facts(data: ReportData) -> list[tuple[str, str]]:
    """When and where the measurements and the selection were made, as (label, text); the command aside."""
    m, selection = data.measurements, data.selection
    return [
        ("Measured at", str(m.generated_at)),
        ("Selection", f"{selection.generated_by} at {selection.generated_at}"),
        ("Hardware", hardware_text(m.hardware)),
        ("Versions", versions_text(m.versions)),
    ]


def live_caption(live: LiveHeader) -> str:
    return (
        f"Prometheus {live.prometheus}, window {live.window}, queried at {live.queried_at}; "
        f"latency flagged off by more than {live.tolerance:.0%} of the prediction; runtime ms/item: the pick's "
        "inference thread per item, flagged when it moved as much since `measure` (the machine's speed, not the "
        "served path)"
    )


def capacity_caption(plan: CapacityPlan) -> str:
    peak = f"and the peak of {fmt_plain(plan.peak_rps)} rps (--peak-rps)" if plan.peak_rps else "(no --peak-rps given)"
    return (
        f"Replicas = ceil(rate / (per-replica rate × (1 − {plan.headroom:.0%} headroom))), for each scenario's target "
        f"rate {peak}. The per-replica rate is the highest Poisson arrival rate whose p99 met the "
        "scenario's bound in one server of the pick as measured (how: `server` under Reproduce); only the server "
        "pattern measures one."
    )


def autoscaler_text(plan: CapacityPlan) -> str:
    bounds = plan.autoscaler
    if bounds is None:
        return "Autoscaler: no server scenario with a measured rate, nothing to size it by."
    most = "pass --peak-rps to size it" if bounds.max_replicas is None else str(bounds.max_replicas)
    return (
        f"Autoscaler (deploy/kubernetes, KEDA on the total request rate per pod): threshold "
        f"{fmt_rate(bounds.threshold_rps)} rps per pod (the lowest usable rate, {bounds.task}/{bounds.scenario}), "
        f"min replicas {bounds.min_replicas} (the target rates), max replicas {most} (the peak)."
    )
