"""HTTP tests: BentoML's real ASGI app for ScenarioService, in-process, over a fake model store."""

from __future__ import annotations

import io
import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.http.fakes import FakeStore

TEXT_FAST = "sentiment-fake-onnx-int8"
TEXT_SMALL = "sentiment-small-onnx-int8"
TEXT_BIG = "sentiment-fake-torch-fp32"
IMAGE_FAST = "digits-fake-onnx-int8"
IMAGE_BIG = "digits-fake-torch-fp32"
EXTRA = "sentiment-spare-onnx-fp32"  # in the store, routed nowhere

SELECTION: dict[str, Any] = {
    "version": 1,
    "generated_by": "tests",
    "generated_at": "2026-11-23T00:00:00Z",
    "tasks": {
        "sentiment": {
            "kind": "text",
            "default_scenario": "realtime",
            "scenarios": {
                "realtime": {
                    "variant": TEXT_FAST,
                    "fallbacks": [TEXT_SMALL],
                    "constraints": {"p95_latency_ms": 20},
                    "objective": "minimize_latency",
                    "evidence": {"note": "test"},
                },
                "batch": {"variant": TEXT_FAST, "fallbacks": [], "objective": "maximize_throughput"},
                "accuracy": {"variant": TEXT_BIG, "fallbacks": [], "objective": "maximize_quality"},
            },
        },
        "digits": {
            "kind": "image",
            "default_scenario": "realtime",
            "scenarios": {
                "realtime": {"variant": IMAGE_FAST, "fallbacks": [IMAGE_BIG]},
                "accuracy": {"variant": IMAGE_BIG, "fallbacks": []},
            },
        },
    },
}
ALL_VARIANTS = [TEXT_FAST, TEXT_SMALL, TEXT_BIG, IMAGE_FAST, IMAGE_BIG, EXTRA]


@pytest.fixture(scope="session")
def service_asgi() -> Iterator[Any]:
    """One ASGI app for the session (BentoML registers its HTTP metrics once per process); every TestClient
    context re-runs its lifespan, which constructs a fresh ScenarioService from the current environment."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.server.metrics.prometheus import PrometheusClient

    # `bentoml serve` runs workers with PROMETHEUS_MULTIPROC_DIR; in-process, read the default registry.
    BentoMLContainer.metrics_client.set(PrometheusClient(multiproc=False))
    with warnings.catch_warnings():
        # third-party: bentoml 1.4's _bentoml_sdk.io_models calls a pydantic API deprecated since 2.11
        warnings.filterwarnings(
            "ignore", message="The `__get_pydantic_core_schema__` method", category=DeprecationWarning
        )
        from service.app import ScenarioService

        app = ScenarioService.to_asgi()
    yield app
    BentoMLContainer.metrics_client.reset()


def wait_until_loaded(client: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = {v["status"] for v in client.get("/v1/models").json()["variants"]}
        if not statuses & {"pending", "loading"}:
            return
        time.sleep(0.01)
    raise AssertionError("variants did not finish loading")


Serve = Callable[..., AbstractContextManager[Any]]


@pytest.fixture
def serve(service_asgi: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Serve:
    """`with serve(store=..., selection=..., max_items=3) as client:` — settings become SCENARIO_SERVE_* vars."""
    from starlette.testclient import TestClient

    import service.app

    @contextmanager
    def start(
        store: FakeStore | None = None, selection: dict[str, Any] | None = None, wait: bool = True, **settings: Any
    ) -> Iterator[Any]:
        path = tmp_path / "selection.json"
        path.write_text(json.dumps(selection or SELECTION), encoding="utf-8")
        monkeypatch.setenv("SCENARIO_SERVE_SELECTION_PATH", str(path))
        for key, value in settings.items():
            monkeypatch.setenv(f"SCENARIO_SERVE_{key.upper()}", str(value))
        chosen = store or FakeStore(ALL_VARIANTS)
        monkeypatch.setattr(service.app, "open_model_store", lambda: chosen)
        with TestClient(service_asgi) as client:
            if wait:
                wait_until_loaded(client)
            yield client

    return start


@pytest.fixture
def client(serve: Serve) -> Iterator[Any]:
    with serve() as started:
        yield started


def image_bytes(color: int = 255, size: tuple[int, int] = (8, 8), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, color).save(buffer, format=fmt)
    return buffer.getvalue()
