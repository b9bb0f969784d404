"""Every invalid request gets a 4xx JSON error naming the field and, where one applies, the limit."""

from __future__ import annotations

import base64

import pytest

from tests.http.conftest import image_bytes


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "field", "limit", "allowed"}
    assert "Traceback" not in response.text
    return body["error"]


@pytest.mark.parametrize(
    ("payload", "status", "error_type", "field", "limit"),
    [
        ({"texts": []}, 400, "invalid_request", "texts", 1),
        ({"texts": ["a", "b", "c", "d"]}, 413, "payload_too_large", "texts", 3),
        ({"texts": ["ok", "x" * 11]}, 413, "payload_too_large", "texts[1]", 10),
        ({"texts": ["ok", 5]}, 400, "invalid_request", "texts[1]", None),
        ({"texts": "not a list"}, 400, "invalid_request", "texts", None),
        ({}, 400, "invalid_request", "texts", None),
        ({"texts": ["a"], "scenarios": "typo"}, 400, "invalid_request", "scenarios", None),
        ({"texts": ["a"], "top_k": 0}, 400, "invalid_request", "top_k", 1),
        ({"texts": ["a"], "top_k": "3"}, 400, "invalid_request", "top_k", None),
        ({"texts": ["a"], "top_k": 4}, 400, "invalid_request", "top_k", 3),
        ({"texts": ["a"], "scenario": 7}, 400, "invalid_request", "scenario", None),
        ([1, 2], 400, "invalid_request", None, None),
    ],
)
def test_text_validation(serve, payload, status, error_type, field, limit):
    with serve(max_items=3, max_text_chars=10) as client:
        error = error_of(client.post("/v1/text/classify", json=payload), status)
    assert error["type"] == error_type
    assert error["field"] == field
    assert error["limit"] == limit


def test_malformed_json(client):
    response = client.post("/v1/text/classify", content=b"{not json", headers={"Content-Type": "application/json"})
    assert error_of(response, 400)["field"] == "body"


def test_wrong_content_type(client):
    error = error_of(client.post("/v1/text/classify", content=b"hello", headers={"Content-Type": "text/plain"}), 415)
    assert error["type"] == "unsupported_media_type"
    assert error["allowed"] == ["application/json"]
    image = client.post("/v1/image/classify", content=b"x", headers={"Content-Type": "image/png"})
    assert error_of(image, 415)["allowed"] == ["application/json", "multipart/form-data"]


def test_body_too_large(serve):
    with serve(max_body_bytes=100) as client:
        error = error_of(client.post("/v1/text/classify", json={"texts": ["x" * 200]}), 413)
    assert (error["field"], error["limit"]) == ("body", 100)


def test_unknown_scenario_lists_the_valid_ones(client):
    for response in (
        client.post("/v1/text/classify", json={"texts": ["a"], "scenario": "warp"}),
        client.post("/v1/text/classify", json={"texts": ["a"]}, headers={"X-Scenario": "warp"}),
    ):
        error = error_of(response, 404)
        assert error["type"] == "unknown_scenario"
        assert error["field"] == "scenario"
        assert error["allowed"] == ["accuracy", "batch", "realtime"]
        assert "warp" in error["message"]
    image = client.post(
        "/v1/image/classify", json={"images": [base64.b64encode(image_bytes()).decode()], "scenario": "batch"}
    )
    assert error_of(image, 404)["allowed"] == ["accuracy", "realtime"]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("images", "status", "error_type", "field", "limit"),
    [
        ([], 400, "invalid_request", "images", 1),
        (["%%%not base64%%%"], 400, "invalid_request", "images[0]", None),
        ([b64(image_bytes()), b64(b"hello, not an image")], 422, "undecodable_input", "images[1]", None),
        ([b64(image_bytes()[:40])], 422, "undecodable_input", "images[0]", None),
        ([b64(image_bytes(fmt="GIF"))], 422, "undecodable_input", "images[0]", None),
        ([b64(image_bytes(size=(100, 100)))], 413, "payload_too_large", "images[0]", 4096),
        ([b64(image_bytes(size=(60, 60)) + b"\0" * 3000)], 413, "payload_too_large", "images[0]", 2000),
        ([b64(image_bytes())] * 4, 413, "payload_too_large", "images", 3),
        ([3], 400, "invalid_request", "images[0]", None),
    ],
)
def test_image_json_validation(serve, images, status, error_type, field, limit):
    with serve(max_items=3, max_image_pixels=64 * 64, max_image_bytes=2000) as client:
        error = error_of(client.post("/v1/image/classify", json={"images": images}), status)
    assert (error["type"], error["field"], error["limit"]) == (error_type, field, limit)


def test_image_multipart_validation(serve):
    with serve(max_image_bytes=2000, max_items=2) as client:
        wrong_type = client.post("/v1/image/classify", files=[("images", ("a.txt", b"hello", "text/plain"))])
        assert error_of(wrong_type, 415)["field"] == "images[0]"
        too_big = client.post(
            "/v1/image/classify", files=[("images", ("a.png", image_bytes() + b"\0" * 3000, "image/png"))]
        )
        assert error_of(too_big, 413)["limit"] == 2000
        fields_only = b'--b\r\nContent-Disposition: form-data; name="scenario"\r\n\r\nrealtime\r\n--b--\r\n'
        no_files = client.post(
            "/v1/image/classify", content=fields_only, headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert (error_of(no_files, 400)["field"], error_of(no_files, 400)["limit"]) == ("images", 1)
        no_boundary = client.post(
            "/v1/image/classify", content=b"--b\r\n\r\n--b--\r\n", headers={"Content-Type": "multipart/form-data"}
        )
        assert error_of(no_boundary, 400)["field"] == "body"
        empty_file = client.post("/v1/image/classify", files=[("images", ("a.png", b"", "image/png"))])
        assert error_of(empty_file, 422)["field"] == "images[0]"
        unknown_field = client.post(
            "/v1/image/classify", data={"colour": "red"}, files=[("images", ("a.png", image_bytes(), "image/png"))]
        )
        assert error_of(unknown_field, 400)["field"] == "colour"
        bad_top_k = client.post(
            "/v1/image/classify", data={"top_k": "many"}, files=[("images", ("a.png", image_bytes(), "image/png"))]
        )
        assert error_of(bad_top_k, 400)["field"] == "top_k"
        too_many = client.post(
            "/v1/image/classify", files=[("images", (f"{i}.png", image_bytes(), "image/png")) for i in range(3)]
        )
        assert error_of(too_many, 413)["limit"] == 2


def test_method_not_allowed_is_json(client):
    error = error_of(client.get("/v1/text/classify"), 405)
    assert error["type"] == "method_not_allowed"


def test_errors_are_counted(client):
    client.post("/v1/text/classify", json={"texts": []})
    assert 'scenario_serve_errors_total{error_type="invalid_request"}' in client.get("/metrics").text


def test_kind_without_a_task_is_404(serve):
    from tests.http.conftest import SELECTION

    text_only = {**SELECTION, "tasks": {"sentiment": SELECTION["tasks"]["sentiment"]}}
    with serve(selection=text_only) as client:
        error = error_of(client.post("/v1/image/classify", json={"images": ["x"]}), 404)
    assert error["type"] == "not_found"
    assert "image" in error["message"]


def test_runtime_failure_is_a_generic_500_without_internals(client, caplog):
    response = client.post("/v1/text/classify", json={"texts": ["fine", "explode"]})
    error = error_of(response, 500)
    assert error["type"] == "inference_failed"  # every variant of the route raised on this batch
    assert "secret" not in response.text
    assert "secret runtime internals" in caplog.text  # the operator sees it in the log
    assert client.post("/v1/text/classify", json={"texts": ["fine"]}).status_code == 200
