"""Schemathesis against the service's own OpenAPI document (/docs.json), in process, over the fake model store.

Every operation of the document (BentoML's health and metrics endpoints and the /v1 API) gets a bounded number
of schema-valid and schema-invalid requests, generated deterministically (hypothesis `derandomize`); each
response must not be a 5xx, must have a documented status, content type, headers and body schema, 405s must
carry Allow, and invalid requests must be refused. Requests go through the ASGI harness of tests/http (the
service's real middleware and error handling), not schemathesis' own ASGI client, which would start a second,
process-wide lifespan of the service.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    allow_header_conformance,
]
# Invalid requests must be refused with a 4xx the API documents; 413 and 431 are how it refuses oversized ones.
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 413, 415, 422, 431]}}}
)
REQUEST_ARGUMENTS = ("method", "url", "headers", "files", "data", "params", "auth", "cookies", "json")
BASE_URL = "http://testserver"


def send(client: Any, case: schemathesis.Case) -> httpx.Response:
    """The case as requests would encode it (multipart included), sent through the ASGI test client."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    prepared = requests.Request(**{key: kwargs[key] for key in REQUEST_ARGUMENTS if key in kwargs}).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return client.request(prepared.method, prepared.url, headers=dict(prepared.headers), content=body)


def has_inputs(operation: Any) -> bool:
    """Whether the operation takes anything that negative generation could make invalid."""
    return any(True for _ in operation.iter_parameters()) or len(operation.body) > 0


def fuzz(client: Any, operation: Any, mode: GenerationMode) -> None:
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exchange(case: schemathesis.Case) -> None:
        response = send(client, case)
        case.validate_response(response, checks=checks)

    exchange()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
def test_every_operation_of_the_openapi_document(serve, mode: GenerationMode) -> None:
    with serve(admin_token="fuzz-admin-token") as client:
        schema = schemathesis.openapi.from_dict(client.get("/docs.json").json(), config=CONFIG)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
            "POST /v1/text/classify",
            "POST /v1/image/classify",
            "GET /v1/scenarios",
            "GET /v1/models",
            "POST /v1/admin/reload",
            "GET /livez",
        }
        for operation in operations:
            if mode is GenerationMode.POSITIVE or has_inputs(operation):
                fuzz(client, operation, mode)
        assert client.get("/readyz").status_code == 200
