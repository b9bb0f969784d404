"""The measurements document as a file: atomic writes, reads that name the file and the problem (down to the key
that does not match the contract), merging a fresh run into an older one, and reuse only when measured the same
way on the same machine and software."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from models.machine import hardware, versions
from models.measure_plan import MeasurementError, MeasureSettings
from models.records import (
    SCHEMA,
    VERSION,
    MeasurementsNotFound,
    load_measurements,
    merge_measurements,
    reusable_or_why,
    variant_changes,
    write_measurements,
)
from service.contracts import Measurements
from tests.unit import measurement_docs as docs

SETTINGS = MeasureSettings.quick()
REPO = Path(__file__).resolve().parents[2]


def task(f1: float, version: str = "v1") -> dict[str, Any]:
    single = docs.latency(4.0, 6.0, 8.0)
    return docs.task({"reviews-a-onnx-int8": docs.variant("onnx-int8", f1, 20.0, [docs.run(1, single)], version)})


def document(tasks: dict[str, Any], settings: MeasureSettings = SETTINGS) -> Measurements:
    """A document as `measure` writes it on this machine, with the given tasks."""
    return Measurements.model_validate(docs.document(tasks, settings))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "measurements not found"),
        ("{not json", "not a readable JSON file"),
        (json.dumps({"schema": "something-else", "version": 1}), "not a measurements file"),
        (json.dumps([1, 2]), "not a measurements file"),
        (json.dumps({"schema": SCHEMA, "version": 99, "tasks": {}}), "measurements version 99"),
        (json.dumps({"schema": SCHEMA, "version": VERSION, "tasks": []}), "no 'tasks' mapping"),
        (json.dumps({"schema": SCHEMA, "version": VERSION, "tasks": {}}), "generated_at: Field required"),
    ],
)
def test_load_measurements_names_the_file_and_the_problem(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "measurements.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(MeasurementError, match=message) as error:
        load_measurements(path)
    assert str(path) in str(error.value)
    assert isinstance(error.value, MeasurementsNotFound) == (content is None)


def test_a_renamed_key_fails_the_load_naming_it(tmp_path: Path) -> None:
    raw = docs.document({"reviews": task(0.7)})
    quality = raw["tasks"]["reviews"]["variants"]["reviews-a-onnx-int8"]["quality"]
    quality["f1"] = quality.pop("macro_f1")
    path = tmp_path / "measurements.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(MeasurementError) as error:
        load_measurements(path)
    where = "tasks.reviews.variants.reviews-a-onnx-int8.quality"
    assert f"{where}.macro_f1: Field required" in str(error.value)
    assert f"{where}.f1: Extra inputs are not permitted" in str(error.value)


def test_write_is_atomic_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "measurements.json"
    data = document({"reviews": task(0.7)})
    write_measurements(data, path)
    assert load_measurements(path) == data
    assert not list(path.parent.glob("*.partial"))


def test_write_validates_again_and_writes_nothing_invalid(tmp_path: Path) -> None:
    path = tmp_path / "measurements.json"
    data = document({"reviews": task(0.7)})
    broken = data.model_copy(update={"generated_at": None})  # model_copy does not validate
    with pytest.raises(MeasurementError, match="generated_at: Input should be a valid string"):
        write_measurements(broken, path)
    assert not path.exists() and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("path", ["reports/measurements.json", "tests/data/report/measurements.json"])
def test_stored_documents_match_the_contract_and_round_trip_byte_for_byte(path: str, tmp_path: Path) -> None:
    """What `measure` wrote (and the report's test input) reads back, and writes back as the same bytes."""
    source = REPO / path
    copy = tmp_path / "measurements.json"
    write_measurements(load_measurements(source), copy)
    assert copy.read_bytes() == source.read_bytes()


def test_merge_keeps_the_tasks_not_measured_again() -> None:
    old = document({"a": task(0.6), "b": task(0.7, "old")})
    fresh = document({"b": task(0.8, "new")}).model_copy(update={"generated_at": "2026-12-01T00:00:00Z"})
    merged = merge_measurements(old, fresh)
    assert list(merged.tasks) == ["a", "b"]
    assert merged.tasks["a"] == old.tasks["a"] and merged.tasks["b"] == fresh.tasks["b"]
    assert merged.generated_at == fresh.generated_at
    assert merge_measurements(None, fresh) == fresh


def test_reusable_only_with_the_same_settings_software_and_machine_and_says_why_not(tmp_path: Path) -> None:
    path = tmp_path / "measurements.json"
    assert reusable_or_why(path, SETTINGS) == (None, f"{path} does not exist yet")
    write_measurements(document({}), path)
    assert reusable_or_why(path, SETTINGS) == (document({}), "")
    assert reusable_or_why(path, replace(SETTINGS, seed=1)) == (
        None,
        f"{path} was measured with other measure settings",
    )
    measured_otherwise = task(0.6)
    measured_otherwise["variants"]["reviews-a-onnx-int8"]["runs"]["1"]["method"]["single_stream"] = "HTTP, aiohttp"
    write_measurements(document({"a": measured_otherwise}), path)
    assert reusable_or_why(path, SETTINGS) == (
        None,
        f"{path} was measured by another method (single_stream: see 'method' in it)",
    )
    numpy_now = versions()["numpy"]
    for key, changed, why in (
        ("versions", {**versions(), "numpy": "0.0"}, f"other library versions (numpy 0.0 then, {numpy_now} now)"),
        ("hardware", {**hardware(), "cpu_flags": ["x"]}, "on another machine (cpu_flags ['x'] then, "),
    ):
        write_measurements(Measurements.model_validate({**docs.document({}, SETTINGS), key: changed}), path)
        data, reason = reusable_or_why(path, SETTINGS)
        assert data is None and why in reason, key


def test_the_reason_names_the_variants_built_added_or_removed_since_they_were_measured() -> None:
    assert variant_changes({"a": "1", "b": "1"}, {"a": "1", "b": "1"}) == ""
    assert variant_changes({"a": "1", "b": "1"}, {"a": "2", "c": "1"}) == (
        "the stored variants changed since it was measured: a was built again; c is new; b is no longer stored"
    )
    many = variant_changes({}, {name: "1" for name in "abcde"})
    assert many.endswith("a is new; b is new; c is new; and 2 more")
