"""service.registry: variant states, what must not be served, and the routing table's readiness (pure)."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from service.contracts import MetadataError, TaskKind
from service.registry import ENDPOINTS, RoutingTable, VariantState, VariantStatus, refusal
from tests.http.fakes import metadata, stored_variant
from tests.unit.routing_tables import (
    IMAGE_BIG,
    IMAGE_FAST,
    ROUTED,
    TEXT_BIG,
    TEXT_FAST,
    TEXT_SMALL,
    all_ready,
    selection,
    table,
)

READY, FAILED, REJECTED = VariantStatus.READY, VariantStatus.FAILED, VariantStatus.REJECTED


def test_statuses_are_the_strings_the_json_views_show() -> None:
    assert [status.value for status in VariantStatus] == [
        "pending",
        "loading",
        "ready",
        "failed",
        "rejected",
        "not_loaded",
        "not_routed",
    ]
    assert json.dumps({"status": VariantStatus.NOT_ROUTED}) == '{"status": "not_routed"}'
    assert f"{VariantStatus.FAILED}" == "failed" and VariantState("x").status == "pending"


def test_a_new_table_is_pending_and_not_ready() -> None:
    built = table()
    assert [built.states[name].status for name in ROUTED] == [VariantStatus.PENDING] * len(ROUTED)
    assert built.available() == set() and built.loaded == {}
    assert not built.ready


def test_ready_when_every_variant_was_tried_and_every_route_has_a_loaded_one() -> None:
    assert table(all_ready()).ready
    # a failed variant whose route falls back does not hold readiness back
    fell_back = table({**all_ready(), TEXT_FAST: FAILED})
    assert fell_back.ready and fell_back.serving("sentiment", "realtime") == TEXT_SMALL
    # a variant still loading does
    assert not table({**all_ready(), IMAGE_BIG: VariantStatus.LOADING}).ready


def test_a_route_without_a_loaded_variant_is_dead_and_the_table_not_ready() -> None:
    dead = table({**all_ready(), TEXT_BIG: REJECTED, IMAGE_FAST: FAILED, IMAGE_BIG: FAILED})
    assert dead.dead_routes() == ["sentiment/accuracy", "digits/realtime"]
    assert dead.serving("sentiment", "accuracy") is None
    assert not dead.ready


def test_variants_outside_the_load_set_are_not_loaded_and_their_routes_do_not_count() -> None:
    load_set = (TEXT_FAST, TEXT_SMALL, IMAGE_FAST)
    built = table({name: READY for name in load_set}, load_set=load_set)
    assert built.states[TEXT_BIG].status == VariantStatus.NOT_LOADED
    assert built.states[TEXT_BIG].reason == "not in SCENARIO_SERVE_VARIANTS"
    assert built.dead_routes() == []  # sentiment/accuracy routes only a variant nobody loads
    assert built.ready


def test_build_keeps_the_given_variants_as_they_are() -> None:
    kept = VariantState(TEXT_FAST, READY, version="v1")
    loaded = object()
    built = RoutingTable.build(selection(), tuple(ROUTED), keep={TEXT_FAST: (kept, loaded)})  # type: ignore[dict-item]
    assert built.states[TEXT_FAST] is kept and built.loaded == {TEXT_FAST: loaded}
    assert built.states[TEXT_SMALL].status == VariantStatus.PENDING


def test_a_variant_stored_as_routed_may_be_served() -> None:
    assert refusal(stored_variant(TEXT_FAST), selection()) is None
    assert refusal(stored_variant("sentiment-spare-onnx-fp32"), selection()) is None  # routed nowhere


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [
        ({"gate": {"status": "rejected", "reason": "macro-F1 0.41 < 0.70"}}, REJECTED, "macro-F1 0.41 < 0.70"),
        ({"gate": {"status": "rejected", "reason": ""}}, REJECTED, "no reason recorded"),
        (
            metadata(TEXT_FAST, task="digits"),
            FAILED,
            "stored for task 'digits' (image), but routed for task 'sentiment'",
        ),
        (metadata(TEXT_FAST, kind="image"), FAILED, "stored for task 'sentiment' (image), but routed for task"),
    ],
)
def test_refused_variants_say_why(changes: dict[str, object], status: VariantStatus, reason: str) -> None:
    refused = refusal(stored_variant(TEXT_FAST, **changes), selection())
    assert refused is not None
    assert refused[0] == status and reason in refused[1]


def test_every_task_kind_has_an_endpoint_and_an_unknown_one_is_not_read() -> None:
    assert set(ENDPOINTS) == set(get_args(TaskKind)) == {"text", "image"}
    with pytest.raises(MetadataError, match=r"^audio-fake-onnx-int8:v1: .*task_kind: Input should be 'text' or"):
        stored_variant("audio-fake-onnx-int8", task="audio", task_kind="audio")
