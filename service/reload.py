"""Reloading the selection file, the pure parts: what a new table keeps, why it cannot be applied, what changed.

The engine (`Engine.reload`) stages a new `RoutingTable` aside, loads what it lacks, and commits it only when it is
ready; these functions decide and describe, the engine does the loading and the swap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.registry import LoadedVariant, RoutingTable, VariantState, VariantStatus, refusal
from service.routing import Selection
from service.schemas import ReloadResult


@dataclass(frozen=True)
class RouteChange:
    task: str
    scenario: str
    before: str | None  # the variant that served the route before the reload; None: a new route
    after: str | None  # the variant that serves it now; None: the route is gone


@dataclass(frozen=True)
class ReloadSummary:
    """What a reload changed; `body()` is the JSON answer of POST /v1/admin/reload."""

    path: str
    selection: Selection
    added: tuple[str, ...]  # variants loaded by this reload
    removed: tuple[str, ...]  # variants no longer to load; unloaded once their in-flight requests finish
    failed: tuple[tuple[str, str], ...]  # (variant, reason): routed, not served (gate-rejected, or failed: retried)
    changed_routes: tuple[RouteChange, ...]

    def body(self) -> dict[str, Any]:
        return ReloadResult(
            reloaded=True,
            path=self.path,
            version=self.selection.version,
            generated_by=self.selection.generated_by,
            generated_at=self.selection.generated_at,
            added=list(self.added),
            removed=list(self.removed),
            failed=[{"name": name, "reason": reason} for name, reason in self.failed],
            changed_routes=[
                {"task": c.task, "scenario": c.scenario, "from": c.before, "to": c.after} for c in self.changed_routes
            ],
        ).model_dump()


def kept_variants(current: RoutingTable, selection: Selection) -> dict[str, tuple[VariantState, LoadedVariant]]:
    """The loaded variants of `current` that `selection` may serve as they are (state and loaded variant)."""
    return {
        name: (current.states[name], loaded)
        for name, loaded in current.loaded.items()
        if current.states[name].status == VariantStatus.READY and refusal(loaded.stored, selection) is None
    }


def unservable_problems(staged: RoutingTable) -> list[str]:
    """Why a staged table is not ready: its failed variants and the routes it would leave without a variant."""
    problems = [
        f"{name} {staged.states[name].status}: {staged.states[name].reason}"
        for name in staged.load_set
        if staged.states[name].status == VariantStatus.FAILED
    ]
    return problems + [f"route {route} would have no loaded variant" for route in staged.dead_routes()]


def summarize(path: Path, current: RoutingTable, staged: RoutingTable, attempted: list[str]) -> ReloadSummary:
    """What swapping `current` for `staged` changed; `attempted`: the variants the reload tried to load."""
    return ReloadSummary(
        path=str(path),
        selection=staged.selection,
        added=tuple(name for name in attempted if name in staged.loaded),
        removed=tuple(name for name in current.load_set if name not in staged.load_set),
        failed=tuple(
            (name, staged.states[name].reason or staged.states[name].status)
            for name in attempted
            if name not in staged.loaded
        ),
        changed_routes=route_changes(current, staged),
    )


def route_changes(old: RoutingTable, new: RoutingTable) -> tuple[RouteChange, ...]:
    """Routes whose serving variant differs between two tables (new routes first in file order, then gone ones)."""
    old_available, new_available = old.available(), new.available()
    keys = [(task, name) for task, selection in new.selection.tasks.items() for name in selection.scenarios]
    keys += [
        (task, name)
        for task, selection in old.selection.tasks.items()
        for name in selection.scenarios
        if (task, name) not in keys
    ]
    changes = []
    for task, name in keys:
        before = old.serving(task, name, old_available) if old.has_route(task, name) else None
        after = new.serving(task, name, new_available) if new.has_route(task, name) else None
        if before != after:
            changes.append(RouteChange(task, name, before, after))
    return tuple(changes)


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """What the selection watch compares: (inode, size, mtime in ns); None when the file cannot be read."""
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)
