"""ASGI middleware that keeps every answer in the API's error format, whatever path, header or timing.

Service-wide (added with `ScenarioService.add_asgi_middleware`, inside BentoML's metrics, access-log and traffic
middleware, around its router and the mounted /v1 app):
    HeaderLimits     431 when the headers together, or the X-Scenario header, are longer than the limit
    JsonErrorPages   BentoML's plain-text 404 and 405 (unknown paths, /v1 included) become JSON error objects,
                     the 405 keeping its Allow header

On the mounted /v1 app:
    RequestCleanup   runs the callbacks a request registered (`at_request_end`) once it has been answered,
                     e.g. giving back its decoded-pixel lease
    RequestDeadline  answers 504 with the error object when a request runs past its deadline, before BentoML's
                     own traffic timeout would answer with its bare {"error": "<text>"}. The deadline is the
                     service's request timeout, or sooner when the client sends `X-Request-Timeout-Ms`; it is
                     stored in the request scope (`request_deadline`) so that queued work can be dropped once
                     nobody waits for it.

Each one turns its error into a response through `respond`, the app's single error-to-response function, so
that these answers are counted in scenario_serve_errors_total like any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import (
    HeadersTooLarge,
    InvalidRequest,
    MethodNotAllowed,
    RequestTimeout,
    RouteNotFound,
    ServiceError,
    echo,
)
from service.schemas import MAX_SCENARIO_CHARS

Respond = Callable[[ServiceError], Response]

MAX_HEADER_BYTES = 16 * 1024
"""Bytes of all request header names and values together (a browser sends 1-2 KB; uvicorn allows far more)."""
SCENARIO_HEADER = b"x-scenario"
TIMEOUT_HEADER = "X-Request-Timeout-Ms"
MAX_TIMEOUT_DIGITS = 9
CLEANUPS = "scenario_serve.cleanups"
DEADLINE = "scenario_serve.deadline"


def request_deadline(scope: Scope) -> float | None:
    """The event-loop time by which this request must be answered (None outside RequestDeadline)."""
    deadline = scope.get(DEADLINE)
    return float(deadline) if deadline is not None else None


def at_request_end(scope: Scope, callback: Callable[[], None]) -> None:
    """Run `callback` once the response to this request has been sent (or the request has failed)."""
    if CLEANUPS not in scope:
        raise RuntimeError("RequestCleanup middleware is not installed on this app")
    scope[CLEANUPS].append(callback)


def header_error(headers: list[tuple[bytes, bytes]]) -> ServiceError | None:
    total = sum(len(name) + len(value) for name, value in headers)
    if total > MAX_HEADER_BYTES:
        return HeadersTooLarge(
            f"request headers are {total} bytes; at most {MAX_HEADER_BYTES}", field="headers", limit=MAX_HEADER_BYTES
        )
    for name, value in headers:
        if name.lower() == SCENARIO_HEADER and len(value) > MAX_SCENARIO_CHARS:
            return HeadersTooLarge(
                f"X-Scenario is {len(value)} bytes; at most {MAX_SCENARIO_CHARS}",
                field="X-Scenario",
                limit=MAX_SCENARIO_CHARS,
            )
    return None


class HeaderLimits:
    def __init__(self, app: ASGIApp, respond: Respond) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = header_error(scope["headers"]) if scope["type"] == "http" else None
        if error is None:
            await self.app(scope, receive, send)
        else:
            await self.respond(error)(scope, receive, send)


def is_plain_text(message: Message) -> bool:
    content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
    return content_type.startswith("text/plain")


def page_error(scope: Scope, status: int, allow: str | None) -> ServiceError:
    path = echo(scope.get("path", ""), 200)
    if status == 405:
        methods = [method.strip() for method in (allow or "").split(",") if method.strip()]
        return MethodNotAllowed(f"{echo(scope.get('method', ''))} is not allowed on {path}", allowed=methods or None)
    return RouteNotFound(f"no endpoint at {path}")


class JsonErrorPages:
    """Replaces a plain-text 404/405 response (Starlette's default pages) with the API's error object."""

    PAGES = (404, 405)

    def __init__(self, app: ASGIApp, respond: Respond) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_json_pages(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] in self.PAGES and is_plain_text(message):
                replaced = True
                allow = Headers(raw=message.get("headers", [])).get("allow")
                await self.respond(page_error(scope, message["status"], allow))(scope, receive, send)
            elif not replaced:
                await send(message)

        await self.app(scope, receive, send_json_pages)


class RequestCleanup:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        callbacks: list[Callable[[], None]] = []
        scope[CLEANUPS] = callbacks
        try:
            await self.app(scope, receive, send)
        finally:
            for callback in callbacks:
                callback()


def client_timeout_s(scope: Scope, server_timeout_s: float) -> float:
    """The request's timeout: X-Request-Timeout-Ms when the client sent one (at most the server's), else the
    server's. A value that is not a positive whole number of milliseconds (ASCII digits) is a 400."""
    raw = Headers(scope=scope).get(TIMEOUT_HEADER)
    if raw is None:
        return server_timeout_s
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_TIMEOUT_DIGITS or int(text) == 0:
        raise InvalidRequest(
            f"{TIMEOUT_HEADER} must be a positive whole number of milliseconds (ASCII digits, at most "
            f"{MAX_TIMEOUT_DIGITS}); got '{echo(raw)}'",
            field=TIMEOUT_HEADER,
            limit=round(server_timeout_s * 1000),
        )
    return min(int(text) / 1000.0, server_timeout_s)


class RequestDeadline:
    """`timeout_s` is read per request (the service's configuration is built at start-up, after this app)."""

    def __init__(self, app: ASGIApp, respond: Respond, timeout_s: Callable[[], float]) -> None:
        self.app = app
        self.respond = respond
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            seconds = client_timeout_s(scope, self.timeout_s())
        except ServiceError as error:
            await self.respond(error)(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        scope[DEADLINE] = asyncio.get_running_loop().time() + seconds
        deadline = asyncio.timeout_at(scope[DEADLINE])
        try:
            async with deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not deadline.expired():
                raise
            if started:  # too late for another status line: the partial response stands
                return
            timeout = RequestTimeout(
                f"{echo(scope.get('method', ''))} {echo(scope.get('path', ''), 200)} did not complete in {seconds:g} s",
                limit=seconds,
            )
            await self.respond(timeout)(scope, receive, send)
