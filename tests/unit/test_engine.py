"""service.engine without HTTP: the real engine on the fake store (tests/http/fakes.py) loads, serves, retries and
reloads; the HTTP behaviour on top of it is in tests/http/."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.config import ServiceConfig
from service.engine import Engine, check_top_k, prediction
from service.errors import InvalidRequest, SelectionNotServable
from service.registry import VariantStatus
from service.routing import load_selection
from tests.http.fakes import FakeStore
from tests.unit.routing_tables import IMAGE_BIG, IMAGE_FAST, ROUTED, SELECTION, TEXT_BIG, TEXT_FAST, TEXT_SMALL


def run_engine(tmp_path: Path, store: FakeStore, check: Callable[[Engine], Awaitable[None]], **settings: Any) -> None:
    """Start an engine on `store` and the test selection, wait for its start-up loading, run `check`, close it."""
    path = tmp_path / "selection.json"
    path.write_text(json.dumps(SELECTION), encoding="utf-8")
    config = ServiceConfig(selection_path=path, **settings)

    async def main() -> None:
        engine = Engine(config, load_selection(path), store)
        engine.start()
        try:
            assert engine._startup is not None
            await engine._startup
            await check(engine)
        finally:
            await engine.close()

    asyncio.run(main())


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def test_start_up_loads_the_load_set_and_classifies_on_the_selected_variant(tmp_path: Path) -> None:
    store = FakeStore(ROUTED)

    async def check(engine: Engine) -> None:
        assert engine.ready and engine.available() == set(ROUTED)
        assert store.attempts == ROUTED  # each once, in selection order
        route = engine.route("text", None)
        assert (route.task, route.scenario, route.variant) == ("sentiment", "realtime", TEXT_FAST)
        answer = await engine.classify(route, ["I love it", "awful"], top_k=2)
        assert (answer.variant, answer.model_version, answer.fallback, answer.fallback_reason) == (
            TEXT_FAST,
            "v-fake",
            False,
            None,
        )
        assert [p.label for p in answer.predictions] == ["positive", "negative"]
        assert list(answer.predictions[0].scores) == ["positive", "neutral"]

    run_engine(tmp_path, store, check)


def test_a_failed_variant_is_routed_around_then_retried_until_it_loads(tmp_path: Path) -> None:
    store = FakeStore(ROUTED, fail={IMAGE_FAST: "corrupt"})

    async def check(engine: Engine) -> None:
        assert engine.ready  # its route falls back
        assert engine.states[IMAGE_FAST].status == VariantStatus.FAILED
        assert engine.route("image", None).variant == IMAGE_BIG
        store.fail.clear()
        await eventually(lambda: engine.states[IMAGE_FAST].status == VariantStatus.READY)
        assert engine.states[IMAGE_FAST].attempts >= 2
        assert engine.route("image", None).variant == IMAGE_FAST

    run_engine(tmp_path, store, check, load_retry_s=0.01)


def test_a_route_with_no_loaded_variant_keeps_the_engine_not_ready(tmp_path: Path) -> None:
    async def check(engine: Engine) -> None:
        assert not engine.ready
        assert engine.table.dead_routes() == ["sentiment/accuracy"]

    run_engine(tmp_path, FakeStore(ROUTED, fail={TEXT_BIG: "corrupt"}), check, load_retry_s=0)


def test_a_reload_keeps_what_it_may_loads_what_is_new_and_drops_the_rest(tmp_path: Path) -> None:
    store = FakeStore([*ROUTED, "sentiment-spare-onnx-fp32"])
    changed = copy.deepcopy(SELECTION)
    changed["tasks"]["sentiment"]["scenarios"]["accuracy"] = {"variant": "sentiment-spare-onnx-fp32"}

    async def check(engine: Engine) -> None:
        before = engine.table
        engine.config.selection_path.write_text(json.dumps(changed), encoding="utf-8")
        summary = await engine.reload()
        assert (summary.added, summary.removed, summary.failed) == (("sentiment-spare-onnx-fp32",), (TEXT_BIG,), ())
        assert [(c.task, c.scenario, c.before, c.after) for c in summary.changed_routes] == [
            ("sentiment", "accuracy", TEXT_BIG, "sentiment-spare-onnx-fp32")
        ]
        assert engine.table is not before and engine.ready
        for kept in (TEXT_FAST, TEXT_SMALL, IMAGE_FAST, IMAGE_BIG):
            assert engine.table.loaded[kept] is before.loaded[kept]  # not loaded again
        assert store.attempts == [*ROUTED, "sentiment-spare-onnx-fp32"]
        assert TEXT_BIG not in engine.table.loaded and TEXT_BIG not in engine.states

    run_engine(tmp_path, store, check)


def test_an_unservable_reload_leaves_the_table_in_force(tmp_path: Path) -> None:
    store = FakeStore(ROUTED, fail={"sentiment-spare-onnx-fp32": "corrupt"})
    changed = copy.deepcopy(SELECTION)
    changed["tasks"]["sentiment"]["scenarios"]["accuracy"] = {"variant": "sentiment-spare-onnx-fp32"}

    async def check(engine: Engine) -> None:
        before = engine.table
        engine.config.selection_path.write_text(json.dumps(changed), encoding="utf-8")
        with pytest.raises(SelectionNotServable, match="route sentiment/accuracy would have no loaded variant"):
            await engine.reload()
        assert engine.table is before and engine.ready

    run_engine(tmp_path, store, check, load_retry_s=0)


def test_top_k_beyond_the_labels_is_refused_naming_the_limit() -> None:
    check_top_k(3, TEXT_FAST, ["a", "b", "c"])
    check_top_k(None, TEXT_FAST, ["a"])
    with pytest.raises(InvalidRequest, match=f"top_k is 4; {TEXT_FAST} has 3 labels") as refused:
        check_top_k(4, TEXT_FAST, ["a", "b", "c"])
    assert refused.value.field == "top_k" and refused.value.limit == 3


def test_a_prediction_is_the_best_label_and_the_top_k_scores_highest_first() -> None:
    row = np.asarray([0.2, 0.5, 0.2, 0.1], dtype=np.float32)
    best = prediction(row, ["a", "b", "c", "d"], top_k=3)
    assert (best.label, best.score) == ("b", 0.5)
    assert list(best.scores.items()) == [("b", 0.5), ("a", 0.2), ("c", 0.2)]  # ties keep label order
