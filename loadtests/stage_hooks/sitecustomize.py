"""Timestamps of a request's stages inside a `bentoml serve` worker, for `loadtests/stages.py`; never part of the
service.

Python imports `sitecustomize` at start-up from the first directory of PYTHONPATH that has one: stages.py starts the
server with this directory there and LOADTESTS_STAGES_LOG naming a file. Once the worker has imported
`service.app`, this wraps, without changing what they do: uvicorn's protocol (bytes received, response started and
sent), every layer of the ASGI chain (BentoML's middleware, ours, the routers: the moment each is entered), the
handler, the engine's classify, the hand-off to the inference thread and back, and the inference itself. Each
answered POST to /v1 appends one JSON line `{stage: time.perf_counter()}` to the log (CLOCK_MONOTONIC, comparable
with the client's). The stamps live in one dict per process: meaningful for one request at a time, as stages.py
sends them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

LOG = os.environ.get("LOADTESTS_STAGES_LOG")
STAMPS: dict[str, float] = {}
MAX_LAYERS = 40


def stamp(stage: str) -> None:
    STAMPS.setdefault(stage, time.perf_counter())


def wrap_layers(app: Any) -> None:
    """Stamp the entry of every layer under `app`: each middleware's `.app`, and a Starlette app's middleware stack;
    below the classify fast path (`service.fast_path`), its `.direct` chain too."""
    parent = app
    for depth in range(MAX_LAYERS):
        direct = getattr(parent, "direct", None)
        if callable(direct) and not getattr(direct, "stage_label", None):
            parent.direct = entry_stamp(direct, f"{depth:02d} enters {type(direct).__name__} (fast path)")
            wrap_layers(direct)
        attribute = "app" if callable(getattr(parent, "app", None)) else "middleware_stack"
        if attribute == "middleware_stack" and getattr(parent, "middleware_stack", None) is None:
            if not hasattr(parent, "build_middleware_stack"):
                return
            parent.middleware_stack = parent.build_middleware_stack()
        inner = getattr(parent, attribute, None)
        if inner is None or getattr(inner, "stage_label", None):
            return
        setattr(parent, attribute, entry_stamp(inner, f"{depth:02d} enters {type(inner).__name__}"))
        parent = inner


def entry_stamp(inner: Any, label: str) -> Callable[..., Any]:
    async def layer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            stamp(label)
        await inner(scope, receive, send)

    layer.stage_label = label  # type: ignore[attr-defined]
    return layer


def around(owner: Any, name: str, before: str, after: str | None = None) -> None:
    """Stamp `before` when owner.name is called and `after` when it returns (awaited, for a coroutine function)."""
    original = getattr(owner, name)
    if getattr(original, "stage_label", None):
        return
    if hasattr(original, "__code__") and original.__code__.co_flags & 0x80:  # CO_COROUTINE

        async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
            stamp(before)
            result = await original(*args, **kwargs)
            if after:
                stamp(after)
            return result

        wrapped: Callable[..., Any] = wrapped_async
    else:

        def wrapped_sync(*args: Any, **kwargs: Any) -> Any:
            stamp(before)
            result = original(*args, **kwargs)
            if after:
                stamp(after)
            return result

        wrapped = wrapped_sync
    wrapped.stage_label = before  # type: ignore[attr-defined]
    setattr(owner, name, wrapped)


def patch_uvicorn() -> None:
    uvicorn_http: Any = importlib.import_module("uvicorn.protocols.http.httptools_impl")
    protocol, cycle = uvicorn_http.HttpToolsProtocol, uvicorn_http.RequestResponseCycle
    received, run_asgi, send = protocol.data_received, cycle.run_asgi, cycle.send

    def data_received(self: Any, data: bytes) -> None:
        if data.startswith(b"POST /v1/"):
            STAMPS.clear()
            stamp("bytes received")
        received(self, data)

    async def run(self: Any, app: Any) -> None:
        stamp("ASGI app called")
        wrap_layers(app)
        await run_asgi(self, app)

    async def sending(self: Any, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stamp("response started")
        last_body = message["type"] == "http.response.body" and not message.get("more_body") and bool(STAMPS)
        if last_body:
            # stamped before the write: once the bytes are on the socket the client may have them (and stamp)
            # before this coroutine runs again
            stamp("writing the response body")
        await send(self, message)
        if last_body:
            with open(str(LOG), "a", encoding="utf-8") as log:
                log.write(json.dumps(STAMPS) + "\n")
            STAMPS.clear()

    protocol.data_received, cycle.run_asgi, cycle.send = data_received, run, sending


def install() -> None:
    from service import app, batching, engine, hot_pool

    patch_uvicorn()
    around(app, "classify", "handler starts", "handler returns")
    around(engine.Engine, "classify", "body parsed, route chosen", "result built")
    around(hot_pool.HotThreadPool, "submit", "handed to the inference thread")
    around(batching.MicroBatcher, "_timed", "inference starts", "inference ends")  # on the inference thread
    around(batching.MicroBatcher, "_learn_cost", "back on the event loop")


class InstallAfterServiceApp(importlib.abc.MetaPathFinder):
    """Finds nothing itself: once `service.app` has been executed, installs the stamps."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if name != "service.app":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader: Any = None if spec is None else spec.loader
        if loader is None:
            return spec
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            install()

        loader.exec_module = exec_module
        return spec


if LOG:
    sys.meta_path.insert(0, InstallAfterServiceApp())
