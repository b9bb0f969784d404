"""The measurements document as a file: atomic writes, reads that name the file and the problem, merging a fresh
run into an older one, and reuse only when measured the same way on the same machine and software."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from models.machine import hardware, versions
from models.measure_plan import MeasurementError, MeasureSettings, settings_record
from models.records import (
    SCHEMA,
    VERSION,
    load_measurements,
    merge_measurements,
    reusable_measurements,
    write_measurements,
)

SETTINGS = MeasureSettings.quick()


def document(tasks: dict[str, Any], settings: MeasureSettings = SETTINGS) -> dict[str, Any]:
    """A document header as `measure` writes it on this machine, with the given tasks."""
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "generated_at": "2026-11-30T00:00:00Z",
        "command": "pytest",
        "hardware": hardware(),
        "versions": versions(),
        "settings": settings_record(settings),
        "tasks": tasks,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "measurements not found"),
        ("{not json", "not a readable JSON file"),
        (json.dumps({"schema": "something-else", "version": 1}), "not a measurements file"),
        (json.dumps([1, 2]), "not a measurements file"),
        (json.dumps({"schema": SCHEMA, "version": 99, "tasks": {}}), "measurements version 99"),
        (json.dumps({"schema": SCHEMA, "version": VERSION, "tasks": []}), "no 'tasks' mapping"),
    ],
)
def test_load_measurements_names_the_file_and_the_problem(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "measurements.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(MeasurementError, match=message) as error:
        load_measurements(path)
    assert str(path) in str(error.value)


def test_write_is_atomic_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "measurements.json"
    data = document({"reviews": {"variants": {}, "rejected": {}}})
    write_measurements(data, path)
    assert load_measurements(path) == data
    assert not list(path.parent.glob("*.partial"))


def test_merge_keeps_the_tasks_not_measured_again() -> None:
    old = document({"a": {"plan": "old a"}, "b": {"plan": "old b"}})
    fresh = {**document({"b": {"plan": "new b"}}), "generated_at": "2026-12-01T00:00:00Z"}
    merged = merge_measurements(old, fresh)
    assert merged["tasks"] == {"a": {"plan": "old a"}, "b": {"plan": "new b"}}
    assert merged["generated_at"] == fresh["generated_at"]
    assert merge_measurements(None, fresh) == fresh


def test_reusable_only_with_the_same_settings_software_and_machine(tmp_path: Path) -> None:
    path = tmp_path / "measurements.json"
    assert reusable_measurements(path, SETTINGS) is None  # no file
    write_measurements(document({}), path)
    assert reusable_measurements(path, SETTINGS) == document({})
    assert reusable_measurements(path, replace(SETTINGS, seed=1)) is None
    for key, changed in (
        ("versions", {**versions(), "numpy": "0.0"}),
        ("hardware", {**hardware(), "cpu_flags": ["x"]}),
    ):
        write_measurements({**document({}), key: changed}, path)
        assert reusable_measurements(path, SETTINGS) is None, key
