"""The classify paths skip BentoML's per-request middleware only while it has nothing to do for them
(service.fast_path); every other path, and every path when something needs that middleware, takes BentoML's chain."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from service.config import ServiceConfig
from service.fast_path import ClassifyFastPath, blockers, with_fast_path


@dataclass
class Setting:
    value: Any

    def get(self) -> Any:
        return self.value


@dataclass
class Factory:
    """The ServiceAppFactory attributes the decision reads."""

    enable_access_control: bool = False
    max_concurrency: int | None = None
    timeout: float | None = 60.0
    service: Any = None


@dataclass
class Container:
    """BentoML's configuration container, as far as the decision reads it."""

    sample_rate: float | None = 0.0
    access_log: bool = False
    config: Any = field(init=False)
    api_server_config: Any = field(init=False)

    def __post_init__(self) -> None:
        @dataclass
        class Tracing:
            sample_rate: Setting

        @dataclass
        class Config:
            tracing: Tracing

        @dataclass
        class Access:
            enabled: Setting

        @dataclass
        class Logging:
            access: Access

        @dataclass
        class ApiServer:
            logging: Logging

        self.config = Config(Tracing(Setting(self.sample_rate)))
        self.api_server_config = ApiServer(Logging(Access(Setting(self.access_log))))


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
    assert blockers(Factory(), ServiceConfig(), Container()) == []


@pytest.mark.parametrize(
    ("factory", "config", "container", "reason"),
    [
        (Factory(), ServiceConfig(fast_path=False), Container(), "SCENARIO_SERVE_FAST_PATH is false"),
        (Factory(), ServiceConfig(), Container(sample_rate=0.5), "tracing.sample_rate is above 0"),
        (Factory(), ServiceConfig(), Container(access_log=True), "the access log is on"),
        (Factory(enable_access_control=True), ServiceConfig(), Container(), "CORS is on"),
        (Factory(max_concurrency=8), ServiceConfig(), Container(), "traffic.max_concurrency is set"),
        (
            Factory(timeout=10.0),
            ServiceConfig(),
            Container(),
            "traffic.timeout (10.0 s) is below SCENARIO_SERVE_REQUEST_TIMEOUT_S",
        ),
    ],
)
def test_each_setting_that_needs_bentomls_middleware_keeps_it(
    factory: Factory, config: ServiceConfig, container: Container, reason: str
) -> None:
    assert blockers(factory, config, container) == [reason]


def test_a_traffic_timeout_above_the_request_timeout_does_not_block_it() -> None:
    assert blockers(Factory(timeout=30.0), ServiceConfig(request_timeout_s=20.0), Container()) == []
    assert blockers(Factory(timeout=None), ServiceConfig(), Container()) == []


@pytest.mark.parametrize("path", ["/v1/text/classify", "/v1/image/classify"])
def test_classify_requests_reach_the_v1_app_as_its_mount_would_pass_them(path: str) -> None:
    bentoml_app, direct = Recorder(), Recorder()
    call(ClassifyFastPath(bentoml_app, direct), {"type": "http", "path": path, "root_path": "", "method": "POST"})
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
    call(ClassifyFastPath(bentoml_app, direct), scope)
    assert (bentoml_app.scopes, direct.scopes) == ([scope], [])


def test_switched_off_by_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    bentoml_app, direct = Recorder(), Recorder()
    monkeypatch.setenv("SCENARIO_SERVE_FAST_PATH", "false")
    assert with_fast_path(Factory(), bentoml_app, direct, Container()) is bentoml_app
    monkeypatch.setenv("SCENARIO_SERVE_FAST_PATH", "true")
    assert isinstance(with_fast_path(Factory(), bentoml_app, direct, Container()), ClassifyFastPath)


def test_an_invalid_setting_leaves_bentomls_app_for_the_service_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    bentoml_app = Recorder()
    monkeypatch.setenv("SCENARIO_SERVE_FAST_PATH", "perhaps")
    assert with_fast_path(Factory(), bentoml_app, Recorder(), Container()) is bentoml_app
