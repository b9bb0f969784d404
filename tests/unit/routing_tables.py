"""Routing tables in given states, without loading anything: for the registry, reload and views tests."""

from __future__ import annotations

import copy
from typing import Any

from service.registry import RoutingTable, VariantStatus
from service.routing import Selection, parse_selection
from tests.http.conftest import IMAGE_BIG, IMAGE_FAST, TEXT_BIG, TEXT_FAST, TEXT_SMALL

SELECTION: dict[str, Any] = {
    "version": 1,
    "generated_by": "tests",
    "generated_at": "2026-11-23T00:00:00Z",
    "tasks": {
        "sentiment": {
            "kind": "text",
            "default_scenario": "realtime",
            "scenarios": {
                "realtime": {"variant": TEXT_FAST, "fallbacks": [TEXT_SMALL], "objective": "minimize_latency"},
                "accuracy": {"variant": TEXT_BIG, "fallbacks": []},
            },
        },
        "digits": {
            "kind": "image",
            "default_scenario": "realtime",
            "scenarios": {"realtime": {"variant": IMAGE_FAST, "fallbacks": [IMAGE_BIG]}},
        },
    },
}
ROUTED = [TEXT_FAST, TEXT_SMALL, TEXT_BIG, IMAGE_FAST, IMAGE_BIG]


def selection(data: dict[str, Any] | None = None) -> Selection:
    return parse_selection(copy.deepcopy(data or SELECTION))


def table(
    statuses: dict[str, VariantStatus] | None = None,
    data: dict[str, Any] | None = None,
    load_set: tuple[str, ...] | None = None,
) -> RoutingTable:
    """A table whose load set (default: every routed variant) has the given statuses; others stay pending."""
    chosen = selection(data)
    built = RoutingTable.build(chosen, load_set or tuple(chosen.routed_variants()), keep={})
    for name, status in (statuses or {}).items():
        built.states[name].status = status
    return built


def all_ready(data: dict[str, Any] | None = None) -> dict[str, VariantStatus]:
    return {name: VariantStatus.READY for name in selection(data).routed_variants()}
