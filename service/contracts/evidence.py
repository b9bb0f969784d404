"""Why `select` routed a scenario to its variant: the evidence each route of `selection.json` carries.

Written by `models.select`, read by the report (`models.report`) and shown as is by GET /v1/scenarios. A route's
evidence is either select's (any of its keys present: then all of them, with nothing else, or the file fails
to load naming the key) or a hand-written note (`{}`, `{"note": "..."}`), which carries no evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WrapSerializer

from service.contracts.common import Objective, Strict, absent_if_none

Number = int | float  # as the JSON has it: a thread count stays 4, a latency bound 50.0


class ConstraintFailure(Strict):
    """A constraint a candidate breaks, and by how much; `value` None: not measured (always a failure)."""

    constraint: str
    limit: Number
    value: Number | None
    excess: Number | None
    excess_pct: float = Field(description="excess over the limit, in percent of it; 100 when not measured")


class ScenarioMetrics(Strict):
    """A variant's metrics as the scenario's load pattern sees them (`models.select.scenario_metrics`)."""

    macro_f1: float
    accuracy: float
    quality_drop: float = Field(description="macro-F1 points below the task's best variant")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    latency_ms: float | None = Field(description="the headline latency: p99 for server, p95 otherwise")
    p99_spread_ms: tuple[float, float] | None = Field(
        None,
        exclude_if=absent_if_none,
        description="server: the lowest and highest p99 of the repeated trials at the target rate (p99_ms is "
        "their median)",
    )
    p99_pooled_ms: float | None = Field(
        None,
        exclude_if=absent_if_none,
        description="server: the p99 of the repeated trials' latencies pooled, what the p99 bound is checked "
        "against (a slow minute in one repeat counts against the variant)",
    )
    throughput_rps: float | None = Field(description="server: max rate within the bound; offline: items/s")
    runtime_ms_per_item: float | None = Field(
        None,
        exclude_if=absent_if_none,
        description="the inference thread's ms per item while these latencies were measured (server: the trials "
        "at the target rate; single-stream: its one-item queries): the runtime's speed then, which live checks "
        "compare with the live service's",
    )
    size_mb: float
    memory_mb: float
    threads: int

    @property
    def bound_p99_ms(self) -> float | None:
        """The p99 a `p99_latency_ms` constraint caps: the pooled one where the repeats were pooled."""
        return self.p99_ms if self.p99_pooled_ms is None else self.p99_pooled_ms


# None, `{}` in the file: the variant was not measured at the served thread count
MaybeMetrics = Annotated[
    ScenarioMetrics | None,
    BeforeValidator(lambda value: None if value == {} else value),
    WrapSerializer(lambda value, handler: {} if value is None else handler(value)),
]


class CandidateEvidence(Strict):
    variant: str
    rank: int | None = Field(description="1 for the pick among the feasible; None when infeasible")
    feasible: bool
    metrics: MaybeMetrics
    failures: list[ConstraintFailure]


class MeasurementsRef(Strict):
    path: str
    generated_at: str | None


class SelectionEvidence(Strict):
    """select's record of one route: the verdict, what it was measured against, and every candidate."""

    feasible: bool
    message: str = Field(description="why: the pick meets every constraint, or what no variant meets")
    measurements: MeasurementsRef
    baseline: str = Field(description="the FP32 baseline variant the report compares the pick with")
    best_macro_f1: float
    ranking: list[Objective] = Field(description="the objective, then the tie-breaks")
    metrics: MaybeMetrics = Field(description="the pick's")
    candidates: list[CandidateEvidence] = Field(min_length=1, description="best first")

    def candidate(self, variant: str | None) -> CandidateEvidence | None:
        return next((c for c in self.candidates if c.variant == variant), None)


SELECT_KEYS = frozenset(SelectionEvidence.model_fields)


def is_select_evidence(evidence: Mapping[str, Any]) -> bool:
    """select's evidence (validated in full) rather than a hand-written note: it has any of select's keys."""
    return not SELECT_KEYS.isdisjoint(evidence)


HandNote = dict[str, Any]
"""A hand-written route's evidence (`{}`, `{"note": "..."}`): no evidence, shown as it is written, read by nobody."""


def _select_or_note(value: Any) -> Any:
    if not isinstance(value, Mapping | SelectionEvidence):
        raise ValueError("must be an object: select's evidence or a hand-written note")
    if isinstance(value, Mapping) and is_select_evidence(value):
        return SelectionEvidence.model_validate(value)  # its errors are located under the route's `evidence`
    return value


RouteEvidence = Annotated[SelectionEvidence | HandNote, BeforeValidator(_select_or_note)]
"""A route's evidence: select's, typed (any of its keys present: all of them, nothing else), or a hand-written note."""
