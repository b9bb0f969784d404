"""The classify paths skip BentoML's per-request middleware only while it has nothing to do for them
(service.fast_path); every other path, and every path when something needs that middleware, takes BentoML's chain."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from service.config import ServiceConfig
from service.fast_path import ClassifyFastPath, blockers, with_fast_path
from tests.fake_bentoml_config import Setting


@dataclass
class Factory:
    """The ServiceAppFactory attributes the decision reads."""

    enable_access_control: bool = False
    max_concurrency: int | None = None
    timeout: float | None = 60.0
    service: Any = None


def bento_config(sample_rate: float | None = 0.0, access_log: bool = False) -> SimpleNamespace:
    """BentoML's configuration container, as far as the decision reads it."""
    tracing = SimpleNamespace(sample_rate=Setting(sample_rate))
    access = SimpleNamespace(enabled=Setting(access_log))
    return SimpleNamespace(
        config=SimpleNamespace(tracing=tracing),
        api_server_config=SimpleNamespace(logging=SimpleNamespace(access=access)),
    )


@dataclass
class Recorder:
    """An ASGI app that records the scopes it was called with."""

    scopes: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)


def call(app: Any, scope: dict[str, Any]) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(app(scope, receive, send))


def test_nothing_blocks_it_with_the_services_defaults() -> None:
    assert blockers(Factory(), ServiceConfig(), bento_config()) == []


@pytest.mark.parametrize(
    ("factory", "config", "container", "reason"),
    [
        (Factory(), ServiceConfig(fast_path=False), bento_config(), "SCENARIO_SERVE_FAST_PATH is false"),
        (Factory(), ServiceConfig(), bento_config(sample_rate=0.5), "tracing.sample_rate is above 0"),
        (Factory(), ServiceConfig(), bento_config(access_log=True), "the access log is on"),
        (Factory(enable_access_control=True), ServiceConfig(), bento_config(), "CORS is on"),
        (Factory(max_concurrency=8), ServiceConfig(), bento_config(), "traffic.max_concurrency is set"),
        (
            Factory(timeout=10.0),
            ServiceConfig(),
            bento_config(),
            "traffic.timeout (10.0 s) is below SCENARIO_SERVE_REQUEST_TIMEOUT_S",
        ),
    ],
)
def test_each_setting_that_needs_bentomls_middleware_keeps_it(
    factory: Factory, config: ServiceConfig, container: SimpleNamespace, reason: str
) -> None:
    assert blockers(factory, config, container) == [reason]


def test_a_traffic_timeout_above_the_request_timeout_does_not_block_it() -> None:
    assert blockers(Factory(timeout=30.0), ServiceConfig(request_timeout_s=20.0), bento_config()) == []
    assert blockers(Factory(timeout=None), ServiceConfig(), bento_config()) == []


@pytest.mark.parametrize("path", ["/v1/text/classify", "/v1/image/classify"])
def test_classify_requests_reach_the_v1_app_as_its_mount_would_pass_them(path: str) -> None:
    bentoml_app, direct = Recorder(), Recorder()
    request = {"type": "http", "path": path, "root_path": "", "method": "POST"}
    call(ClassifyFastPath(bentoml_app, direct, "/v1"), request)
    assert bentoml_app.scopes == []
    (scope,) = direct.scopes
    assert (scope["path"], scope["root_path"], scope["app_root_path"]) == (path, "/v1", "")


@pytest.mark.parametrize(
    "scope",
    [
        {"type": "http", "path": "/v1/models", "root_path": ""},
        {"type": "http", "path": "/v1/text/classify/", "root_path": ""},
        {"type": "http", "path": "/metrics", "root_path": ""},
        {"type": "http", "path": "/readyz", "root_path": ""},
        {"type": "lifespan"},
    ],
)
def test_everything_else_takes_bentomls_chain(scope: dict[str, Any]) -> None:
    bentoml_app, direct = Recorder(), Recorder()
    call(ClassifyFastPath(bentoml_app, direct, "/v1"), scope)
    assert (bentoml_app.scopes, direct.scopes) == ([scope], [])


def test_switched_off_by_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    bentoml_app, direct = Recorder(), Recorder()
    monkeypatch.setenv("SCENARIO_SERVE_FAST_PATH", "false")
    assert with_fast_path(Factory(), bentoml_app, direct, "/v1", bento_config()) is bentoml_app
    monkeypatch.setenv("SCENARIO_SERVE_FAST_PATH", "true")
    assert isinstance(with_fast_path(Factory(), bentoml_app, direct, "/v1", bento_config()), ClassifyFastPath)


def test_an_invalid_setting_leaves_bentomls_app_for_the_service_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    bentoml_app = Recorder()
    monkeypatch.setenv("SCENARIO_SERVE_FAST_PATH", "perhaps")
    assert with_fast_path(Factory(), bentoml_app, Recorder(), "/v1", bento_config()) is bentoml_app
