"""The BentoML service: HTTP endpoints over the engine. The only module that defines @bentoml.service classes.

Endpoints (a Starlette app mounted at /v1 with `@bentoml.asgi_app`; BentoML adds /livez, /readyz, /metrics):
    POST /v1/text/classify    {"texts": [...], "scenario"?: str, "top_k"?: int}
    POST /v1/image/classify   multipart/form-data image files, or {"images": [base64, ...], ...}
    GET  /v1/scenarios        the live routing table
    GET  /v1/models           every known variant and its state
    POST /v1/admin/reload     re-read the selection file and apply it (needs SCENARIO_SERVE_ADMIN_TOKEN; below)

Scenario: the body's `scenario` field wins over the `X-Scenario` header (the body is the caller's explicit,
per-request choice; the header lets a gateway or client library set a default); with neither, the task's
`default_scenario`. Responses carry `X-Scenario` and `X-Variant` (the variant that served the request).

Admin: POST /v1/admin/reload re-reads SCENARIO_SERVE_SELECTION_PATH (the configured file, never a path or a
table from the request: the body must be empty) and applies it as `Engine.reload` describes (all or nothing).
It exists only when SCENARIO_SERVE_ADMIN_TOKEN is set (otherwise 404, as for any unknown path) and requires
`Authorization: Bearer <token>` (401 without it, 403 with another token; compared in constant time, never
logged). Each worker process holds its own table: with several workers, use SCENARIO_SERVE_WATCH_SELECTION_S.

Why a mounted Starlette app rather than `@bentoml.api` methods: the routing table and model list are GETs
(`@bentoml.api` routes are POST only); BentoML renders its own validation-error bodies before user code
runs (and not in this API's error format), parses multipart bodies without our size limits; and its
`batchable` dispatcher batches per API method, while batches here must be per variant (several scenarios
share a variant, one endpoint serves several variants). Everything else (health, readiness via
`__is_ready__`, metrics, lifecycle hooks, tracing, bentofile/containerize) is BentoML's; the two classify endpoints
skip BentoML's per-request middleware while it has nothing to do for them (service.fast_path).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import bentoml
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from service import metrics
from service.config import ServiceConfig
from service.engine import Engine
from service.errors import (
    ClientDisconnected,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
    ServiceError,
    Unauthorized,
    echo,
    to_service_error,
)
from service.fast_path import install as install_fast_path
from service.gc_pauses import record_gc_pauses_forever, time_gc_pauses
from service.inputs import ImageInput, TextInput, parse_image_request, parse_text_request
from service.middleware import HeaderLimits, JsonErrorPages, RequestCleanup, RequestDeadline, request_deadline
from service.model_store import BentoModelStore, ModelStore
from service.openapi import openapi_app
from service.paths import API_MOUNT, IMAGE_CLASSIFY_ROUTE, TEXT_CLASSIFY_ROUTE
from service.routing import load_selection
from service.telemetry import skip_unexported_spans
from service.workers import WorkerBoard, record_when_ready, start_accepting

logger = logging.getLogger(__name__)

SCENARIO_HEADER = "X-Scenario"
VARIANT_HEADER = "X-Variant"
T = TypeVar("T")


def open_model_store() -> ModelStore:
    """The variant source; HTTP tests replace this function with one returning a fake store."""
    return BentoModelStore()


def current_engine() -> Engine:
    return bentoml.get_current_service().engine


def error_response(exc: BaseException, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one place an exception becomes an HTTP response."""
    error = to_service_error(exc)
    metrics.ERRORS.labels(error_type=error.error_type).inc()
    headers = {**error.headers(), **(headers or {})}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def header_scenario(request: Request) -> str | None:
    value = request.headers.get(SCENARIO_HEADER, "").strip()
    return value or None


async def unless_client_leaves(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result, or ClientDisconnected as soon as the client closes the connection: the work is cancelled
    then, so its queued items are dropped before inference (no work is done for nobody). The work runs in this
    task (no task and wait of its own: fewer event-loop hops per request); a watcher task cancels it."""
    handler = asyncio.current_task()
    assert handler is not None
    watching = asyncio.ensure_future(wait_for_disconnect(request))
    answered = left = False

    def client_left(watcher: asyncio.Future[None]) -> None:
        nonlocal left
        if not watcher.cancelled():
            watcher.exception()  # retrieved: a failing receive also means the client is gone
            if not answered:
                left = True
                handler.cancel()

    watching.add_done_callback(client_left)
    try:
        return await work
    except asyncio.CancelledError:
        if not left:
            raise  # this handler was cancelled (the request's deadline passed)
        handler.uncancel()
        raise ClientDisconnected("the client closed the connection before the answer was ready") from None
    finally:
        answered = True
        watching.cancel()


async def wait_for_disconnect(request: Request) -> None:
    """Returns once the client has gone (the body has been read: the next ASGI message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def classify(request: Request, kind: str, parse: Callable[..., Awaitable[TextInput | ImageInput]]) -> Response:
    engine = current_engine()
    started = time.perf_counter()
    labels = {
        "task": engine.router.task_name(kind) if engine.router.has_kind(kind) else metrics.NO_LABEL,
        "scenario": metrics.NO_LABEL,
        "variant": metrics.NO_LABEL,
    }
    headers: dict[str, str] = {}
    try:
        engine.router.task_name(kind)  # 404 before reading the body when no task serves this input kind
        parsed = await parse(request, engine.config)
        scenario = parsed.options.scenario if parsed.options.scenario is not None else header_scenario(request)
        route = engine.route(kind, scenario)
        labels.update(scenario=route.scenario, variant=route.variant)
        headers = {SCENARIO_HEADER: route.scenario, VARIANT_HEADER: route.variant}
        items: list[Any] = parsed.texts if isinstance(parsed, TextInput) else parsed.images
        work = engine.classify(route, items, parsed.options.top_k, request_deadline(request.scope))
        result = await unless_client_leaves(request, work)
        labels.update(variant=result.variant)
        headers[VARIANT_HEADER] = result.variant
        response = Response(result.model_dump_json(), headers=headers, media_type="application/json")
        outcome = "success"
    except Exception as exc:
        response = error_response(exc, headers)
        outcome = "client_error" if response.status_code < 500 else "server_error"
    metrics.labelled(metrics.REQUEST_DURATION, outcome=outcome, **labels).observe(time.perf_counter() - started)
    return response


async def classify_text(request: Request) -> Response:
    return await classify(request, "text", parse_text_request)


async def classify_image(request: Request) -> Response:
    return await classify(request, "image", parse_image_request)


async def scenarios(request: Request) -> Response:
    return JSONResponse(current_engine().scenarios_table())


async def models(request: Request) -> Response:
    return JSONResponse(await asyncio.to_thread(current_engine().models_table))


def check_admin(request: Request, config: ServiceConfig) -> None:
    """404 when the admin API is off, 401 without a bearer token, 403 with a wrong one."""
    if config.admin_token is None:
        raise RouteNotFound(f"no endpoint at {request.url.path}")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("this endpoint needs the header Authorization: Bearer <SCENARIO_SERVE_ADMIN_TOKEN>")
    expected = config.admin_token.get_secret_value().encode()
    if not hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), expected):
        raise Forbidden("the bearer token is not the admin token")


async def reload_selection(request: Request) -> Response:
    engine = current_engine()
    try:
        check_admin(request, engine.config)
        if await request.body():
            raise InvalidRequest(
                "the body must be empty: the service re-reads its configured selection file "
                "(SCENARIO_SERVE_SELECTION_PATH); write the new table there first",
                field="body",
            )
        summary = await engine.reload()
    except Exception as exc:
        headers = {"WWW-Authenticate": 'Bearer realm="scenario-serve admin"'} if isinstance(exc, Unauthorized) else None
        return error_response(exc, headers)
    return JSONResponse(summary.body())


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's HTTP exceptions (unknown path, wrong method) in the API's error format; 405 keeps Allow."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    path = echo(request.url.path, 200)
    if status == 405:
        allow = (exc.headers or {}).get("Allow", "") if isinstance(exc, HTTPException) else ""
        methods = [method.strip() for method in allow.split(",") if method.strip()] or None
        error: ServiceError = MethodNotAllowed(f"{echo(request.method)} is not allowed on {path}", allowed=methods)
    elif status == 404:
        error = RouteNotFound(f"no endpoint at {path}")
    else:
        error = to_service_error(exc)
    return error_response(error)


def request_timeout_s() -> float:
    return current_engine().config.request_timeout_s


http_api = Starlette(
    routes=[
        HttpRoute(TEXT_CLASSIFY_ROUTE, classify_text, methods=["POST"]),
        HttpRoute(IMAGE_CLASSIFY_ROUTE, classify_image, methods=["POST"]),
        HttpRoute("/scenarios", scenarios, methods=["GET"]),
        HttpRoute("/models", models, methods=["GET"]),
        HttpRoute("/admin/reload", reload_selection, methods=["POST"]),
    ],
    exception_handlers={HTTPException: http_error},
    middleware=[  # outermost first: a timed-out request's cleanups still run
        Middleware(RequestCleanup),
        Middleware(RequestDeadline, respond=error_response, timeout_s=request_timeout_s),
    ],
)


@bentoml.asgi_app(http_api, path=API_MOUNT)
# No per-request access log: formatting and writing one line per request cost ~1 ms of the event loop's time per
# request in a profile (single-stream p50 9.3 -> 8.0 ms, p99 at 100 req/s 62 -> 48 ms without it); our own
# metrics count every request. Turn it back on with BentoML's configuration:
# BENTOML_CONFIG_OPTIONS='services."scenario-serve".logging.access.enabled=true'
# One worker process per core, each variant on one intra-op thread: measured on the 2-core reference machine
# (README, Results, "Workers and threads"), two workers held p99 48-64 ms at 100 req/s where one worker's single
# inference thread reached 75-138 ms and shed load; 2 intra-op threads did not speed up MiniLM-L6 INT8 at batch 1.
# Override: BENTOML_CONFIG_OPTIONS='services."scenario-serve".workers=1'.
@bentoml.service(
    name="scenario-serve", workers="cpu_count", traffic={"timeout": 60}, logging={"access": {"enabled": False}}
)
class ScenarioService:
    """Scenario-routed text and image classification over the variants of the BentoML model store.

    Construction reads the configuration (`SCENARIO_SERVE_*`) and the selection file and fails fast on either;
    the variants load in a background thread after start-up, so /livez answers at once and /readyz turns
    ready when every variant has had its first load attempt and every route has a loaded variant (a fallback
    counts; failed variants are retried in the background, `Engine.ready`). The selection file can be reloaded later
    (POST /v1/admin/reload, or the file watch), without a restart.
    """

    def __init__(self) -> None:
        self.config = ServiceConfig.from_env()
        time_gc_pauses()
        self.engine = Engine(self.config, load_selection(self.config.selection_path), open_model_store())
        self.board = WorkerBoard()
        self._ready_recorder: asyncio.Future[None] | None = None
        self._gc_recorder: asyncio.Future[None] | None = None

    @bentoml.on_startup
    async def start_loading(self) -> None:
        self.engine.start()
        self._ready_recorder = asyncio.ensure_future(record_when_ready(self.board, lambda: self.engine.ready))
        self._gc_recorder = asyncio.ensure_future(record_gc_pauses_forever())
        # A worker respawned beside a ready one takes no connection before its variants are ready (service.workers).
        await start_accepting(self.board, lambda: self.engine.ready)

    @bentoml.on_shutdown
    async def stop(self) -> None:
        for task in (self._ready_recorder, self._gc_recorder):
            if task is not None:
                task.cancel()
        self.board.leave()
        await self.engine.close()

    async def __is_ready__(self) -> bool:
        """Ready when this worker is, and no peer worker takes connections while still loading (service.workers)."""
        return self.engine.ready and not self.board.peers_loading()


skip_unexported_spans()  # before BentoML builds this worker's ASGI app (service.telemetry)

# The decorators made `ScenarioService` BentoML's Service object; mypy keeps a decorated class's own type.
bento_service: bentoml.Service[ScenarioService] = ScenarioService
# Service-wide, around BentoML's router too: unknown paths and methods anywhere answer the JSON error object,
# and oversized headers are refused before any endpoint runs.
bento_service.add_asgi_middleware(HeaderLimits, respond=error_response)
bento_service.add_asgi_middleware(JsonErrorPages, respond=error_response)
# The classify endpoints skip BentoML's per-request middleware when it has nothing to do for them (service.fast_path).
install_fast_path(bento_service, HeaderLimits(http_api, respond=error_response), API_MOUNT)
# /docs.json: BentoML's document describes mounted FastAPI apps only; this one adds the /v1 API (service.openapi).
bento_service.mount_asgi_app(openapi_app(lambda: bento_service.openapi_spec.asdict()), path="/", name="openapi")
# BentoML's access log (when turned on) decodes the request's Content-Type as UTF-8 after the response has started:
# one non-UTF-8 byte in that header then cut every response short (a 415 with an empty body). Log without it.
bento_service.config.setdefault("logging", {}).setdefault("access", {})["request_content_type"] = False
