"""Classification through the real HTTP stack: routing per scenario, headers, fallbacks, readiness."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time

import pytest

from tests.http.conftest import (
    ALL_VARIANTS,
    IMAGE_BIG,
    IMAGE_FAST,
    TEXT_BIG,
    TEXT_FAST,
    TEXT_SMALL,
    image_bytes,
    wait_until_loaded,
)
from tests.http.fakes import FakeStore


def test_default_scenario_routes_text_to_the_realtime_variant(client):
    response = client.post("/v1/text/classify", json={"texts": ["I love it", "I hate it", "a table"]})
    assert response.status_code == 200
    body = response.json()
    assert body["task"] == "sentiment"
    assert body["scenario"] == "realtime"
    assert body["variant"] == TEXT_FAST
    assert body["model_version"] == "v-fake"
    assert body["fallback"] is False
    assert body["truncated"] == []
    assert [p["label"] for p in body["predictions"]] == ["positive", "negative", "neutral"]
    first = body["predictions"][0]
    assert first["score"] == pytest.approx(0.7)
    assert list(first["scores"]) == ["positive", "neutral", "negative"]  # highest first
    assert sum(first["scores"].values()) == pytest.approx(1.0)
    assert response.headers["X-Variant"] == TEXT_FAST
    assert response.headers["X-Scenario"] == "realtime"


@pytest.mark.parametrize(
    ("scenario", "variant"), [("realtime", TEXT_FAST), ("batch", TEXT_FAST), ("accuracy", TEXT_BIG)]
)
def test_scenario_in_body_selects_its_variant(client, scenario, variant):
    response = client.post("/v1/text/classify", json={"texts": ["great"], "scenario": scenario})
    assert response.status_code == 200
    assert response.json()["variant"] == variant
    assert response.headers["X-Variant"] == variant


def test_scenario_header_routes_and_the_body_field_wins(client):
    by_header = client.post("/v1/text/classify", json={"texts": ["x"]}, headers={"X-Scenario": "accuracy"})
    assert by_header.json()["scenario"] == "accuracy"
    assert by_header.headers["X-Variant"] == TEXT_BIG
    both = client.post(
        "/v1/text/classify", json={"texts": ["x"], "scenario": "realtime"}, headers={"X-Scenario": "accuracy"}
    )
    assert both.json()["scenario"] == "realtime"
    assert both.headers["X-Variant"] == TEXT_FAST


def test_top_k_limits_the_scores(client):
    body = client.post("/v1/text/classify", json={"texts": ["love"], "top_k": 1}).json()
    assert body["predictions"][0]["scores"] == {"positive": pytest.approx(0.7)}


def test_texts_longer_than_max_length_are_reported_as_truncated(client):
    long_text = " ".join(["word"] * 20)  # fake max_length is 8 tokens
    body = client.post("/v1/text/classify", json={"texts": ["short", long_text, "also short"]}).json()
    assert body["truncated"] == [1]


def test_image_multipart_files(client):
    files = [
        ("images", ("white.png", image_bytes(255), "image/png")),
        ("images", ("black.jpg", image_bytes(0, fmt="JPEG"), "image/jpeg")),
    ]
    response = client.post("/v1/image/classify", files=files, data={"scenario": "accuracy", "top_k": "2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "digits"
    assert body["variant"] == IMAGE_BIG
    assert [p["label"] for p in body["predictions"]] == ["9", "0"]
    assert len(body["predictions"][0]["scores"]) == 2


def test_image_json_base64_and_data_url(client):
    plain = base64.b64encode(image_bytes(255)).decode()
    data_url = "data:image/png;base64," + base64.b64encode(image_bytes(0)).decode()
    response = client.post("/v1/image/classify", json={"images": [plain, data_url]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scenario"] == "realtime"
    assert body["variant"] == IMAGE_FAST
    assert response.headers["X-Variant"] == IMAGE_FAST
    assert [p["label"] for p in body["predictions"]] == ["9", "0"]


def test_falls_back_when_the_selected_variant_failed_to_load(serve):
    store = FakeStore(ALL_VARIANTS, fail={TEXT_FAST: "onnx file is corrupt"})
    with serve(store=store) as client:
        response = client.post("/v1/text/classify", json={"texts": ["love"]})
        assert response.status_code == 200
        assert response.json()["variant"] == TEXT_SMALL
        assert response.json()["fallback"] is True
        assert response.headers["X-Variant"] == TEXT_SMALL
        # not ready: sentiment/batch routes to TEXT_FAST alone, so that route has no loaded variant
        assert client.get("/readyz").status_code == 503
        assert client.get("/v1/models").json()["unserved_routes"] == ["sentiment/batch"]
        metrics = client.get("/metrics").text
        assert (
            'scenario_serve_routing_decisions_total{fallback="true",scenario="realtime",'
            f'task="sentiment",variant="{TEXT_SMALL}"}}'
        ) in metrics


def test_gate_rejected_variant_is_never_routed(serve):
    store = FakeStore(ALL_VARIANTS, gates={IMAGE_FAST: "rejected"})
    with serve(store=store) as client:
        response = client.post("/v1/image/classify", files=[("images", ("a.png", image_bytes(), "image/png"))])
        assert response.json()["variant"] == IMAGE_BIG
        assert response.json()["fallback"] is True
        assert IMAGE_FAST not in store.loaded
        assert client.get("/readyz").status_code == 200  # skipped on purpose, not a failure


def test_503_when_no_variant_of_the_route_is_loaded(serve):
    store = FakeStore(ALL_VARIANTS, fail={TEXT_BIG: "out of memory"})
    with serve(store=store) as client:
        response = client.post("/v1/text/classify", json={"texts": ["x"], "scenario": "accuracy"})
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["type"] == "variant_unavailable"
        assert TEXT_BIG in error["message"]
        assert "out of memory" not in response.text  # load errors stay in /v1/models and the log


def test_not_ready_until_every_variant_is_loaded_and_warm(serve):
    release = threading.Event()
    store = FakeStore(ALL_VARIANTS, block=release)
    with serve(store=store, wait=False) as client:
        try:
            assert client.get("/livez").status_code == 200
            assert client.get("/readyz").status_code == 503
            early = client.post("/v1/text/classify", json={"texts": ["x"]})
            assert early.status_code == 503
            assert early.json()["error"]["type"] == "variant_unavailable"
        finally:
            release.set()
        wait_until_loaded(client)
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/text/classify", json={"texts": ["x"]}).status_code == 200


def test_variants_setting_limits_what_is_loaded(serve):
    with serve(variants=f"{TEXT_SMALL},{IMAGE_BIG}") as client:
        body = client.post("/v1/text/classify", json={"texts": ["x"]}).json()
        assert body["variant"] == TEXT_SMALL
        assert body["fallback"] is True
        statuses = {v["name"]: v["status"] for v in client.get("/v1/models").json()["variants"]}
        assert statuses[TEXT_FAST] == "not_loaded"
        assert statuses[TEXT_SMALL] == "ready"
        # sentiment/accuracy has no variant in the load set: served by nobody, on purpose
        assert client.get("/readyz").status_code == 200


def test_concurrent_requests_share_a_batch(serve):
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, max_latency_ms=200, max_batch_size=4) as client:
        results: list[int] = []

        def call() -> None:
            results.append(client.post("/v1/text/classify", json={"texts": ["x"]}).status_code)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [200] * 4
        served = store.loaded[TEXT_FAST].batch_sizes[-1:]  # warm-up batches come first
        assert served == [4]


def test_a_full_queue_answers_503_with_retry_after_at_once_and_admitted_requests_complete(serve):
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, max_queue_items=1, concurrent_batches=1) as client:  # one inference thread
        classifier = store.loaded[TEXT_FAST]
        classifier.hold = threading.Event()
        results: dict[str, int] = {}

        def call(name: str, text: str) -> None:
            results[name] = client.post("/v1/text/classify", json={"texts": [text]}).status_code

        running = threading.Thread(target=call, args=("running", "hold"))
        running.start()
        deadline = time.monotonic() + 5
        while not any(size == 1 for size in classifier.batch_sizes[-1:]) and time.monotonic() < deadline:
            time.sleep(0.01)  # the held request's batch is running
        queued = threading.Thread(target=call, args=("queued", "love it"))
        queued.start()
        time.sleep(0.2)  # queued behind the running batch: the queue (1 item) is full
        started = time.monotonic()
        refused = client.post("/v1/text/classify", json={"texts": ["one too many"]})
        refusal_s = time.monotonic() - started
        classifier.hold.set()
        running.join()
        queued.join()
        assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
        assert refused.json()["error"]["type"] == "overloaded"
        assert refusal_s < 1.0
        assert results == {"running": 200, "queued": 200}
        metrics = client.get("/metrics").text
        assert f'scenario_serve_rejections_total{{reason="queue_items",variant="{TEXT_FAST}"}} 1.0' in metrics


def test_not_ready_while_a_peer_worker_takes_connections_before_it_is_ready(serve, tmp_path, monkeypatch):
    """/readyz speaks for the server: a peer worker accepting while loading answers 503 on its connections."""
    import service.app
    from service.workers import ACCEPTING, READY, WorkerBoard

    states = tmp_path / "workers"
    monkeypatch.setattr(service.app, "WorkerBoard", lambda: WorkerBoard(states, parent=os.getpid()))
    peer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a child: this board's sibling
    try:
        with serve() as client:
            assert client.get("/readyz").status_code == 200
            peer_board = WorkerBoard(states, pid=peer.pid, parent=os.getpid())
            peer_board.mark(ACCEPTING)
            assert client.get("/readyz").status_code == 503
            peer_board.mark(READY)
            assert client.get("/readyz").status_code == 200
    finally:
        peer.kill()
        peer.wait()
    assert not (states / f"{os.getpid()}.{ACCEPTING}").exists()  # left at shutdown
