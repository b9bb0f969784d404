"""A scenario's limits, and what a route of `selection.json` records of its scenario (its load and limits).

`models.scenarios.Constraints` (the scenario file) and `RouteConstraints` (the selection file: written by `select`,
read by the service, the report and the load tests) share the one definition of the limits here. Unset keys are left
out when written (the file and GET /v1/scenarios show only what is set).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from service.contracts.common import Strict, absent_if_none

LoadPattern = Literal["single-stream", "server", "offline"]
Quantile = Literal["p50", "p95", "p99"]


def unset(**constraints: Any) -> Any:
    """An optional key, None (and not written) when unset."""
    return Field(None, exclude_if=absent_if_none, **constraints)


class Limits(Strict):
    """Every limit a variant's measurements must meet; unset ones do not apply."""

    p50_latency_ms: float | None = unset(gt=0)
    p95_latency_ms: float | None = unset(gt=0)
    p99_latency_ms: float | None = unset(gt=0)
    min_throughput_rps: float | None = unset(gt=0)
    min_accuracy: float | None = unset(ge=0, le=1)
    min_macro_f1: float | None = unset(ge=0, le=1)
    max_quality_drop: float | None = unset(ge=0, description="macro-F1 points below the task's best variant")
    max_model_mb: float | None = unset(gt=0)
    max_memory_mb: float | None = unset(gt=0, description="peak resident memory of a process serving it")

    def active(self) -> dict[str, float]:
        """The limits that are set, in declaration order."""
        return {name: value for name in Limits.model_fields if (value := getattr(self, name)) is not None}

    def latency_limit(self, quantile: Quantile) -> float | None:
        """The bound on that latency quantile; None when unset."""
        return {"p50": self.p50_latency_ms, "p95": self.p95_latency_ms, "p99": self.p99_latency_ms}[quantile]


class RouteLoad(Strict):
    """How a scenario's requests arrive, and the intra-op threads its variant was measured (and is served) with."""

    load_pattern: LoadPattern | None = unset()
    target_rps: float | None = unset(gt=0, description="server only: the arrival rate, requests/s")
    threads: int | None = unset(ge=1)


class RouteConstraints(Limits, RouteLoad):  # bases in this order: the load's keys come first, as select writes them
    """A route's record of its scenario: its load, then its limits (select writes all it knows; a hand-written
    selection may set any of them, or none)."""
