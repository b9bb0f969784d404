"""Hardening beyond single requests: deadlines, the shared pixel budget, the disk, the admin token, the OpenAPI
document, and the cost of refusing a hostile body."""

from __future__ import annotations

import io
import logging
import tempfile
import threading
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.budget import shared_budget
from service.config import ConfigError, ServiceConfig
from tests.http.conftest import ALL_VARIANTS, TEXT_FAST
from tests.http.fakes import FakeStore

TEXT = "/v1/text/classify"
IMAGE = "/v1/image/classify"


def png(size: tuple[int, int], noise: bool = False) -> bytes:
    pixels = (
        np.random.default_rng(0).integers(0, 256, size[::-1], dtype=np.uint8)
        if noise
        else np.zeros(size[::-1], np.uint8)
    )
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


# --- deadline ---------------------------------------------------------------------------------------------------


def test_a_request_past_its_deadline_gets_a_504_error_object_and_is_counted(serve) -> None:
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, request_timeout_s=0.3) as client:
        hold = threading.Event()
        store.loaded[TEXT_FAST].hold = hold
        try:
            started = time.perf_counter()
            response = client.post(TEXT, json={"texts": ["hold"]})
            elapsed = time.perf_counter() - started
        finally:
            hold.set()
        time.sleep(0.5)  # the held batch finishes in the background; right after it the queue is judged busy
        error = error_of(response, 504)
        assert (error["type"], error["limit"]) == ("timeout", 0.3)
        assert elapsed < 5
        assert 'scenario_serve_errors_total{error_type="timeout"}' in client.get("/metrics").text
        assert client.post(TEXT, json={"texts": ["love it"]}).status_code == 200
        assert client.get("/readyz").status_code == 200


# --- decoded pixels ---------------------------------------------------------------------------------------------


def test_the_worker_pixel_budget_is_shared_by_concurrent_requests_and_given_back(serve) -> None:
    limit = 3 * 64 * 64
    budget = shared_budget(limit)
    image = ("images", ("a.png", png((64, 64)), "image/png"))
    with serve(max_inflight_pixels=limit, max_image_pixels=64 * 64) as client:
        assert budget.held == 0
        assert budget.try_take(2 * 64 * 64)  # as if other requests held decoded images
        try:
            busy = client.post(IMAGE, files=[image, image])
        finally:
            budget.give_back(2 * 64 * 64)
        error = error_of(busy, 503)
        assert (error["type"], error["field"], error["limit"]) == ("overloaded", "images", limit)
        assert busy.headers["Retry-After"].isdigit()
        assert budget.held == 0  # the refused request gave back what it had taken
        assert client.post(IMAGE, files=[image, image]).status_code == 200
        assert budget.held == 0  # a served request gives its pixels back once answered
        broken = ("images", ("b.png", png((64, 64))[:-40], "image/png"))
        assert client.post(IMAGE, files=[image, broken]).status_code == 422
        assert budget.held == 0


# --- the disk ---------------------------------------------------------------------------------------------------


def test_request_bodies_are_never_written_to_disk(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    import starlette.formparsers

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a request body was about to be written to a temporary file")

    large = png((1100, 1100), noise=True)  # over 1 MB: Starlette's form parser would spool it to disk
    assert len(large) > 1024 * 1024
    with serve() as client:
        for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "mkdtemp"):
            monkeypatch.setattr(tempfile, name, refuse)
        monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", refuse)
        multipart = client.post(IMAGE, files=[("images", ("big.png", large, "image/png"))] * 2)
        assert multipart.status_code == 200, multipart.text
        import base64

        assert client.post(IMAGE, json={"images": [base64.b64encode(large).decode()]}).status_code == 200


# --- the admin token --------------------------------------------------------------------------------------------


def test_the_admin_token_is_never_echoed_or_logged(serve, caplog: pytest.LogCaptureFixture) -> None:
    token = "s3cret-admin-token-0123456789"
    guess = "guessed-token-9876543210"
    caplog.set_level(logging.DEBUG)
    with serve(admin_token=token) as client:
        responses = [
            client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {guess}"}),
            client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {token}x"}),
            client.post("/v1/admin/reload", headers={"Authorization": f"Basic {token}"}),
            client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {token}"}, content=b"body"),
            client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {token}"}),
            client.get("/v1/scenarios"),
            client.get("/v1/models"),
            client.get("/docs.json"),
            client.get("/metrics"),
        ]
    assert [response.status_code for response in responses[:5]] == [403, 403, 401, 400, 200]
    for response in responses:
        assert token not in response.text and guess not in response.text
    assert token not in caplog.text and guess not in caplog.text
    config = ServiceConfig.from_env({"SCENARIO_SERVE_ADMIN_TOKEN": token})
    assert token not in repr(config) and token not in str(config)
    with pytest.raises(ConfigError) as refused:
        ServiceConfig.from_env({"SCENARIO_SERVE_ADMIN_TOKEN": "has spaces s3cret"})
    assert "s3cret" not in str(refused.value)


# --- the OpenAPI document ---------------------------------------------------------------------------------------


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(value) for value in node))
    return set()


def test_the_openapi_document_describes_the_v1_api_with_its_schemas(client) -> None:
    document = client.get("/docs.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/livez", "/readyz", "/metrics"} <= set(document["paths"])  # BentoML's part is kept
    text = document["paths"]["/v1/text/classify"]["post"]
    assert text["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TextClassifyRequest"
    }
    assert text["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClassifyResponse"
    }
    assert text["responses"]["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    image = document["paths"]["/v1/image/classify"]["post"]["requestBody"]["content"]
    assert set(image) == {"application/json", "multipart/form-data"}
    assert {"/v1/scenarios", "/v1/models", "/v1/admin/reload"} <= set(document["paths"])
    schemas = document["components"]["schemas"]
    assert schemas["TextClassifyRequest"]["properties"]["texts"]["type"] == "array"
    assert schemas["TextClassifyRequest"]["additionalProperties"] is False
    for reference in refs(document):
        assert reference.removeprefix("#/components/schemas/") in schemas, reference


# --- cost -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"texts": [' + b"1," * 4_000_000 + b"1]}", id="8MB-over-the-body-limit"),
        pytest.param(b'{"texts": [' + b"1," * 750_000 + b"1]}", id="1.5MB-of-items"),
        pytest.param(b"[" * 1_500_000, id="1.5MB-of-nesting"),
    ],
)
def test_a_hostile_text_body_is_refused_cheaply(client, body: bytes) -> None:
    """The issue's 8 MB body froze every endpoint for 31.7 s; refusing it now is a size or count check."""
    started = time.perf_counter()
    response = client.post(TEXT, content=body, headers={"Content-Type": "application/json"})
    elapsed = time.perf_counter() - started
    assert response.status_code in (400, 413)
    assert elapsed < 3.0, f"{elapsed:.2f} s"
