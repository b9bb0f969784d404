"""The report's data: everything it says, as JSON-able data (the `report.json` file) that both renderers format.

Built only from the measurements JSON (`models/benchmark.py`), the selection JSON (`models/select.py`) and, when
given, live metrics (`models/live.py`); the capacity plan (`capacity`) from the selection's evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.report.capacity import DEFAULT_HEADROOM, capacity_plan
from models.report.comparison import compare_with_baseline
from models.report.live import DEFAULT_TOLERANCE, live_entry, live_header
from models.report.scenarios import candidate_row, constraint_texts, load_text
from models.report.schema import REPORT_SCHEMA, REPORT_VERSION, Json
from models.report.summary import summary_sentence
from models.report.variants import best_macro_f1, rejected_rows, variant_rows


def scenario_data(name: str, scenario: Mapping[str, Any], observed: Mapping[str, Any] | None,
                  live: Mapping[str, Any] | None, tolerance: float) -> Json:
    evidence = scenario.get("evidence", {})
    constraints = scenario.get("constraints", {})
    comparison = compare_with_baseline(scenario)
    data: Json = {
        "load_pattern": constraints.get("load_pattern"),
        "load": load_text(constraints),
        "threads": constraints.get("threads"),
        "constraints": constraint_texts(constraints),
        "objective": scenario.get("objective") or None,
        "variant": scenario.get("variant"),
        "fallbacks": list(scenario.get("fallbacks", [])),
        "feasible": evidence.get("feasible"),
        "message": evidence.get("message"),
        "baseline": evidence.get("baseline"),
        "comparison": comparison.as_json() if comparison else None,
        "summary": summary_sentence(name, scenario, comparison),
        "candidates": [candidate_row(c) for c in evidence.get("candidates", [])],
    }
    if live is not None:
        data["live"] = live_entry(scenario, observed, tolerance)
    return data


def task_data(name: str, task_selection: Mapping[str, Any], task_measured: Mapping[str, Any],
              live: Mapping[str, Any] | None, tolerance: float) -> Json:
    observed = (live or {}).get("scenarios", {}).get(name, {})
    return {
        "kind": task_selection.get("kind") or task_measured.get("kind"),
        "test_split": task_measured.get("test_split"),
        "best_macro_f1": best_macro_f1(task_measured),
        "variants": variant_rows(task_measured),
        "rejected": rejected_rows(task_measured),
        "scenarios": {
            scenario_name: scenario_data(scenario_name, scenario, observed.get(scenario_name), live, tolerance)
            for scenario_name, scenario in task_selection.get("scenarios", {}).items()
        },
    }


def measurements_header(measurements: Mapping[str, Any]) -> Json:
    return {
        "generated_at": measurements.get("generated_at"),
        "command": measurements.get("command"),
        "hardware": measurements.get("hardware", {}),
        "versions": measurements.get("versions", {}),
        "settings": measurements.get("settings", {}),
    }


def summary_entries(tasks: Mapping[str, Any]) -> list[Json]:
    return [
        {"task": task, "scenario": scenario, "sentence": data["summary"]}
        for task, task_info in tasks.items()
        for scenario, data in task_info["scenarios"].items()
    ]


def report_data(measurements: Mapping[str, Any], selection: Mapping[str, Any],
                live: Mapping[str, Any] | None = None, tolerance: float = DEFAULT_TOLERANCE, *,
                peak_rps: float | None = None, headroom: float = DEFAULT_HEADROOM) -> Json:
    """Everything the report says, as JSON-able data (the `report.json` file)."""
    measured = measurements.get("tasks", {})
    tasks = {
        name: task_data(name, task, measured.get(name, {}), live, tolerance)
        for name, task in selection.get("tasks", {}).items()
    }
    return {
        "schema": REPORT_SCHEMA,
        "version": REPORT_VERSION,
        "measurements": measurements_header(measurements),
        "selection": {"generated_at": selection.get("generated_at"), "generated_by": selection.get("generated_by")},
        "live": live_header(live, tolerance) if live is not None else None,
        "summary": summary_entries(tasks),
        "capacity": capacity_plan(selection, peak_rps=peak_rps, headroom=headroom).model_dump(mode="json"),
        "tasks": tasks,
    }
