"""service.reload: what a reloaded table keeps, why one cannot be applied, and what a reload changed (pure)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from service.batching import BatchLimits, MicroBatcher
from service.registry import LoadedVariant, VariantStatus
from service.reload import RouteChange, file_signature, kept_variants, route_changes, summarize, unservable_problems
from tests.http.fakes import FakeTextClassifier, stored_variant
from tests.unit.routing_tables import (
    IMAGE_BIG,
    IMAGE_FAST,
    SELECTION,
    TEXT_BIG,
    TEXT_FAST,
    TEXT_SMALL,
    all_ready,
    table,
)


def changed_selection() -> dict[str, Any]:
    """sentiment/realtime now selects TEXT_BIG, sentiment/batch is new, digits/realtime is gone (with its task)."""
    data = copy.deepcopy(SELECTION)
    scenarios = data["tasks"]["sentiment"]["scenarios"]
    scenarios["realtime"] = {"variant": TEXT_BIG, "fallbacks": [TEXT_SMALL]}
    scenarios["batch"] = {"variant": TEXT_FAST, "fallbacks": []}
    del data["tasks"]["digits"]
    return data


def loaded(name: str) -> LoadedVariant:
    classifier = FakeTextClassifier()
    return LoadedVariant(stored_variant(name), classifier, MicroBatcher(name, classifier.run, BatchLimits()))


def test_route_changes_lists_changed_then_new_then_gone_routes() -> None:
    old = table(all_ready())
    new = table(all_ready(changed_selection()), data=changed_selection())
    assert route_changes(old, new) == (
        RouteChange("sentiment", "realtime", TEXT_FAST, TEXT_BIG),
        RouteChange("sentiment", "batch", None, TEXT_FAST),
        RouteChange("digits", "realtime", IMAGE_FAST, None),
    )


def test_a_route_that_now_falls_back_is_a_change_and_an_equal_table_none() -> None:
    old = table(all_ready())
    assert route_changes(old, table(all_ready())) == ()
    fell_back = table({**all_ready(), IMAGE_FAST: VariantStatus.FAILED})
    assert route_changes(old, fell_back) == (RouteChange("digits", "realtime", IMAGE_FAST, IMAGE_BIG),)


def test_kept_variants_are_the_ready_ones_the_new_selection_may_serve() -> None:
    current = table(all_ready())
    current.loaded.update({name: loaded(name) for name in (TEXT_FAST, TEXT_SMALL)})
    moved = copy.deepcopy(SELECTION)  # TEXT_SMALL now routed for digits: stored for another task, so reloaded anew
    moved["tasks"]["digits"]["scenarios"]["realtime"]["fallbacks"] = [TEXT_SMALL]
    moved["tasks"]["sentiment"]["scenarios"]["realtime"]["fallbacks"] = []
    kept = kept_variants(current, table(data=moved).selection)
    assert list(kept) == [TEXT_FAST]
    assert kept[TEXT_FAST] == (current.states[TEXT_FAST], current.loaded[TEXT_FAST])


def test_unservable_problems_name_failed_variants_and_dead_routes() -> None:
    staged = table({**all_ready(), TEXT_BIG: VariantStatus.FAILED})
    staged.states[TEXT_BIG].reason = "RuntimeError: corrupt"
    assert unservable_problems(staged) == [
        f"{TEXT_BIG} failed: RuntimeError: corrupt",
        "route sentiment/accuracy would have no loaded variant",
    ]
    assert unservable_problems(table(all_ready())) == []


def test_the_summary_body_is_the_reload_answer(tmp_path: Path) -> None:
    current = table(all_ready())
    staged = table({TEXT_BIG: VariantStatus.READY, TEXT_FAST: VariantStatus.READY}, data=changed_selection())
    staged.loaded[TEXT_BIG] = loaded(TEXT_BIG)
    staged.states[TEXT_SMALL].status, staged.states[TEXT_SMALL].reason = VariantStatus.REJECTED, "gate: rejected"
    summary = summarize(tmp_path / "selection.json", current, staged, attempted=[TEXT_BIG, TEXT_SMALL])
    assert summary.body() == {
        "reloaded": True,
        "path": str(tmp_path / "selection.json"),
        "version": 1,
        "generated_by": "tests",
        "generated_at": "2026-11-23T00:00:00Z",
        "added": [TEXT_BIG],
        "removed": [IMAGE_FAST, IMAGE_BIG],
        "failed": [{"name": TEXT_SMALL, "reason": "gate: rejected"}],
        "changed_routes": [
            {"task": "sentiment", "scenario": "realtime", "from": TEXT_FAST, "to": TEXT_BIG},
            {"task": "sentiment", "scenario": "batch", "from": None, "to": TEXT_FAST},
            {"task": "digits", "scenario": "realtime", "from": IMAGE_FAST, "to": None},
        ],
    }


def test_file_signature_changes_when_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "selection.json"
    assert file_signature(path) is None
    path.write_text("{}", encoding="utf-8")
    before = file_signature(path)
    assert before is not None and file_signature(path) == before
    replacement = tmp_path / "selection.json.new"
    replacement.write_text("{}", encoding="utf-8")
    os.replace(replacement, path)  # same size, maybe the same mtime: a new inode all the same
    assert file_signature(path) != before
