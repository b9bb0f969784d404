"""Routing: (task or input kind, scenario) -> the variant that serves it, with fallbacks.

Pure on purpose: no torch, no BentoML, no I/O beyond reading the selection file, so the routing table can be
validated and tested in milliseconds and reused by offline tools (e.g. the `select` step that writes it).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.contracts import SelectionEvidence, TaskKind
from service.contracts.constraints import RouteConstraints
from service.contracts.evidence import RouteEvidence
from service.field_paths import field_path


class SelectionError(ValueError):
    """The selection file is missing, not JSON, or does not match the schema; the message names the key.

    `key` is the first offending key (e.g. "tasks.sentiment.default_scenario"), None when the file as a whole
    is the problem (missing, unreadable, not JSON)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ScenarioSelection(BaseModel):
    """One scenario of one task: the chosen variant, ordered fallbacks, and why.

    `evidence` is select's (`service.contracts.SelectionEvidence`, validated in full on load) or a hand-written
    note (`service.contracts.evidence.HandNote`); GET /v1/scenarios shows it as it is.
    """

    model_config = ConfigDict(extra="forbid")

    variant: str = Field(min_length=1)
    fallbacks: list[str] = Field(default_factory=list)
    constraints: RouteConstraints = Field(default_factory=RouteConstraints)
    objective: str = ""
    evidence: RouteEvidence = Field(default_factory=dict)

    def select_evidence(self) -> SelectionEvidence | None:
        """select's evidence; None for a hand-written note (or none)."""
        return self.evidence if isinstance(self.evidence, SelectionEvidence) else None

    @model_validator(mode="after")
    def _fallbacks_distinct(self) -> ScenarioSelection:
        chain = [self.variant, *self.fallbacks]
        repeated = sorted({name for name in chain if chain.count(name) > 1})
        if repeated:
            raise ValueError(f"variant listed twice in variant + fallbacks: {', '.join(repeated)}")
        return self

    @property
    def chain(self) -> tuple[str, ...]:
        """The variant, then its fallbacks, in the order they are tried."""
        return (self.variant, *self.fallbacks)


class TaskSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TaskKind
    default_scenario: str
    scenarios: dict[str, ScenarioSelection] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_is_a_scenario(self) -> TaskSelection:
        if self.default_scenario not in self.scenarios:
            raise ValueError(
                f"default_scenario {self.default_scenario!r} is not one of the scenarios: "
                f"{', '.join(sorted(self.scenarios))}"
            )
        return self


class Selection(BaseModel):
    """The whole routing file (`service/selection.json`)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    generated_by: str
    generated_at: str
    tasks: dict[str, TaskSelection] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_task_per_kind(self) -> Selection:
        # Each input kind has one endpoint (/v1/text/classify, /v1/image/classify), so one task per kind.
        by_kind: dict[str, list[str]] = {}
        for task, selection in self.tasks.items():
            by_kind.setdefault(selection.kind, []).append(task)
        shared = {kind: tasks for kind, tasks in by_kind.items() if len(tasks) > 1}
        if shared:
            kind, tasks = next(iter(shared.items()))
            raise ValueError(f"kind {kind!r} is served by several tasks ({', '.join(tasks)}); one task per kind")
        return self

    def routed_variants(self) -> list[str]:
        """Every variant the file names (selected or fallback), first occurrence first, no duplicates."""
        seen: dict[str, None] = {}
        for task in self.tasks.values():
            for scenario in task.scenarios.values():
                seen.update(dict.fromkeys(scenario.chain))
        return list(seen)

    def routes_using(self, variant: str) -> list[str]:
        """`task/scenario` of every route that names this variant."""
        return [
            f"{task_name}/{scenario_name}"
            for task_name, task in self.tasks.items()
            for scenario_name, scenario in task.scenarios.items()
            if variant in scenario.chain
        ]

    def task_of(self, variant: str) -> str | None:
        for task_name, task in self.tasks.items():
            if any(variant in scenario.chain for scenario in task.scenarios.values()):
                return task_name
        return None


def _location(loc: tuple[int | str, ...]) -> str:
    return field_path(loc) or "(top level)"


def parse_selection(data: Any, source: str = "selection") -> Selection:
    try:
        return Selection.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [f"{_location(tuple(e['loc']))}: {e['msg']}" for e in errors]
        raise SelectionError(f"{source}: " + "; ".join(problems), key=_location(tuple(errors[0]["loc"]))) from None


def load_selection(path: Path | str) -> Selection:
    """Read and validate a selection file; every error names the file and the offending key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SelectionError(f"selection file not found: {path}") from None
    except OSError as exc:
        raise SelectionError(f"cannot read selection file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SelectionError(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return parse_selection(data, source=str(path))


# --- routing ------------------------------------------------------------------------------------------------


class UnknownTask(LookupError):
    def __init__(self, name: str, valid: Collection[str]) -> None:
        self.name = name
        self.valid = tuple(sorted(valid))
        super().__init__(f"unknown task or kind {name!r}; valid: {', '.join(self.valid)}")


class UnknownScenario(LookupError):
    def __init__(self, task: str, scenario: str, valid: Collection[str]) -> None:
        self.task = task
        self.scenario = scenario
        self.valid = tuple(sorted(valid))
        super().__init__(f"unknown scenario {scenario!r} for task {task!r}; valid scenarios: {', '.join(self.valid)}")


class NoVariantAvailable(RuntimeError):
    """Neither the selected variant nor any fallback of a route is loaded."""

    def __init__(self, task: str, scenario: str, tried: Collection[str]) -> None:
        self.task = task
        self.scenario = scenario
        self.tried = tuple(tried)
        super().__init__(
            f"no variant is loaded for task {task!r}, scenario {scenario!r} (tried: {', '.join(self.tried)})"
        )


@dataclass(frozen=True)
class Route:
    """Where a request goes. `variant` serves it; `selected` is what the selection file chose."""

    task: str
    scenario: str
    variant: str
    selected: str
    fallbacks: tuple[str, ...]

    @property
    def fallback(self) -> bool:
        return self.variant != self.selected


class Router:
    """Maps (task or kind, scenario or None) to a Route, skipping variants that are not available."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        self._task_by_kind = {task.kind: name for name, task in selection.tasks.items()}

    def task_name(self, task_or_kind: str) -> str:
        if task_or_kind in self.selection.tasks:
            return task_or_kind
        if task_or_kind in self._task_by_kind:
            return self._task_by_kind[task_or_kind]
        raise UnknownTask(task_or_kind, [*self.selection.tasks, *self._task_by_kind])

    def has_kind(self, kind: str) -> bool:
        return kind in self._task_by_kind

    def scenarios(self, task_or_kind: str) -> list[str]:
        return sorted(self.selection.tasks[self.task_name(task_or_kind)].scenarios)

    def resolve(self, task_or_kind: str, scenario: str | None) -> tuple[str, str, ScenarioSelection]:
        """(task, scenario, its selection) without looking at availability; None means the default scenario."""
        task = self.task_name(task_or_kind)
        task_selection = self.selection.tasks[task]
        name = task_selection.default_scenario if scenario is None else scenario
        if name not in task_selection.scenarios:
            raise UnknownScenario(task, name, task_selection.scenarios)
        return task, name, task_selection.scenarios[name]

    def route(self, task_or_kind: str, scenario: str | None = None, available: Collection[str] | None = None) -> Route:
        """The first variant of the scenario's chain that is available (None: every variant is)."""
        task, name, chosen = self.resolve(task_or_kind, scenario)
        for variant in chosen.chain:
            if available is None or variant in available:
                return Route(task, name, variant, chosen.variant, tuple(chosen.fallbacks))
        raise NoVariantAvailable(task, name, chosen.chain)
