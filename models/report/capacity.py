"""The capacity plan: per scenario, the replicas that serve a rate, and the autoscaler bounds that follow.

One replica is one process serving the pick as it was measured (one worker, the scenario's thread count).
Only the server pattern measures a rate within a latency bound (the highest Poisson arrival rate whose p99
met the scenario's bound), so only server scenarios get replica counts; single-stream measures one request
at a time and offline has no latency bound, and their rows say so rather than guess.

    replicas = ceil(rate / (per-replica rate x (1 - headroom)))

Headroom (default 30%) keeps each replica below its measured limit: the p99 bound was met at that rate on the
measuring machine, Poisson bursts and noisy neighbours on a shared node do not announce themselves, and an
autoscaler adds pods only after the rate has risen (plus the time a new pod needs to load and warm up).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from service.contracts.report import AutoscalerBounds, CapacityPlan, ScenarioCapacity
from service.routing import ScenarioSelection, Selection, parse_selection

DEFAULT_HEADROOM = 0.3
THRESHOLD_DECIMALS = 1  # the autoscaler's per-pod threshold (requests/s) is rounded down to this many decimals

NOT_SERVER = {
    "single-stream": "single-stream: measured one request at a time, no rate within a bound",
    "offline": "offline: throughput without a latency bound, not a served rate",
}
NO_RATE = "no measured rate meets the p99 bound"
NO_PATTERN = "no load pattern recorded"


def replicas_for(rate_rps: float, usable_rps: float) -> int:
    """ceil(rate / usable rate per replica), at least one; rounding noise (1.0000000001) does not add a pod."""
    return max(1, math.ceil(round(rate_rps / usable_rps, 9)))


def scenario_capacity(
    task: str, scenario: str, route: ScenarioSelection, headroom: float, peak_rps: float | None
) -> ScenarioCapacity:
    load = route.constraints
    evidence = route.select_evidence()
    rate = evidence.metrics.throughput_rps if evidence is not None and evidence.metrics is not None else None
    server = load.load_pattern == "server"
    usable = rate * (1 - headroom) if server and rate else None
    return ScenarioCapacity(
        task=task,
        scenario=scenario,
        variant=route.variant,
        load_pattern=load.load_pattern,
        threads=load.threads,
        p99_bound_ms=load.p99_latency_ms if server else None,
        per_replica_rps=rate if usable else None,
        usable_rps=None if usable is None else round(usable, 3),
        target_rps=load.target_rps,
        target_replicas=replicas_for(load.target_rps, usable) if usable and load.target_rps else None,
        peak_replicas=replicas_for(peak_rps, usable) if usable and peak_rps else None,
        note=row_note(load.load_pattern, usable),
    )


def row_note(pattern: str | None, usable_rps: float | None) -> str | None:
    """Why a row has no replica counts; None when it has them."""
    if pattern != "server":
        return NOT_SERVER.get(pattern or "", NO_PATTERN)
    return None if usable_rps else NO_RATE


def rounded_down(value: float, decimals: int) -> float:
    scale = 10**decimals
    return math.floor(value * scale) / scale


def autoscaler_bounds(rows: list[ScenarioCapacity]) -> AutoscalerBounds | None:
    """Threshold from the scenario with the lowest usable rate per replica; replica bounds from all of them."""
    sized = [(row.usable_rps, row) for row in rows if row.usable_rps is not None]
    if not sized:
        return None
    usable, tightest = min(sized, key=lambda item: item[0])
    targets = [row.target_replicas for _, row in sized if row.target_replicas is not None]
    peaks = [row.peak_replicas for _, row in sized if row.peak_replicas is not None]
    min_replicas = max(targets, default=1)
    return AutoscalerBounds(
        task=tightest.task,
        scenario=tightest.scenario,
        threshold_rps=rounded_down(usable, THRESHOLD_DECIMALS),
        min_replicas=min_replicas,
        max_replicas=max(min_replicas, *peaks) if peaks else None,
    )


def capacity_plan(
    selection: Selection | Mapping[str, Any], *, peak_rps: float | None = None, headroom: float = DEFAULT_HEADROOM
) -> CapacityPlan:
    """The plan of every scenario in the selection file, from the rates its evidence records."""
    parsed = selection if isinstance(selection, Selection) else parse_selection(selection)
    rows = [
        scenario_capacity(task_name, scenario_name, route, headroom, peak_rps)
        for task_name, task in parsed.tasks.items()
        for scenario_name, route in task.scenarios.items()
    ]
    return CapacityPlan(headroom=headroom, peak_rps=peak_rps, rows=rows, autoscaler=autoscaler_bounds(rows))
