"""The measurements document (`service.contracts.Measurements`, `scenario-serve/measurements` v2) as a file: a
variant's stored facts as recorded, writing and reading the file (validated both ways), merging a fresh run into
it, and whether what it records is still current.

The document is current for a task when it was measured with the same plan and settings, on the same machine and
software (`models.machine`), of the variant versions (and gate rejections) the store holds now.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.machine import FINGERPRINT_KEYS, differences, hardware, versions
from models.measure_plan import METHODS, MeasurementError, MeasureSettings, TaskPlan, plan_record, settings_record
from service.contracts import (
    GateStatus,
    Measurements,
    MeasurementsError,
    Run,
    TaskMeasurements,
    VariantMeasurements,
    VariantMetadata,
    read_measurements,
    read_metadata,
)
from service.contracts.measurements import MEASUREMENTS_SCHEMA, MEASUREMENTS_VERSION, Quality

if TYPE_CHECKING:
    import bentoml

SCHEMA = MEASUREMENTS_SCHEMA
VERSION = MEASUREMENTS_VERSION


class MeasurementsNotFound(MeasurementError):
    """No measurements file at the path (as opposed to one that cannot be read or does not match the contract)."""


# --- a variant's record --------------------------------------------------------------------------------------


def stored_metadata(model: bentoml.Model) -> VariantMetadata:
    """A stored variant's metadata, validated; MetadataError names the variant and the key."""
    return read_metadata(model.info.metadata, model.tag.name)


def variant_record(model: bentoml.Model, metadata: VariantMetadata, runs: dict[int, Run]) -> VariantMeasurements:
    """The stored facts of a variant (what it is, its quality and size) beside its runs, by thread count."""
    return VariantMeasurements(
        candidate=metadata.candidate,
        variant=metadata.variant,
        runtime=metadata.runtime,
        precision=metadata.precision,
        model_version=str(model.tag.version),
        reference=metadata.reference,
        quality=Quality(
            accuracy=metadata.evaluation.accuracy,
            macro_f1=metadata.evaluation.macro_f1,
            gate=metadata.gate.status,
        ),
        size_mb=round(metadata.size_bytes / 1e6, 3),
        runs=runs,
    )


# --- the file ------------------------------------------------------------------------------------------------


def validated(document: Mapping[str, Any] | Measurements, source: str) -> Measurements:
    """The document as the contract reads it; MeasurementError names the source and every bad key."""
    try:
        return read_measurements(document, source)
    except MeasurementsError as exc:
        raise MeasurementError(str(exc)) from None


def write_measurements(data: Measurements, path: Path) -> None:
    """Validate the document again (parts copied in with `model_copy` skipped validation), then write it
    atomically (a reader never sees half a file)."""
    path = Path(path)
    document = data.as_json()
    validated(document, f"{path} (writing)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def load_measurements(path: Path) -> Measurements:
    """Read a measurements document; a missing, unreadable, foreign or malformed file raises an error naming it
    (and, for a malformed one, every key that does not match the contract)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MeasurementsNotFound(f"measurements not found: {path}; run `scenario-serve measure` first") from None
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
    return validated(data, str(path))


def merge_measurements(existing: Measurements | None, fresh: Measurements) -> Measurements:
    """`fresh` (header and its tasks) plus the tasks of `existing` it did not measure again."""
    kept = {name: task for name, task in (existing.tasks if existing else {}).items() if name not in fresh.tasks}
    return fresh.model_copy(update={"tasks": {**kept, **fresh.tasks}})


# --- staleness -----------------------------------------------------------------------------------------------


def reusable_or_why(path: Path, settings: MeasureSettings) -> tuple[Measurements | None, str]:
    """The file at `path` when it was measured with these settings, on this machine and software; else None and
    why not."""
    try:
        data = load_measurements(path)
    except MeasurementsNotFound:
        return None, f"{path} does not exist yet"
    except MeasurementError as exc:
        return None, str(exc)
    if data.settings != settings_record(settings):
        return None, f"{path} was measured with other measure settings"
    changed = method_changes(data)
    if changed:
        return None, f"{path} was measured by another method ({', '.join(changed)}: see 'method' in it)"
    now = versions()
    changed = differences(data.versions, now, now)
    if changed:
        return None, f"{path} was measured with other library versions ({', '.join(changed)})"
    changed = differences(data.hardware.model_dump(), hardware(), FINGERPRINT_KEYS)
    if changed:
        return None, f"{path} was measured on another machine ({'; '.join(changed)})"
    return data, ""


def method_changes(data: Measurements) -> list[str]:
    """The parts of a run (`Methods` fields) that some run in `data` measured otherwise than this version does."""
    runs = [run for task in data.tasks.values() for variant in task.variants.values() for run in variant.runs.values()]
    now = METHODS.model_dump()
    return [part for part in now if any(getattr(run.method, part) != now[part] for run in runs)]


def stale_tasks(
    path: Path, plans: dict[str, TaskPlan], settings: MeasureSettings
) -> tuple[Measurements | None, dict[str, str]]:
    """The reusable document at `path` (None when there is none) and, for each task of `plans` that it does not
    hold current, why: the file, its settings, software or machine, the plan, or the stored variants changed."""
    existing, why_not = reusable_or_why(path, settings)
    if existing is None:
        return None, dict.fromkeys(plans, why_not)
    reasons = {}
    for name, plan in plans.items():
        recorded = existing.tasks.get(name)
        reason = task_staleness(recorded, plan, name) if recorded else "it was not measured yet"
        if reason:
            reasons[name] = reason
    return existing, reasons


def measurements_current(path: Path, plans: dict[str, TaskPlan], settings: MeasureSettings) -> bool:
    """True when `path` already holds what `measure(catalog, plans, settings)` would measure now: the same
    plans and settings, on this machine and software, of the variant versions (and rejections) now stored."""
    return not stale_tasks(path, plans, settings)[1]


def task_staleness(recorded: TaskMeasurements, plan: TaskPlan, task: str) -> str:
    """Why the recorded task is not current (empty when it is): another plan, or other stored variants."""
    from models.store import list_variants

    if recorded.plan != plan_record(plan):
        return "the scenarios now ask for other measurements (thread counts or server targets)"
    stored = {m.tag.name: (str(m.tag.version), stored_metadata(m).gate.status) for m in list_variants(task)}
    if not stored:
        return "no variant is stored (run `scenario-serve prepare`)"
    rejected = {name for name, (_, status) in stored.items() if status == GateStatus.REJECTED}
    if set(recorded.rejected) != rejected:
        return "the quality gate rejects other variants than when it was measured"
    measured = {name: version for name, (version, status) in stored.items() if status != GateStatus.REJECTED}
    recorded_versions = {name: variant.model_version for name, variant in recorded.variants.items()}
    return variant_changes(recorded_versions, measured)


def variant_changes(recorded: dict[str, str], stored: dict[str, str]) -> str:
    """How the stored variants (name -> version) differ from the measured ones (empty when they do not)."""
    changes = [
        f"{name} was built again" if name in recorded else f"{name} is new"
        for name in sorted(stored)
        if recorded.get(name) != stored[name]
    ]
    changes += [f"{name} is no longer stored" for name in sorted(set(recorded) - set(stored))]
    if not changes:
        return ""
    shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
    return f"the stored variants changed since it was measured: {shown}"
