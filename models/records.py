"""The measurements document (`scenario-serve/measurements`, v2): a variant's stored facts as recorded, writing
and reading the file, merging a fresh run into it, and whether what it records is still current.

The document is current for a task when it was measured with the same plan and settings, on the same machine and
software (`models.machine`), of the variant versions (and gate rejections) the store holds now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.machine import hardware, same_machine, versions
from models.measure_plan import MeasurementError, MeasureSettings, TaskPlan, plan_record, settings_record

if TYPE_CHECKING:
    import bentoml

SCHEMA = "scenario-serve/measurements"
VERSION = 2
REJECTED = "rejected"


# --- a variant's record --------------------------------------------------------------------------------------


def gate_of(metadata: dict[str, Any]) -> dict[str, Any]:
    return dict(metadata.get("gate") or {})


def variant_record(model: bentoml.Model) -> dict[str, Any]:
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


# --- the file ------------------------------------------------------------------------------------------------


def write_measurements(data: dict[str, Any], path: Path) -> None:
    """Write the document atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


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


def merge_measurements(existing: dict[str, Any] | None, fresh: dict[str, Any]) -> dict[str, Any]:
    """`fresh` (header and its tasks) plus the tasks of `existing` it did not measure again."""
    kept = {name: task for name, task in (existing or {}).get("tasks", {}).items() if name not in fresh["tasks"]}
    return {**fresh, "tasks": {**kept, **fresh["tasks"]}}


# --- staleness -----------------------------------------------------------------------------------------------


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
    return {
        name: plan
        for name, plan in plans.items()
        if name not in recorded or not task_current(recorded[name], plan, name)
    }


def measurements_current(path: Path, plans: dict[str, TaskPlan], settings: MeasureSettings) -> bool:
    """True when `path` already holds what `measure(catalog, plans, settings)` would measure now: the same
    plans and settings, on this machine and software, of the variant versions (and rejections) now stored."""
    existing = reusable_measurements(path, settings)
    return existing is not None and not stale_plans(existing, plans)


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
