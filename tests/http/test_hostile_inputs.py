"""Hostile inputs: every one gets a specific 4xx (or 503) JSON error object, cheaply, and leaves the server ready.

One parametrized matrix over both endpoints, JSON and multipart bodies, headers, paths and methods, sizes,
encodings and image formats (a decompression bomb, a header that declares 10^10 pixels, truncated files, a
compressed-text-chunk bomb, formats the API does not take). Requests go byte for byte into the ASGI app
(`tests/http/rawhttp.py`), so headers that HTTP clients would refuse or re-encode are sent as written. Each case
asserts the status, the error type (and field and limit where it names them), that the body is the documented
error object in valid UTF-8 and small whatever the input size, and that afterwards /readyz is still 200 and a
normal request still classifies.
"""

from __future__ import annotations

import json

import pytest

from tests.http.hostile import (
    ANY,
    MAX_ERROR_BODY_BYTES,
    OK_TEXT,
    Hostile,
)
from tests.http.hostile_image_cases import IMAGE_CASES
from tests.http.hostile_text_cases import TEXT_CASES
from tests.http.rawhttp import RawRequest, RawResponse, exchange

CASES = TEXT_CASES + IMAGE_CASES


def assert_error(response: RawResponse, case: Hostile) -> None:
    assert len(response.body) <= MAX_ERROR_BODY_BYTES, f"{len(response.body)} bytes: the input is reflected"
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"type", "message", "field", "limit", "allowed"}
    assert error["type"] == case.error_type, error
    if case.field is not ANY:
        assert error["field"] == case.field, error
    if case.limit is not ANY:
        assert error["limit"] == case.limit, error


def test_the_matrix_is_large_and_distinct() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input(serve, service_asgi, case: Hostile) -> None:
    with serve(**case.settings) as client:
        response = exchange(client, service_asgi, case.build())
        assert response.status == case.status, response.body[:500]
        if case.error_type is None:
            assert len(response.json()["predictions"]) >= 1
        else:
            assert_error(response, case)
        if case.check is not None:
            case.check(response)
        assert exchange(client, service_asgi, RawRequest("GET", "/readyz")).status == 200
        follow_up = exchange(client, service_asgi, OK_TEXT)
        assert follow_up.status == 200, follow_up.body[:300]
        assert json.loads(follow_up.body)["predictions"][0]["label"] == "positive"
