"""GET /v1/scenarios (live routing table), GET /v1/models (every known variant), health and metrics."""

from __future__ import annotations

from service.metrics import ALL_METRIC_NAMES
from tests.http.conftest import ALL_VARIANTS, EXTRA, IMAGE_BIG, IMAGE_FAST, TEXT_BIG, TEXT_FAST, TEXT_SMALL
from tests.http.fakes import FakeStore, metadata


def test_scenarios_table(client):
    body = client.get("/v1/scenarios").json()
    assert body["selection"]["generated_by"] == "tests"
    assert body["selection"]["version"] == 1
    sentiment = body["tasks"]["sentiment"]
    assert (sentiment["kind"], sentiment["endpoint"], sentiment["default_scenario"]) == (
        "text",
        "/v1/text/classify",
        "realtime",
    )
    assert set(sentiment["scenarios"]) == {"realtime", "batch", "accuracy"}
    realtime = sentiment["scenarios"]["realtime"]
    assert realtime["variant"] == TEXT_FAST
    assert realtime["fallbacks"] == [TEXT_SMALL]
    assert realtime["serving"] == TEXT_FAST
    assert realtime["fallback"] is False
    assert realtime["constraints"] == {"p95_latency_ms": 20}
    assert realtime["objective"] == "minimize_latency"
    assert realtime["evidence"] == {"note": "test"}
    assert realtime["variants"] == [
        {"name": TEXT_FAST, "role": "selected", "status": "ready", "loaded": True},
        {"name": TEXT_SMALL, "role": "fallback", "status": "ready", "loaded": True},
    ]
    assert body["tasks"]["digits"]["endpoint"] == "/v1/image/classify"


def test_scenarios_table_shows_live_fallbacks(serve):
    with serve(store=FakeStore(ALL_VARIANTS, fail={IMAGE_FAST: "boom"})) as client:
        realtime = client.get("/v1/scenarios").json()["tasks"]["digits"]["scenarios"]["realtime"]
    assert realtime["serving"] == IMAGE_BIG
    assert realtime["fallback"] is True
    assert realtime["variants"][0] == {"name": IMAGE_FAST, "role": "selected", "status": "failed", "loaded": False}


def test_models_table(serve):
    store = FakeStore(
        [name for name in ALL_VARIANTS if name != TEXT_BIG],
        fail={IMAGE_FAST: "corrupt"},
        gates={TEXT_SMALL: "rejected"},
    )
    with serve(store=store) as client:
        body = client.get("/v1/models").json()
    assert body["ready"] is False
    variants = {v["name"]: v for v in body["variants"]}
    assert set(variants) == set(ALL_VARIANTS)
    assert variants[TEXT_FAST]["status"] == "ready"
    assert variants[TEXT_FAST]["routes"] == ["sentiment/realtime", "sentiment/batch"]
    assert variants[TEXT_FAST]["version"] == "v-fake"
    assert variants[TEXT_FAST]["metadata"]["runtime"] == "onnxruntime"
    assert variants[TEXT_FAST]["load_seconds"] is not None
    assert variants[IMAGE_FAST]["status"] == "failed"
    assert variants[IMAGE_FAST]["reason"] == "RuntimeError: corrupt"
    assert variants[TEXT_SMALL]["status"] == "rejected"
    assert "accuracy gate" in variants[TEXT_SMALL]["reason"]
    assert variants[TEXT_BIG]["status"] == "failed"
    assert "not found" in variants[TEXT_BIG]["reason"]
    assert variants[EXTRA]["status"] == "not_routed"
    assert variants[EXTRA]["routes"] == []
    assert variants[EXTRA]["metadata"]["task"] == "sentiment"


def test_variant_stored_for_another_task_is_refused(serve):
    store = FakeStore(ALL_VARIANTS)
    store.stored[TEXT_SMALL] = metadata(TEXT_SMALL, task="digits")  # a digits variant under a sentiment name
    with serve(store=store) as client:
        small = {v["name"]: v for v in client.get("/v1/models").json()["variants"]}[TEXT_SMALL]
    assert small["status"] == "failed"
    assert "routed for task 'sentiment'" in small["reason"]


def test_a_variant_whose_metadata_breaks_the_contract_fails_naming_the_key(serve):
    store = FakeStore(ALL_VARIANTS)
    del store.stored[IMAGE_FAST]["gate"]["status"]  # routed: not loaded, its route falls back
    store.stored[EXTRA]["eval"]["macro_f1"] = "high"  # routed nowhere: listed all the same, with the reason
    with serve(store=store) as client:
        variants = {v["name"]: v for v in client.get("/v1/models").json()["variants"]}
        realtime = client.get("/v1/scenarios").json()["tasks"]["digits"]["scenarios"]["realtime"]
        assert client.get("/readyz").status_code == 200
    broken = variants[IMAGE_FAST]
    assert (broken["status"], broken["version"], broken["metadata"]) == ("failed", "v-fake", None)
    assert broken["reason"] == (
        f"MetadataError: {IMAGE_FAST}:v-fake: metadata does not match the contract: gate.status: Field required"
    )
    assert (realtime["serving"], realtime["fallback"]) == (IMAGE_BIG, True)
    spare = variants[EXTRA]
    assert (spare["status"], spare["version"], spare["metadata"]) == ("not_routed", "v-spare", None)
    assert "eval.macro_f1: Input should be a valid number" in spare["reason"]
    assert variants[TEXT_FAST]["metadata"] == store.stored[TEXT_FAST]  # the others as the store holds them


def test_health_endpoints(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_metrics_expose_every_custom_metric(client):
    client.post("/v1/text/classify", json={"texts": ["love"]})
    client.post("/v1/text/classify", json={"texts": ["love"], "scenario": "nope"})
    text = client.get("/metrics").text
    for name in ALL_METRIC_NAMES:
        assert f"# TYPE {name} " in text, name
    assert 'scenario_serve_items_classified_total{task="sentiment",variant="sentiment-fake-onnx-int8"}' in text
    assert 'scenario_serve_variant_info{gate="accepted",precision="int8",runtime="onnxruntime",' in text
    assert 'scenario_serve_errors_total{error_type="unknown_scenario"}' in text
    assert 'scenario="nope"' not in text  # client input never becomes a label
