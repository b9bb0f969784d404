"""Reloading selection.json without a restart: POST /v1/admin/reload (guarded by a bearer token) and the
optional file watch; the old table stays in force whenever a new one is invalid or not servable."""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.http.conftest import ALL_VARIANTS, EXTRA, IMAGE_FAST, SELECTION, TEXT_BIG, TEXT_FAST, TEXT_SMALL
from tests.http.fakes import FakeStore

TOKEN = "test-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_AT = "2026-12-01T00:00:00Z"


def changed_selection() -> dict[str, Any]:
    """sentiment/realtime moves to EXTRA (loaded by the reload); sentiment/accuracy drops TEXT_BIG."""
    selection = copy.deepcopy(SELECTION)
    selection["generated_at"] = NEW_AT
    selection["generated_by"] = "tests (reloaded)"
    scenarios = selection["tasks"]["sentiment"]["scenarios"]
    scenarios["realtime"].update(variant=EXTRA, fallbacks=[TEXT_SMALL])
    scenarios["accuracy"].update(variant=TEXT_SMALL, fallbacks=[])
    return selection


def write_selection(path: Path, selection: dict[str, Any] | str) -> None:
    """Write aside, then rename over the old file (how a deploy should replace it)."""
    text = selection if isinstance(selection, str) else json.dumps(selection)
    aside = path.with_suffix(".tmp")
    aside.write_text(text, encoding="utf-8")
    os.replace(aside, path)


def reloads(client: Any, outcome: str) -> float:
    sample = f'scenario_serve_selection_reloads_total{{outcome="{outcome}"}} '
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(sample)]
    return float(lines[0].split()[-1]) if lines else 0.0


def variant_of(client: Any, scenario: str) -> str:
    response = client.post("/v1/text/classify", json={"texts": ["love"], "scenario": scenario})
    assert response.status_code == 200, response.text
    return response.headers["X-Variant"]


def test_reload_applies_a_changed_selection(serve, tmp_path):
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, admin_token=TOKEN) as client:
        assert variant_of(client, "realtime") == TEXT_FAST
        before = reloads(client, "success")
        write_selection(tmp_path / "selection.json", changed_selection())

        response = client.post("/v1/admin/reload", headers=AUTH)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["reloaded"] is True
        assert (body["generated_at"], body["generated_by"]) == (NEW_AT, "tests (reloaded)")
        assert body["path"] == str(tmp_path / "selection.json")
        assert body["added"] == [EXTRA]
        assert body["removed"] == [TEXT_BIG]
        assert body["failed"] == []
        assert body["changed_routes"] == [
            {"task": "sentiment", "scenario": "realtime", "from": TEXT_FAST, "to": EXTRA},
            {"task": "sentiment", "scenario": "accuracy", "from": TEXT_BIG, "to": TEXT_SMALL},
        ]
        table = client.get("/v1/scenarios").json()
        assert table["selection"]["generated_at"] == NEW_AT
        assert table["selection"]["generated_by"] == "tests (reloaded)"
        realtime = table["tasks"]["sentiment"]["scenarios"]["realtime"]
        assert (realtime["variant"], realtime["serving"], realtime["fallback"]) == (EXTRA, EXTRA, False)
        assert realtime["variants"][0] == {"name": EXTRA, "role": "selected", "status": "ready", "loaded": True}
        assert variant_of(client, "realtime") == EXTRA
        assert variant_of(client, "accuracy") == TEXT_SMALL
        assert variant_of(client, "batch") == TEXT_FAST  # untouched routes keep their loaded variant
        models = {v["name"]: v for v in client.get("/v1/models").json()["variants"]}
        assert models[EXTRA]["status"] == "ready"
        assert models[EXTRA]["routes"] == ["sentiment/realtime"]
        assert models[TEXT_BIG]["status"] == "not_routed"
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
        assert reloads(client, "success") == before + 1
        assert f'runtime="onnxruntime",task="sentiment",variant="{EXTRA}"}} 1.0' in metrics
        assert f'runtime="torch",task="sentiment",variant="{TEXT_BIG}"}} 0.0' in metrics
    assert store.attempts.count(TEXT_FAST) == 1  # a variant still routed is kept, not reloaded


def test_reloading_an_unchanged_file_changes_nothing(serve):
    with serve(admin_token=TOKEN) as client:
        body = client.post("/v1/admin/reload", headers=AUTH).json()
    assert (body["added"], body["removed"], body["failed"], body["changed_routes"]) == ([], [], [], [])


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        (
            {**SELECTION, "tasks": {"digits": {**SELECTION["tasks"]["digits"], "default_scenario": "warp"}}},
            "tasks.digits",  # a model-level check: the message names default_scenario
            "default_scenario 'warp' is not one of the scenarios",
        ),
        ({**SELECTION, "extra": 1}, "extra", "extra: Extra inputs are not permitted"),
        ('{"version": 1,\n oops', None, "not valid JSON at line 2"),
    ],
)
def test_invalid_file_is_refused_and_the_old_table_stays(serve, tmp_path, content, field, message):
    with serve(admin_token=TOKEN) as client:
        before = reloads(client, "invalid")
        write_selection(tmp_path / "selection.json", content)
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["type"] == "invalid_selection"
        assert error["field"] == field
        assert message in error["message"]
        assert client.get("/v1/scenarios").json()["selection"]["generated_at"] == SELECTION["generated_at"]
        assert variant_of(client, "realtime") == TEXT_FAST
        assert reloads(client, "invalid") == before + 1


def test_missing_file_is_refused(serve, tmp_path):
    with serve(admin_token=TOKEN) as client:
        (tmp_path / "selection.json").unlink()
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 422
        assert "selection file not found" in response.json()["error"]["message"]
        assert variant_of(client, "realtime") == TEXT_FAST


def test_endpoint_is_disabled_without_a_token(serve, tmp_path):
    with serve() as client:
        write_selection(tmp_path / "selection.json", changed_selection())
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 404
        assert response.json()["error"] == {  # the API's answer for an endpoint that does not exist
            "type": "not_found",
            "message": "no endpoint at /v1/admin/reload",
            "field": None,
            "limit": None,
            "allowed": None,
        }
        assert variant_of(client, "realtime") == TEXT_FAST


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": TOKEN}, 401, "unauthorized"),
        ({"Authorization": "Bearer "}, 401, "unauthorized"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong-token"}, 403, "forbidden"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403, "forbidden"),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 403, "forbidden"),
    ],
)
def test_endpoint_needs_the_bearer_token(serve, tmp_path, headers, status, error_type):
    with serve(admin_token=TOKEN) as client:
        write_selection(tmp_path / "selection.json", changed_selection())
        response = client.post("/v1/admin/reload", headers=headers)
        assert response.status_code == status
        assert response.json()["error"]["type"] == error_type
        assert TOKEN not in response.text
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert variant_of(client, "realtime") == TEXT_FAST  # nothing reloaded


def test_token_never_reaches_the_log(serve, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with serve(admin_token=TOKEN) as client:
        write_selection(tmp_path / "selection.json", changed_selection())
        client.post("/v1/admin/reload", headers={"Authorization": "Bearer wrong"})
        assert client.post("/v1/admin/reload", headers=AUTH).status_code == 200
    assert "selection reloaded" in caplog.text
    assert TOKEN not in caplog.text


def test_body_must_be_empty(serve):
    with serve(admin_token=TOKEN) as client:
        response = client.post("/v1/admin/reload", headers=AUTH, json=changed_selection())
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "body"
        assert variant_of(client, "realtime") == TEXT_FAST


@pytest.mark.parametrize(
    ("store", "problem"),
    [
        (FakeStore(ALL_VARIANTS, fail={EXTRA: "corrupt weights"}), "RuntimeError: corrupt weights"),
        (FakeStore([name for name in ALL_VARIANTS if name != EXTRA]), "not found in the store"),
    ],
)
def test_variant_that_fails_to_load_without_a_fallback_rejects_the_reload(serve, tmp_path, store, problem):
    """All or nothing: applying it would leave sentiment/realtime (no fallbacks) without a loaded variant, i.e.
    turn /readyz not ready, so the old table stays in force. (With a fallback the reload applies: next test.)"""
    selection = changed_selection()
    selection["tasks"]["sentiment"]["scenarios"]["realtime"]["fallbacks"] = []
    with serve(store=store, admin_token=TOKEN) as client:
        before = reloads(client, "failed")
        write_selection(tmp_path / "selection.json", selection)
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["type"] == "selection_not_servable"
        assert f"{EXTRA} failed: " in error["message"] and problem in error["message"]
        assert "route sentiment/realtime would have no loaded variant" in error["message"]
        assert "previous table stays in force" in error["message"]
        assert client.get("/v1/scenarios").json()["selection"]["generated_at"] == SELECTION["generated_at"]
        assert variant_of(client, "realtime") == TEXT_FAST
        assert variant_of(client, "accuracy") == TEXT_BIG
        assert EXTRA not in {v["name"] for v in client.get("/v1/models").json()["variants"] if v["routes"]}
        assert client.get("/readyz").status_code == 200
        assert reloads(client, "failed") == before + 1


def test_variant_that_fails_to_load_on_a_route_with_a_fallback_is_applied_then_retried(serve, tmp_path):
    """A reload is applied when the new table would be ready, as /readyz defines it: sentiment/realtime falls back to
    TEXT_SMALL while EXTRA, reported in `failed`, is retried in the background; a worker started on the new file
    would serve it the same way. EXTRA serves the route once it loads."""
    store = FakeStore(ALL_VARIANTS, fail={EXTRA: "corrupt weights"})
    with serve(store=store, admin_token=TOKEN, load_retry_s=0.05, load_retry_max_s=0.1) as client:
        write_selection(tmp_path / "selection.json", changed_selection())
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["failed"] == [{"name": EXTRA, "reason": "RuntimeError: corrupt weights"}]
        assert {"task": "sentiment", "scenario": "realtime", "from": TEXT_FAST, "to": TEXT_SMALL} in body[
            "changed_routes"
        ]
        assert variant_of(client, "realtime") == TEXT_SMALL
        assert client.get("/readyz").status_code == 200
        wait_for(lambda: store.attempts.count(EXTRA) >= 3)  # the reload's attempt, then retries
        store.fail.clear()
        wait_for(lambda: variant_of(client, "realtime") == EXTRA)
        assert client.get("/readyz").status_code == 200


def test_route_without_a_servable_variant_rejects_the_reload(serve, tmp_path):
    selection = changed_selection()
    selection["tasks"]["sentiment"]["scenarios"]["realtime"]["fallbacks"] = []
    with serve(store=FakeStore(ALL_VARIANTS, gates={EXTRA: "rejected"}), admin_token=TOKEN) as client:
        write_selection(tmp_path / "selection.json", selection)
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 409
        assert "route sentiment/realtime would have no loaded variant" in response.json()["error"]["message"]
        assert variant_of(client, "realtime") == TEXT_FAST


def test_gate_rejected_variant_is_skipped_as_at_start_up(serve, tmp_path):
    with serve(store=FakeStore(ALL_VARIANTS, gates={EXTRA: "rejected"}), admin_token=TOKEN) as client:
        write_selection(tmp_path / "selection.json", changed_selection())
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 200
        body = response.json()
        assert body["added"] == []
        assert [entry["name"] for entry in body["failed"]] == [EXTRA]
        assert "accuracy gate rejected it" in body["failed"][0]["reason"]
        assert {"task": "sentiment", "scenario": "realtime", "from": TEXT_FAST, "to": TEXT_SMALL} in body[
            "changed_routes"
        ]
        assert variant_of(client, "realtime") == TEXT_SMALL
        assert client.get("/readyz").status_code == 200


def test_reload_retries_a_variant_that_failed_at_start_up(serve, tmp_path):
    """The reload's own attempt, with background retries off (they are tested in test_load_retries.py)."""
    store = FakeStore(ALL_VARIANTS, fail={TEXT_FAST: "not there yet"})
    with serve(store=store, admin_token=TOKEN, load_retry_s=0) as client:
        assert client.get("/readyz").status_code == 503
        assert client.post("/v1/admin/reload", headers=AUTH).status_code == 409  # still failing: not applied
        store.fail.clear()  # e.g. the variant was imported into the store meanwhile
        body = client.post("/v1/admin/reload", headers=AUTH).json()
        assert body["added"] == [TEXT_FAST]
        assert {"task": "sentiment", "scenario": "realtime", "from": TEXT_SMALL, "to": TEXT_FAST} in body[
            "changed_routes"
        ]
        assert variant_of(client, "realtime") == TEXT_FAST
        assert client.get("/readyz").status_code == 200


def test_variants_setting_still_limits_what_a_reload_loads(serve, tmp_path):
    with serve(variants=f"{TEXT_FAST},{TEXT_SMALL},{TEXT_BIG},{IMAGE_FAST}", admin_token=TOKEN) as client:
        write_selection(tmp_path / "selection.json", changed_selection())
        body = client.post("/v1/admin/reload", headers=AUTH).json()
        assert (body["added"], body["removed"]) == ([], [])
        states = {v["name"]: v["status"] for v in client.get("/v1/models").json()["variants"]}
        assert states[EXTRA] == "not_loaded"
        assert states[TEXT_BIG] == "ready"  # in the load set, routed nowhere now
        assert variant_of(client, "realtime") == TEXT_SMALL


def post_in_thread(client: Any, results: list[Any], path: str = "/v1/admin/reload", **kwargs: Any) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(client.post(path, **kwargs)))
    thread.start()
    return thread


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def test_concurrent_reloads_are_serialized_and_requests_keep_flowing(serve, tmp_path):
    release = threading.Event()
    release.set()
    store = FakeStore(ALL_VARIANTS, block=release)
    with serve(store=store, admin_token=TOKEN) as client:
        release.clear()
        write_selection(tmp_path / "selection.json", changed_selection())
        first: list[Any] = []
        second: list[Any] = []
        threads = [post_in_thread(client, first, headers=AUTH)]
        try:
            wait_for(lambda: EXTRA in store.attempts)  # the first reload is loading EXTRA now
            threads.append(post_in_thread(client, second, headers=AUTH))
            # the loading runs in a worker thread: the old table keeps answering meanwhile
            assert client.get("/v1/scenarios").json()["selection"]["generated_at"] == SELECTION["generated_at"]
            assert variant_of(client, "realtime") == TEXT_FAST
            time.sleep(0.2)
            assert (first, second) == ([], [])
        finally:
            release.set()
        for thread in threads:
            thread.join(10)
        assert [first[0].status_code, second[0].status_code] == [200, 200]
        assert first[0].json()["added"] == [EXTRA]
        assert second[0].json()["added"] == []  # it waited, then found EXTRA loaded
        assert store.attempts.count(EXTRA) == 1
        assert variant_of(client, "realtime") == EXTRA


def test_reload_waits_for_the_start_up_loading(serve, tmp_path):
    release = threading.Event()
    store = FakeStore(ALL_VARIANTS, block=release)
    with serve(store=store, admin_token=TOKEN, wait=False) as client:
        write_selection(tmp_path / "selection.json", changed_selection())
        results: list[Any] = []
        thread = post_in_thread(client, results, headers=AUTH)
        time.sleep(0.2)
        assert results == []
        release.set()
        thread.join(10)
        assert results[0].status_code == 200
        assert results[0].json()["added"] == [EXTRA]
        assert store.attempts.count(TEXT_FAST) == 1
        assert client.get("/readyz").status_code == 200
        assert variant_of(client, "realtime") == EXTRA


def test_in_flight_request_finishes_on_a_variant_the_reload_unloads(serve, tmp_path):
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, admin_token=TOKEN) as client:
        held = threading.Event()
        big = store.loaded[TEXT_BIG]
        big.hold = held  # type: ignore[union-attr]
        batches = len(big.batch_sizes)
        results: list[Any] = []
        thread = post_in_thread(client, results, "/v1/text/classify", json={"texts": ["hold"], "scenario": "accuracy"})
        try:
            wait_for(lambda: len(big.batch_sizes) > batches)  # in the runtime now
            write_selection(tmp_path / "selection.json", changed_selection())
            response = client.post("/v1/admin/reload", headers=AUTH)
            assert response.status_code == 200
            assert response.json()["removed"] == [TEXT_BIG]
            assert variant_of(client, "accuracy") == TEXT_SMALL
        finally:
            held.set()
        thread.join(10)
        assert results[0].status_code == 200
        assert results[0].headers["X-Variant"] == TEXT_BIG
        assert results[0].json()["predictions"][0]["label"] == "neutral"


def test_file_watch_reloads_a_changed_file(serve, tmp_path):
    path = tmp_path / "selection.json"
    with serve(watch_selection_s=0.02) as client:
        before = reloads(client, "invalid")
        write_selection(path, '{"version": 1,')
        wait_for(lambda: reloads(client, "invalid") == before + 1)
        assert variant_of(client, "realtime") == TEXT_FAST  # the broken file changed nothing
        write_selection(path, changed_selection())
        wait_for(lambda: client.get("/v1/scenarios").json()["selection"]["generated_at"] == NEW_AT)
        assert variant_of(client, "realtime") == EXTRA
        assert client.post("/v1/admin/reload").status_code == 404  # the watch needs no admin endpoint
