"""The classify endpoints served straight by the /v1 app, around BentoML's per-request middleware, when that
middleware has nothing to do for them.

BentoML's ASGI app runs every request through its metrics middleware (bentoml_service_request_*), OpenTelemetry's
middleware, its traffic timeout and max-concurrency middleware, the request-context middleware, its router and the
mount of the /v1 app. For a classify request, with tracing off (`tracing.sample_rate` 0: nothing is ever exported,
and `service.telemetry` already keeps these paths out of spans), no access log, no CORS, no `max_concurrency`, and a
traffic timeout no shorter than SCENARIO_SERVE_REQUEST_TIMEOUT_S (the /v1 app's own deadline answers first), none of
that changes the answer; it only costs time: the part of a sparse request spent before and after our handler fell
from 1.29-1.39 ms to 0.99-1.04 ms without it (`python loadtests/probe.py --rates 2 --overhead --rounds 2`, README
Results). So those two paths go to the /v1 app directly, through the service-wide header limits; every other path
(health, readiness, /metrics, docs, the GET tables, admin) takes BentoML's full chain as before.

What the classify endpoints then lack: BentoML's own bentoml_service_request_* series (scenario-serve's
scenario_serve_request_duration_seconds and scenario_serve_errors_total count every classify request) and
`bentoml.context.request`, which no handler here reads. SCENARIO_SERVE_FAST_PATH=false keeps BentoML's chain on every
path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette._utils import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from service.config import ConfigError, ServiceConfig
from service.paths import CLASSIFY_ROUTES

logger = logging.getLogger(__name__)


class ClassifyFastPath:
    """ASGI: HTTP requests for `routes` of `direct` (the app BentoML mounts at `mount`) go to it, with the scope that
    mount would give it; everything else, lifespan included, to `app`."""

    def __init__(self, app: ASGIApp, direct: ASGIApp, mount: str, routes: tuple[str, ...] = CLASSIFY_ROUTES) -> None:
        self.app = app
        self.direct = direct
        self.mount = mount
        self.paths = frozenset(mount + route for route in routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and get_route_path(scope) in self.paths:
            root = scope.get("root_path", "")
            mounted = {**scope, "app_root_path": scope.get("app_root_path", root), "root_path": root + self.mount}
            await self.direct(mounted, receive, send)
            return
        await self.app(scope, receive, send)


def blockers(factory: Any, config: ServiceConfig, container: Any) -> list[str]:
    """Why the classify paths must keep BentoML's middleware (empty: it has nothing to do for them).
    `factory`: BentoML's ServiceAppFactory; `container`: its configuration container."""
    reasons = []
    if not config.fast_path:
        reasons.append("SCENARIO_SERVE_FAST_PATH is false")
    if container.config.tracing.sample_rate.get():
        reasons.append("tracing.sample_rate is above 0")
    if container.api_server_config.logging.access.enabled.get():
        reasons.append("the access log is on")
    if factory.enable_access_control:
        reasons.append("CORS is on")
    if factory.max_concurrency:
        reasons.append("traffic.max_concurrency is set")
    if factory.timeout is not None and factory.timeout < config.request_timeout_s:
        reasons.append(f"traffic.timeout ({factory.timeout} s) is below SCENARIO_SERVE_REQUEST_TIMEOUT_S")
    return reasons


def with_fast_path(factory: Any, app: ASGIApp, direct: ASGIApp, mount: str, container: Any = None) -> ASGIApp:
    """`app` (BentoML's), wrapped in ClassifyFastPath unless something configured needs BentoML's middleware.
    `container`: BentoML's configuration container (the process' own by default)."""
    if container is None:
        from bentoml._internal.configuration.containers import BentoMLContainer

        container = BentoMLContainer
    try:
        config = ServiceConfig.from_env()
    except ConfigError:
        return app  # the service's construction reports the setting
    reasons = blockers(factory, config, container)
    if reasons:
        logger.info("classify requests pass through BentoML's middleware: %s", "; ".join(reasons))
        return app
    return ClassifyFastPath(app, direct, mount)


def install(service: Any, direct: ASGIApp, mount: str) -> None:
    """When BentoML builds `service`'s ASGI app (in each worker, and in `service.to_asgi()`), wrap it with_fast_path;
    `direct` is the app `service` mounts at `mount`, with the service-wide middleware it needs.
    BentoML has no public hook outside its own middleware, so this wraps its app factory's build step."""
    from _bentoml_impl.server.app import ServiceAppFactory

    build: Callable[[Any], ASGIApp] = getattr(ServiceAppFactory.__call__, "unwrapped", ServiceAppFactory.__call__)

    def build_with_fast_path(factory: Any) -> ASGIApp:
        app = build(factory)
        return with_fast_path(factory, app, direct, mount) if factory.service is service else app

    build_with_fast_path.unwrapped = build  # type: ignore[attr-defined]
    ServiceAppFactory.__call__ = build_with_fast_path
