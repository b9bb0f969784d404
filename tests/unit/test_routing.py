"""service.routing: the selection file schema and the router (pure, no models)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.routing import (
    NoVariantAvailable,
    Route,
    Router,
    SelectionError,
    UnknownScenario,
    UnknownTask,
    load_selection,
    parse_selection,
)

SELECTION: dict[str, Any] = {
    "version": 1,
    "generated_by": "tests",
    "generated_at": "2026-11-23T00:00:00Z",
    "tasks": {
        "sentiment": {
            "kind": "text",
            "default_scenario": "realtime",
            "scenarios": {
                "realtime": {"variant": "s-int8", "fallbacks": ["s-small", "s-fp32"]},
                "accuracy": {"variant": "s-torch", "constraints": {"min_macro_f1": 0.7}, "objective": "quality"},
            },
        },
        "digits": {
            "kind": "image",
            "default_scenario": "edge",
            "scenarios": {"edge": {"variant": "d-int8", "fallbacks": ["d-fp32"], "evidence": {"size_mb": 3}}},
        },
    },
}


@pytest.fixture
def router() -> Router:
    return Router(parse_selection(SELECTION))


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(SELECTION)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return data


def test_default_scenario_when_none_given(router):
    assert router.route("sentiment", None) == Route("sentiment", "realtime", "s-int8", "s-int8", ("s-small", "s-fp32"))
    assert router.route("digits").scenario == "edge"


def test_kind_or_task_name(router):
    assert router.route("text", "accuracy") == router.route("sentiment", "accuracy")
    assert router.route("image").task == "digits"
    assert router.task_name("image") == "digits"


def test_unknown_scenario_carries_the_valid_ones(router):
    with pytest.raises(UnknownScenario) as raised:
        router.route("text", "warp")
    assert raised.value.valid == ("accuracy", "realtime")
    assert (raised.value.task, raised.value.scenario) == ("sentiment", "warp")
    assert "accuracy, realtime" in str(raised.value)


def test_unknown_task(router):
    with pytest.raises(UnknownTask) as raised:
        router.route("audio", None)
    assert "sentiment" in raised.value.valid


def test_fallback_to_the_next_available_variant(router):
    route = router.route("text", "realtime", available={"s-fp32", "s-small"})
    assert route.variant == "s-small"
    assert route.selected == "s-int8"
    assert route.fallback is True
    assert router.route("text", "realtime", available={"s-fp32"}).variant == "s-fp32"
    assert router.route("text", "realtime", available={"s-int8", "s-fp32"}).fallback is False


def test_no_variant_available(router):
    with pytest.raises(NoVariantAvailable) as raised:
        router.route("text", "realtime", available={"d-int8"})
    assert raised.value.tried == ("s-int8", "s-small", "s-fp32")


def test_routed_variants_and_usage():
    selection = parse_selection(SELECTION)
    assert selection.routed_variants() == ["s-int8", "s-small", "s-fp32", "s-torch", "d-int8", "d-fp32"]
    assert selection.routes_using("s-fp32") == ["sentiment/realtime"]
    assert selection.task_of("d-fp32") == "digits"
    assert selection.task_of("nope") is None
    accuracy = selection.tasks["sentiment"].scenarios["accuracy"]
    assert (accuracy.fallbacks, accuracy.constraints.active(), accuracy.objective) == (
        [],
        {"min_macro_f1": 0.7},
        "quality",
    )


def test_constraints_are_written_as_set_load_first():
    route = {"variant": "v", "constraints": {"p99_latency_ms": 50, "threads": 1, "load_pattern": "server"}}
    selection = parse_selection(with_change("tasks.sentiment.scenarios.realtime", route))
    constraints = selection.tasks["sentiment"].scenarios["realtime"].constraints
    assert list(constraints.model_dump(mode="json")) == ["load_pattern", "threads", "p99_latency_ms"]
    assert constraints.latency_limit("p99") == 50.0 and constraints.latency_limit("p95") is None


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("version", 2, "version: Input should be 1"),
        ("tasks.sentiment.kind", "audio", "tasks.sentiment.kind: Input should be 'text' or 'image'"),
        ("tasks.sentiment.default_scenario", "warp", "default_scenario 'warp' is not one of the scenarios"),
        (
            "tasks.sentiment.scenarios.realtime.variant",
            KeyError,
            "tasks.sentiment.scenarios.realtime.variant: Field required",
        ),
        (
            "tasks.sentiment.scenarios.realtime.fallback",
            [],
            "tasks.sentiment.scenarios.realtime.fallback: Extra inputs",
        ),
        ("tasks.sentiment.scenarios.realtime.fallbacks", ["s-int8"], "listed twice in variant + fallbacks: s-int8"),
        ("tasks.sentiment.scenarios.realtime.fallbacks", "s-fp32", "fallbacks: Input should be a valid list"),
        ("tasks.sentiment.scenarios", {}, "tasks.sentiment.scenarios: Dictionary should have at least 1 item"),
        ("tasks.digits.kind", "text", "kind 'text' is served by several tasks (sentiment, digits)"),
        ("generated_at", KeyError, "generated_at: Field required"),
        (
            "tasks.sentiment.scenarios.accuracy.constraints.p99_latncy_ms",
            50,
            "tasks.sentiment.scenarios.accuracy.constraints.p99_latncy_ms: Extra inputs are not permitted",
        ),
        (
            "tasks.sentiment.scenarios.accuracy.constraints.load_pattern",
            "burst",
            "tasks.sentiment.scenarios.accuracy.constraints.load_pattern: Input should be 'single-stream'",
        ),
        (
            "tasks.sentiment.scenarios.accuracy.constraints.target_rps",
            0,
            "tasks.sentiment.scenarios.accuracy.constraints.target_rps: Input should be greater than 0",
        ),
    ],
)
def test_schema_errors_name_the_key(path, value, message):
    with pytest.raises(SelectionError) as raised:
        parse_selection(with_change(path, value), source="sel.json")
    assert message in str(raised.value)
    assert str(raised.value).startswith("sel.json: ")


def test_load_selection_errors(tmp_path: Path):
    with pytest.raises(SelectionError, match="selection file not found"):
        load_selection(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1,\n  oops}', encoding="utf-8")
    with pytest.raises(SelectionError, match="not valid JSON at line 2"):
        load_selection(broken)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(SELECTION), encoding="utf-8")
    assert load_selection(good).tasks["digits"].kind == "image"


def test_routing_module_is_pure():
    code = (
        "import sys, service.routing; print(sorted(m for m in ('torch', 'bentoml', 'onnxruntime') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
