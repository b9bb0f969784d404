"""Scenarios: per task, named deployment situations (load pattern, constraints, objective), validated from YAML.

A scenario follows MLPerf Inference's load patterns: `single-stream` (one request at a time), `server`
(Poisson arrivals at `target_rps`, bounded p99 latency) and `offline` (everything at once, throughput).
`select` filters the measured variants by the constraints and ranks the survivors by the objective.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from models.catalog import format_validation_error
from service.contracts.common import Strict
from service.contracts.constraints import Limits, LoadPattern

DEFAULT_SCENARIOS = Path(__file__).with_name("scenarios.yaml")
SLUG = r"^[a-z0-9][a-z0-9-]*$"

Objective = Literal["maximize_quality", "minimize_latency", "maximize_throughput", "minimize_size"]
OBJECTIVES: tuple[Objective, ...] = ("maximize_quality", "minimize_latency", "maximize_throughput", "minimize_size")
LATENCY_CONSTRAINTS = ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms")


THREADS_REMOVED = (
    "threads are no longer set per scenario: the service runs every variant with SCENARIO_SERVE_THREADS, and "
    "`measure` measures the served path with that same setting"
)


class ScenarioError(ValueError):
    """The scenario file is missing, not YAML, or fails validation; the message names the key."""


class Load(Strict):
    """How requests arrive: one at a time, Poisson arrivals at a target rate, or all at once."""

    pattern: LoadPattern
    target_rps: float | None = Field(None, gt=0, description="server only: the arrival rate to hold, requests/s")

    @model_validator(mode="after")
    def _rate_only_for_server(self) -> Load:
        if self.pattern == "server" and self.target_rps is None:
            raise ValueError("target_rps: required for the server pattern")
        if self.pattern != "server" and self.target_rps is not None:
            raise ValueError(f"target_rps: only the server pattern has one, not {self.pattern}")
        return self


class Constraints(Limits):
    """Every constraint a variant's measurements must meet; unset ones do not apply."""

    @model_validator(mode="before")
    @classmethod
    def _no_threads(cls, data: object) -> object:
        if isinstance(data, dict) and "threads" in data:
            raise ValueError(THREADS_REMOVED)
        return data


class Scenario(Strict):
    description: str = ""
    load: Load
    constraints: Constraints = Constraints()
    objective: Objective
    tie_breaks: list[Objective] | None = Field(
        None, description="objectives that order variants tied on the objective (default: the other three)"
    )
    tie_tolerance: float = Field(
        0.05, ge=0, lt=1, description="relative difference in latency, throughput or size that counts as a tie"
    )
    quality_tie_points: float = Field(0.1, ge=0, description="macro-F1 points that count as a tie")

    @model_validator(mode="after")
    def _coherent(self) -> Scenario:
        if self.load.pattern == "server" and self.constraints.p99_latency_ms is None:
            raise ValueError("constraints.p99_latency_ms: required for the server pattern (the latency bound)")
        if self.load.pattern == "offline":
            latency = [name for name in LATENCY_CONSTRAINTS if getattr(self.constraints, name) is not None]
            if latency:
                raise ValueError(
                    f"constraints.{latency[0]}: offline measures throughput only; use single-stream or server"
                )
            if self.objective == "minimize_latency":
                raise ValueError("objective: minimize_latency needs a single-stream or server pattern")
        if self.tie_breaks and self.objective in self.tie_breaks:
            raise ValueError(f"tie_breaks: repeats the objective {self.objective}")
        return self

    @property
    def ranking(self) -> tuple[Objective, ...]:
        """The objective, then its tie-breaks."""
        rest = self.tie_breaks if self.tie_breaks is not None else [o for o in OBJECTIVES if o != self.objective]
        return (self.objective, *rest)


class TaskScenarios(Strict):
    default_scenario: str
    scenarios: dict[Annotated[str, Field(pattern=SLUG)], Scenario] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_exists(self) -> TaskScenarios:
        if self.default_scenario not in self.scenarios:
            raise ValueError(f"default_scenario: {self.default_scenario!r} is not one of {', '.join(self.scenarios)}")
        return self


class ScenarioFile(Strict):
    max_fallbacks: int = Field(2, ge=0, le=10, description="next-best feasible variants kept per route")
    tasks: dict[Annotated[str, Field(pattern=SLUG)], TaskScenarios] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_default_threads(cls, data: object) -> object:
        if isinstance(data, dict) and "default_threads" in data:
            raise ValueError("default_threads: " + THREADS_REMOVED)
        return data


def parse_scenarios(raw: object, source: Path) -> ScenarioFile:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{source}: expected a mapping with a 'tasks' key")
    try:
        return ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, source, "scenarios")) from None


def load_scenarios(path: Path = DEFAULT_SCENARIOS) -> ScenarioFile:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"scenario file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse_scenarios(raw, Path(path))


def measurement_needs(scenarios: ScenarioFile, task: str) -> tuple[tuple[float, float], ...]:
    """What `measure` must run for a task's server scenarios: (p99 bound ms, target rps) pairs."""
    servers: set[tuple[float, float]] = set()
    for scenario in scenarios.tasks[task].scenarios.values():
        if scenario.load.pattern == "server":
            assert scenario.constraints.p99_latency_ms is not None and scenario.load.target_rps is not None
            servers.add((scenario.constraints.p99_latency_ms, scenario.load.target_rps))
    return tuple(sorted(servers))
