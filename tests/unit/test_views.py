"""service.views: the /v1/scenarios and /v1/models bodies of a routing table (pure, on a fake store)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from service.contracts import read_metadata
from service.model_store import StoredVariant, UnreadableVariant
from service.registry import VariantStatus
from service.schemas import ModelsTable, ScenariosTable
from service.views import STORE_ERROR, models_view, scenarios_view, utc_time
from tests.http.fakes import FakeStore, metadata
from tests.unit.routing_tables import IMAGE_BIG, IMAGE_FAST, ROUTED, TEXT_BIG, TEXT_FAST, TEXT_SMALL, all_ready, table

EXTRA = "sentiment-spare-onnx-fp32"


def test_scenarios_view_shows_the_chain_and_who_serves(tmp_path: Path) -> None:
    live = table({**all_ready(), IMAGE_FAST: VariantStatus.FAILED})
    body = scenarios_view(live, tmp_path / "selection.json").model_dump()
    assert body["selection"] == {
        "path": str(tmp_path / "selection.json"),
        "version": 1,
        "generated_by": "tests",
        "generated_at": "2026-11-23T00:00:00Z",
    }
    sentiment = body["tasks"]["sentiment"]
    assert (sentiment["kind"], sentiment["endpoint"], sentiment["default_scenario"]) == (
        "text",
        "/v1/text/classify",
        "realtime",
    )
    assert sentiment["scenarios"]["realtime"] == {
        "variant": TEXT_FAST,
        "fallbacks": [TEXT_SMALL],
        "serving": TEXT_FAST,
        "fallback": False,
        "constraints": {},
        "objective": "minimize_latency",
        "evidence": {},
        "variants": [
            {"name": TEXT_FAST, "role": "selected", "status": "ready", "loaded": True},
            {"name": TEXT_SMALL, "role": "fallback", "status": "ready", "loaded": True},
        ],
    }
    digits = body["tasks"]["digits"]
    assert digits["endpoint"] == "/v1/image/classify"
    realtime = digits["scenarios"]["realtime"]
    assert (realtime["serving"], realtime["fallback"]) == (IMAGE_BIG, True)
    assert realtime["variants"][0] == {"name": IMAGE_FAST, "role": "selected", "status": "failed", "loaded": False}
    assert ScenariosTable.model_validate_json(json.dumps(body)).model_dump() == body


def test_a_route_with_no_loaded_variant_serves_none(tmp_path: Path) -> None:
    body = scenarios_view(table(), tmp_path / "selection.json").model_dump()
    realtime = body["tasks"]["sentiment"]["scenarios"]["realtime"]
    assert (realtime["serving"], realtime["fallback"]) == (None, False)
    assert {v["status"] for v in realtime["variants"]} == {"pending"}


def test_models_view_lists_the_table_then_the_rest_of_the_store() -> None:
    live = table({**all_ready(), TEXT_BIG: VariantStatus.FAILED})
    failed = live.states[TEXT_BIG]
    failed.reason, failed.attempts, failed.retry_at = "LookupError: not found", 2, 1_800_000_000.25
    ready = live.states[TEXT_FAST]
    described = metadata(TEXT_FAST, reason="as described")  # not the store's: the state's is shown
    ready.version, ready.load_seconds, ready.attempts = "v-7", 0.12345, 1
    ready.metadata = read_metadata({**described, "license": "apache-2.0"})  # a key from a newer prepare
    store = FakeStore([TEXT_FAST, EXTRA])
    body = models_view(live, store).model_dump()
    assert (body["ready"], body["unserved_routes"], body["store_error"]) == (False, ["sentiment/accuracy"], None)
    rows = {row["name"]: row for row in body["variants"]}
    assert [row["name"] for row in body["variants"]] == [*ROUTED, EXTRA]
    assert rows[TEXT_FAST] == {
        "name": TEXT_FAST,
        "status": "ready",
        "reason": None,
        "routes": ["sentiment/realtime"],
        "version": "v-7",
        "load_seconds": 0.123,
        "attempts": 1,
        "next_retry_at": None,
        "metadata": {**described, "license": "apache-2.0"},  # as the store holds it, key for key
    }
    assert json.dumps(rows[TEXT_FAST]["metadata"]) == json.dumps({**described, "license": "apache-2.0"})
    assert rows[TEXT_BIG]["status"] == "failed" and rows[TEXT_BIG]["reason"] == "LookupError: not found"
    assert rows[TEXT_BIG]["next_retry_at"] == "2027-01-15T08:00:00.250Z" == utc_time(1_800_000_000.25)
    assert rows[TEXT_BIG]["version"] is None and rows[TEXT_BIG]["metadata"] is None  # never described
    assert rows[EXTRA]["status"] == "not_routed" and rows[EXTRA]["routes"] == []
    assert (rows[EXTRA]["version"], rows[EXTRA]["attempts"]) == ("v-spare", None)
    assert rows[EXTRA]["metadata"] == store.stored[EXTRA]  # from the store: it was never loaded
    assert ModelsTable.model_validate_json(json.dumps(body)).model_dump() == body


def test_a_variant_whose_metadata_breaks_the_contract_is_listed_with_the_reason() -> None:
    store = FakeStore([TEXT_FAST, EXTRA])
    store.stored[EXTRA]["task_kind"] = "audio"
    listed = {variant.name: variant for variant in store.list()}
    assert isinstance(listed[TEXT_FAST], StoredVariant) and isinstance(listed[EXTRA], UnreadableVariant)
    rows = {row.name: row for row in models_view(table(all_ready()), store).variants}
    assert (rows[EXTRA].status, rows[EXTRA].version, rows[EXTRA].metadata) == ("not_routed", "v-spare", None)
    assert rows[EXTRA].reason is not None and rows[EXTRA].reason.startswith(
        f"MetadataError: {EXTRA}:v-spare: metadata does not match the contract: task_kind: Input should be"
    )
    assert rows[TEXT_FAST].metadata == store.stored[TEXT_FAST]


class UnlistableStore(FakeStore):
    def list(self) -> list[StoredVariant | UnreadableVariant]:
        raise OSError("/secret/bentoml/models: permission denied")


def test_a_store_that_cannot_be_listed_is_reported_without_its_internals(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="service.views"):
        body = models_view(table(all_ready()), UnlistableStore([])).model_dump()
    assert body["store_error"] == STORE_ERROR
    assert "/secret" not in json.dumps(body)
    assert "permission denied" in caplog.text  # the operator sees why
    assert [row["name"] for row in body["variants"]] == ROUTED and body["ready"] is True
