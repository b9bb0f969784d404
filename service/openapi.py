"""The service's OpenAPI document: BentoML's (health, readiness, metrics) plus the mounted /v1 API.

BentoML 1.4 builds /docs.json from `@bentoml.api` methods and describes mounted apps only when they are FastAPI
apps (`_bentoml_sdk.service.openapi.generate_spec`); the /v1 API is a Starlette app, so its operations were
missing. `openapi_app` serves the merged document at the same path: mounted before BentoML adds its own
/docs.json route, it answers first, and BentoML's index page (which reads docs.json) shows the whole API.
Request and response schemas come from `service.schemas`, so the document cannot drift from the validation.
The document is OpenAPI 3.1: pydantic 2 emits JSON Schema 2020-12 (`"type": "null"`), which 3.0 cannot express.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.schemas import (
    MAX_SCENARIO_CHARS,
    ClassifyResponse,
    ErrorResponse,
    ImageClassifyForm,
    ImageClassifyRequest,
    ModelsTable,
    ReloadResult,
    ScenariosTable,
    TextClassifyRequest,
)

DOCUMENT_PATH = "/docs.json"
OPENAPI_VERSION = "3.1.0"
API_TAG = "Service APIs"
REF = "#/components/schemas/{model}"
COMPONENT_MODELS: tuple[type[BaseModel], ...] = (
    TextClassifyRequest,
    ImageClassifyRequest,
    ImageClassifyForm,
    ClassifyResponse,
    ScenariosTable,
    ModelsTable,
    ReloadResult,
    ErrorResponse,
)
ERRORS = {
    400: "invalid request: bad JSON, types or encoding, empty list, bad top_k, invalid base64, unknown field",
    401: "no bearer token",
    403: "wrong bearer token",
    404: "unknown scenario, or no such endpoint",
    409: "the selection file is valid but would leave the service unable to serve",
    413: "too many items; a text, image or body too large; too many decoded pixels in the request",
    415: "wrong Content-Type",
    422: "an image that cannot be decoded; an invalid selection file",
    431: "request headers, or the X-Scenario header, too large",
    500: "unexpected failure (no details; see the server log)",
    503: "no variant loaded for the route, or overloaded (Retry-After)",
    504: "the request did not complete within SCENARIO_SERVE_REQUEST_TIMEOUT_S",
}
ROUTE_HEADERS = {
    "X-Scenario": {"description": "the scenario that routed the request", "schema": {"type": "string"}},
    "X-Variant": {"description": "the variant that served the request", "schema": {"type": "string"}},
}
SCENARIO_HEADER_PARAMETER = {
    "name": "X-Scenario",
    "in": "header",
    "required": False,
    "description": "routing scenario when the body names none",
    "schema": {"type": "string", "maxLength": MAX_SCENARIO_CHARS},
}


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def component_schemas() -> dict[str, Any]:
    """Every model the API documents, with its nested models hoisted beside it."""
    schemas: dict[str, Any] = {}
    for model in COMPONENT_MODELS:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def error_responses(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {"description": ERRORS[status], "content": {"application/json": {"schema": ref(ErrorResponse)}}}
        for status in statuses
    }


def ok(model: type[BaseModel], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": ref(model)}}}
    if headers:
        response["headers"] = headers
    return {"200": response}


def api_paths() -> dict[str, Any]:
    classify_errors = (400, 404, 413, 415, 431, 500, 503, 504)
    return {
        "/v1/text/classify": {
            "post": {
                "operationId": "classify_text",
                "tags": [API_TAG],
                "summary": "Classify texts with the variant of the scenario",
                "parameters": [SCENARIO_HEADER_PARAMETER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref(TextClassifyRequest)}},
                },
                "responses": {
                    **ok(ClassifyResponse, "one prediction per text, in order", ROUTE_HEADERS),
                    **error_responses(*classify_errors),
                },
            }
        },
        "/v1/image/classify": {
            "post": {
                "operationId": "classify_image",
                "tags": [API_TAG],
                "summary": "Classify JPEG/PNG images with the variant of the scenario",
                "parameters": [SCENARIO_HEADER_PARAMETER],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref(ImageClassifyRequest)},
                        "multipart/form-data": {
                            "schema": ref(ImageClassifyForm),
                            "encoding": {"images": {"contentType": "image/png, image/jpeg"}},
                        },
                    },
                },
                "responses": {
                    **ok(ClassifyResponse, "one prediction per image, in order", ROUTE_HEADERS),
                    **error_responses(*classify_errors, 422),
                },
            }
        },
        "/v1/scenarios": {
            "get": {
                "operationId": "scenarios",
                "tags": [API_TAG],
                "summary": "The live routing table",
                "responses": {
                    **ok(ScenariosTable, "per task and scenario: selected, fallbacks, serving"),
                    **error_responses(431, 500, 504),
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "models",
                "tags": [API_TAG],
                "summary": "Every known variant and its state",
                "responses": {**ok(ModelsTable, "variants"), **error_responses(431, 500, 504)},
            }
        },
        "/v1/admin/reload": {
            "post": {
                "operationId": "reload_selection",
                "tags": [API_TAG],
                "summary": "Re-read the configured selection file and apply it (all or nothing)",
                "description": "Exists only when SCENARIO_SERVE_ADMIN_TOKEN is set (otherwise 404); the body "
                "must be empty.",
                "security": [{"adminToken": []}],
                "responses": {
                    **ok(ReloadResult, "the reload's changes"),
                    **error_responses(400, 401, 403, 404, 409, 422, 431, 500, 504),
                },
            }
        },
    }


def service_document(bento_document: dict[str, Any]) -> dict[str, Any]:
    """BentoML's document with the /v1 API added (a new dict; the argument is not changed)."""
    document = {**bento_document, "openapi": OPENAPI_VERSION}
    document["paths"] = {**bento_document.get("paths", {}), **api_paths()}
    components = dict(bento_document.get("components", {}))
    components["schemas"] = {**components.get("schemas", {}), **component_schemas()}
    components["securitySchemes"] = {
        **components.get("securitySchemes", {}),
        "adminToken": {"type": "http", "scheme": "bearer", "description": "SCENARIO_SERVE_ADMIN_TOKEN"},
    }
    document["components"] = components
    document["info"] = {
        **bento_document.get("info", {}),
        "description": "Scenario-routed text and image classification. Errors: "
        '{"error": {"type", "message", "field", "limit", "allowed"}}.',
    }
    return document


def openapi_app(bento_document: Callable[[], dict[str, Any]]) -> Starlette:
    """A Starlette app answering GET /docs.json with the merged document (built per request: cheap, and BentoML's
    part reflects its configuration at that time)."""

    async def document(request: Request) -> Response:
        return JSONResponse(service_document(bento_document()))

    return Starlette(routes=[Route(DOCUMENT_PATH, document, methods=["GET"])])
