"""loadtests/compare.py's table and document: the ratio of ours to the peer, one side alone, the JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

from loadtests.compare import START_RPS, Comparison, ComparisonRow, realtime_pick, search_settings, table
from models.served_measure import query_count

REPO = Path(__file__).resolve().parents[2]


def side(server: str, rate: float, searched: float | None = None) -> ComparisonRow:
    return ComparisonRow(
        task="sentiment",
        server=server,
        variant=f"{server}-variant",
        max_rate_rps=rate,
        search_max_rate_rps=searched,
        p50_ms=10.0,
        p99_ms=40.0,
        p99_spread_ms=(38.0, 45.5),
        trials=7,
    )


def test_our_row_carries_the_ratio_and_the_peer_row_1x() -> None:
    ours, peer = side("scenario-serve", 120.0, 130.0), side("naive BentoML peer", 30.0)
    ours_line, peer_line = table([ours, peer], 50.0).splitlines()[2:]
    assert ours_line.endswith("| **4.0x** |") and "| 120.0 rps | 130.0 rps |" in ours_line
    assert peer_line.endswith("| 1x |") and "| 30.0 rps | 30.0 rps |" in peer_line
    assert "38.0-45.5" in ours_line


def test_a_peer_without_a_rate_and_a_side_alone() -> None:
    text = table([side("scenario-serve", 120.0), side("naive BentoML peer", 0.0)], 50.0)
    assert "no peer rate meets the bound" in text
    (alone,) = table([side("scenario-serve", 120.0)], 50.0).splitlines()[2:]
    assert alone.endswith("| - |")


def test_the_checked_in_comparison_and_selection_read_as_typed_documents() -> None:
    comparison = Comparison.model_validate(json.loads((REPO / "reports" / "comparison.json").read_text()))
    assert {row.server for row in comparison.rows} == {"scenario-serve", "naive BentoML peer"}
    assert realtime_pick("sentiment").startswith("sentiment-")


def test_the_search_start_is_sized_as_an_ordinary_trial_not_as_a_prediction() -> None:
    settings = search_settings(quick=False)
    start = query_count(START_RPS, settings.target_seconds, settings.target_queries)
    assert start == query_count(START_RPS, settings.trial_seconds, settings.min_queries)
    assert start / START_RPS <= 4 * settings.trial_seconds  # 32 s a repeat at 2 rps, not 120
