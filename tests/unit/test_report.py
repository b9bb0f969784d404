"""The selection report rendered from stored inputs (`tests/data/report/`), compared with golden files.

Inputs: `measurements.json` (one task, four variants measured at 1 and 2 threads, one rejected variant),
`selection.json` (six scenarios, one infeasible; produced by `models.select` from `scenarios.yaml` and frozen)
and `live.json` (what `models.live.query_live` returns: a breach, an off-by, no traffic); the capacity plan is
sized for a peak of `PEAK_RPS`.

The golden files `golden.md`, `golden.json` and `golden.html` are compared exactly. After an intended change of
the report's output, regenerate them and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_report.py

`golden.html` holds the charts' SVG as matplotlib writes it, byte for byte, so pyproject.toml pins matplotlib:
after upgrading it, regenerate and look at the charts (open the page in a browser, or screenshot it with
`chromium --headless --screenshot`) before committing the new golden.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from models.report import (
    Report,
    compare_with_baseline,
    fmt_points,
    pareto_front,
    render_report,
    report_data,
    summary_sentence,
    write_report,
)
from service.contracts import ReportData
from service.routing import ScenarioSelection
from tests.svg import SVG_NS, drawn, group, svgs, texts

DATA = Path(__file__).resolve().parents[1] / "data" / "report"
INT8 = "sentiment-minilm-l6-onnx-int8"
PEAK_RPS = 400.0
TORCH = "sentiment-minilm-l6-torch-fp32"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def inputs() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return load("measurements"), load("selection"), load("live")


@pytest.fixture(scope="module")
def report(inputs: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> Report:
    measurements, selection, live = inputs
    return render_report(measurements, selection, live, peak_rps=PEAK_RPS)


def scenario(report: Report, name: str) -> dict[str, Any]:
    return report.json["tasks"]["sentiment"]["scenarios"][name]


# --- golden files -----------------------------------------------------------------------------------------


def golden_text(report: Report, kind: str) -> str:
    if kind == "json":
        return json.dumps(report.json, indent=2, ensure_ascii=False) + "\n"
    return report.markdown if kind == "md" else report.html


@pytest.mark.parametrize("kind", ["md", "json", "html"])
def test_report_matches_golden_file(report: Report, kind: str) -> None:
    path = DATA / f"golden.{kind}"
    actual = golden_text(report, kind)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.name} differs; if intended, regenerate with UPDATE_GOLDEN=1 (see docstring)"


def test_rendering_is_deterministic_and_leaves_inputs_alone(inputs: tuple[dict, dict, dict]) -> None:
    before = copy.deepcopy(inputs)
    first, second = render_report(*inputs), render_report(*inputs)
    assert (first.html, first.markdown, first.json) == (second.html, second.markdown, second.json)
    assert inputs == before


def test_write_report_writes_the_three_files(report: Report, tmp_path: Path) -> None:
    paths = write_report(report, tmp_path / "out")
    assert {p.name for p in paths.values()} == {"report.html", "report.md", "report.json"}
    assert paths["html"].read_text(encoding="utf-8") == report.html
    assert paths["markdown"].read_text(encoding="utf-8") == report.markdown
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == report.json


# --- HTML: self-contained, charts that parse and draw -----------------------------------------------------------


def test_every_svg_parses_as_xml_and_draws_its_data(report: Report) -> None:
    charts = svgs(report.html)
    assert len(charts) == 3  # quality vs latency, latency CDF, throughput vs batch size
    for chart in charts:
        assert chart.tag == f"{SVG_NS}svg" and chart.get("role") == "img"
        assert chart.get("aria-label") == chart.find(f"{SVG_NS}title").text
    points = group(charts[0], "points")
    assert points is not None and len(drawn(points)) == 8  # four variants at 1 and 2 threads
    for chart in charts[1:]:  # one line per measured (variant, threads)
        lines = [group(chart, f"series-{i}") for i in range(8)]
        assert all(line is not None and drawn(line) for line in lines)
    assert "minilm-l3-onnx-int8 @2t" in texts(charts[1]) and "32" in texts(charts[2])


def test_scatter_shows_front_and_every_pick(report: Report) -> None:
    scatter = svgs(report.html)[0]
    front, picks = group(scatter, "pareto-front"), group(scatter, "picks")
    assert front is not None and len(drawn(front)) == 1  # the Pareto front: one dashed path
    for name in ("realtime", "interactive", "compact", "batch", "accuracy", "edge (infeasible)", "Pareto front"):
        assert name in texts(scatter)
    # int8 @1t (realtime, interactive, compact), int8 @2t, onnx-fp32 @2t, l3 @1t
    assert picks is not None and len(drawn(picks)) == 4


def test_ids_are_unique_on_the_page_and_every_reference_resolves(report: Report) -> None:
    ids = re.findall(r'\sid="([^"]+)"', report.html)
    assert ids and len(ids) == len(set(ids))
    references = re.findall(r'(?:href="#|url\(#)([^")]+)', report.html)
    assert references and set(references) <= set(ids)


def test_html_is_self_contained(report: Report) -> None:
    page = report.html.lower()
    for forbidden in ("<script", "<link", "<img", "<image", "@import"):
        assert forbidden not in page
    assert not re.search(r"url\((?!#)", page)  # only references to the charts' own clip paths
    assert not re.search(r'(?:src|href)="(?!#)', page)  # only the charts' own marker shapes


def test_html_escapes_names(inputs: tuple[dict, dict, dict]) -> None:
    measurements, selection, live = copy.deepcopy(inputs)
    selection["tasks"]["sentiment"]["scenarios"]["realtime"]["evidence"]["message"] = "<b>bold</b> & co"
    page = render_report(measurements, selection, live).html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page and "<b>bold" not in page


HOSTILE_SCENARIO = '<script>alert("s")</script>'
HOSTILE_VARIANT = "v<img src=x onerror=alert(1)>&$x$"


def test_html_escapes_scenario_and_variant_names_everywhere(inputs: tuple[dict, dict, dict]) -> None:
    """A scenario and a variant named like markup: in the summary, headings, tables and the chart's pick captions
    they are text, never elements; the page still has only its three charts as markup."""
    measurements, selection, live = copy.deepcopy(inputs)
    scenarios = selection["tasks"]["sentiment"]["scenarios"]
    scenarios[HOSTILE_SCENARIO] = scenarios.pop("realtime")
    selection["tasks"]["sentiment"]["default_scenario"] = HOSTILE_SCENARIO
    live["scenarios"]["sentiment"][HOSTILE_SCENARIO] = live["scenarios"]["sentiment"].pop("realtime")
    scenarios["batch"]["variant"] = HOSTILE_VARIANT
    page = render_report(measurements, selection, live, peak_rps=PEAK_RPS).html
    assert "<script" not in page.lower() and "<img" not in page.lower()
    scenario_text, variant_text = escape(HOSTILE_SCENARIO), escape(HOSTILE_VARIANT)  # as the template escapes
    assert page.count(f"<code>{scenario_text}</code>") == 2  # the summary sentence and the scenario's heading
    assert page.count(f"<td>{scenario_text}</td>") == 2  # the capacity plan and the live table
    assert f"<code>{variant_text}</code>" in page
    caption = texts(svgs(page)[0])
    assert HOSTILE_SCENARIO in caption  # the pick's caption on the chart, as text (ElementTree unescaped it)
    assert len(svgs(page)) == 3


# --- content --------------------------------------------------------------------------------------------------


def test_variant_table_has_every_measured_run_and_the_rejected(report: Report) -> None:
    task = report.json["tasks"]["sentiment"]
    assert len(task["variants"]) == 8  # four variants at 1 and 2 threads
    int8 = next(r for r in task["variants"] if r["variant"] == INT8 and r["threads"] == 1)
    assert int8["quality_drop_pt"] == pytest.approx(0.33)
    assert (int8["p50_ms"], int8["p95_ms"], int8["p99_ms"]) == (4.4, 5.5, 6.8)
    assert int8["server"] == [{"p99_bound_ms": 50.0, "target_rps": 40.0, "max_rate_rps": 150.0}]
    assert (int8["offline_rps"], int8["offline_batch_size"], int8["peak_memory_mb"]) == (410.0, 32, 268.3)
    assert task["rejected"][0]["variant"] == "sentiment-tinybert-onnx-int8"
    assert "sentiment-tinybert-onnx-int8" in report.markdown and "8.3 pt below" in report.markdown


def test_pareto_front() -> None:
    points = [(10.0, 0.70), (5.0, 0.69), (20.0, 0.72), (12.0, 0.69), (None, 0.9), (5.0, 0.68)]
    assert pareto_front(points) == [1, 0, 2]


def test_losing_candidates_show_failed_constraint_and_excess(report: Report) -> None:
    torch = next(c for c in scenario(report, "accuracy")["candidates"] if c["variant"] == TORCH)
    assert torch["failures"] == ["p95_latency_ms 12.6 > 10 (by 2.6, 26.0%)"]
    assert "p95_latency_ms 12.6 > 10 (by 2.6, 26.0%)" in report.markdown
    edge = scenario(report, "edge")
    assert edge["feasible"] is False
    assert all(c["failures"] for c in edge["candidates"])
    assert "infeasible" in report.markdown and "no variant meets max_model_mb <= 15" in report.markdown


def test_a_server_candidate_shows_the_spread_of_its_repeated_trials(inputs: tuple[dict, dict, dict]) -> None:
    measurements, selection, _ = copy.deepcopy(inputs)
    realtime = selection["tasks"]["sentiment"]["scenarios"]["realtime"]
    candidate = next(c for c in realtime["evidence"]["candidates"] if c["variant"] == INT8)
    candidate["metrics"].update(p99_spread_ms=[19.44, 31.01], p99_pooled_ms=27.52)
    rendered = render_report(measurements, selection)
    row = next(
        c for c in rendered.json["tasks"]["sentiment"]["scenarios"]["realtime"]["candidates"] if c["variant"] == INT8
    )
    assert (row["latency_spread_ms"], row["latency_pooled_ms"]) == ([19.44, 31.01], 27.52)
    latency = row["latency_ms"]
    assert f"| {latency:.1f} (19.4-31.0; pooled 27.5) |" in rendered.markdown
    assert "the median of the repeated trials' p99s" in rendered.markdown


def test_failure_without_a_measurement_says_so(inputs: tuple[dict, dict, dict]) -> None:
    measurements, selection, _ = copy.deepcopy(inputs)
    candidate = selection["tasks"]["sentiment"]["scenarios"]["edge"]["evidence"]["candidates"][0]
    candidate["failures"] = [{"constraint": "threads", "limit": 4, "value": None, "excess": None, "excess_pct": 100.0}]
    assert "threads = 4: not measured" in render_report(measurements, selection).markdown


def test_reproduction_header(report: Report, inputs: tuple[dict, dict, dict]) -> None:
    measurements = inputs[0]
    for text in (measurements["command"], measurements["hardware"]["cpu"], "onnxruntime 1.22.0", "max_samples=1000"):
        assert text in report.markdown and text in report.html


# --- summary sentences: the numbers -----------------------------------------------------------------------------


def run(measurements: dict, variant: str, threads: int) -> dict:
    return measurements["tasks"]["sentiment"]["variants"][variant]["runs"][str(threads)]


def f1(measurements: dict, variant: str) -> float:
    return measurements["tasks"]["sentiment"]["variants"][variant]["quality"]["macro_f1"]


def test_summary_sentence_in_the_documented_style(report: Report) -> None:
    assert scenario(report, "realtime")["summary"] == (
        f"for `realtime`, `{INT8}` serves 3.1× the rate of the FP32 baseline within p99 ≤ 50 ms "
        "(150 vs 48.0 rps) at −0.3 pt macro-F1"
    )
    assert f"- for `realtime`, `{INT8}` serves 3.1×" in report.markdown


def test_summary_ratios_and_quality_delta_follow_the_measurements(report: Report, inputs: tuple) -> None:
    m = inputs[0]
    delta = (f1(m, INT8) - f1(m, TORCH)) * 100
    expected = {  # scenario -> (ratio from the raw measurements, phrase)
        "realtime": (
            run(m, INT8, 1)["server"][0]["max_rate_rps"] / run(m, TORCH, 1)["server"][0]["max_rate_rps"],
            "the rate of",
        ),
        "interactive": (
            run(m, TORCH, 1)["single_stream"]["p95_ms"] / run(m, INT8, 1)["single_stream"]["p95_ms"],
            "lower p95 latency",
        ),
        "batch": (
            run(m, INT8, 2)["offline"]["throughput_rps"] / run(m, TORCH, 2)["offline"]["throughput_rps"],
            "the offline throughput",
        ),
        "compact": (
            m["tasks"]["sentiment"]["variants"][TORCH]["size_mb"]
            / m["tasks"]["sentiment"]["variants"][INT8]["size_mb"],
            "smaller",
        ),
    }
    for name, (ratio, phrase) in expected.items():
        data = scenario(report, name)
        assert data["comparison"]["ratio"] == pytest.approx(ratio, abs=1e-3)
        assert data["comparison"]["quality_delta_pt"] == pytest.approx(delta, abs=0.01)
        assert f"{ratio:.1f}×" in data["summary"] and phrase in data["summary"]
        assert data["summary"].endswith("at −0.3 pt macro-F1")
    assert [round(r, 1) for r, _ in expected.values()] == [3.1, 3.6, 3.8, 3.8]


def test_summary_for_quality_and_infeasible_scenarios(report: Report) -> None:
    assert scenario(report, "accuracy")["summary"] == (
        "for `accuracy`, `sentiment-minilm-l6-onnx-fp32` reaches macro-F1 0.7280, ±0.0 pt vs the FP32 baseline (0.7282)"
    )
    assert scenario(report, "edge")["summary"].startswith("for `edge`, no variant fits: no variant meets max_model_mb")


@pytest.mark.parametrize(
    ("delta", "text"),
    [(-0.33, "−0.3 pt"), (0.46, "+0.5 pt"), (0.04, "±0.0 pt"), (-0.04, "±0.0 pt"), (None, "— pt")],
)
def test_quality_delta_format(delta: float | None, text: str) -> None:
    assert fmt_points(delta) == text


NOT_COMPARED = {
    "macro_f1": 0.7,
    "quality_drop": 0.0,
    "p50_ms": None,
    "p95_ms": None,
    "p99_ms": None,
    "latency_ms": None,
    "throughput_rps": None,
    "size_mb": 10.0,
    "memory_mb": 100.0,
    "threads": 1,
    "accuracy": 0.7,
}


def candidate(variant: str, rank: int, metrics: dict) -> dict:
    return {"variant": variant, "rank": rank, "feasible": True, "metrics": metrics, "failures": []}


def crafted(pattern: str, objective: str, pick: dict, baseline: dict, **constraints: Any) -> dict:
    """A route with select's evidence: the pick and the baseline `base`, with the metrics given (others fixed)."""
    pick, baseline = {**NOT_COMPARED, **pick}, {**NOT_COMPARED, **baseline}
    return {
        "variant": "pick",
        "constraints": {"load_pattern": pattern, "threads": 1, **constraints},
        "objective": objective,
        "evidence": {
            "feasible": True,
            "message": "pick meets every constraint",
            "measurements": {"path": "m.json", "generated_at": None},
            "baseline": "base",
            "best_macro_f1": max(pick.get("macro_f1", 0.7), baseline.get("macro_f1", 0.7)),
            "ranking": [objective],
            "metrics": pick,
            "candidates": [candidate("pick", 1, pick), candidate("base", 2, baseline)],
        },
    }


def sentence(data: dict) -> str:
    route = ScenarioSelection.model_validate(data)
    return summary_sentence("s", route, compare_with_baseline(route))


def test_summary_when_the_pick_is_slower_than_the_baseline() -> None:
    pick, base = {"p95_ms": 13.0, "macro_f1": 0.80}, {"p95_ms": 10.0, "macro_f1": 0.78}
    data = crafted("single-stream", "maximize_quality", pick, base)
    assert sentence(data) == "for `s`, `pick` reaches macro-F1 0.8000, +2.0 pt vs the FP32 baseline (0.7800)"
    data["objective"] = "minimize_latency"
    assert "1.3× higher p95 latency than the FP32 baseline (13.0 vs 10.0 ms) at +2.0 pt" in sentence(data)


def test_summary_uses_the_constrained_percentile() -> None:
    pick, base = {"p50_ms": 2.0, "p95_ms": 3.0, "macro_f1": 0.7}, {"p50_ms": 5.0, "p95_ms": 9.0, "macro_f1": 0.7}
    data = crafted("single-stream", "minimize_latency", pick, base, p50_latency_ms=4)
    assert "2.5× lower p50 latency" in sentence(data) and "±0.0 pt" in sentence(data)


def test_summary_when_the_baseline_holds_no_rate() -> None:
    data = crafted(
        "server",
        "maximize_throughput",
        {"throughput_rps": 90.0, "macro_f1": 0.7},
        {"throughput_rps": 0.0, "macro_f1": 0.71},
        target_rps=20,
        p99_latency_ms=15,
    )
    assert sentence(data) == (
        "for `s`, `pick` serves 90.0 rps within p99 ≤ 15 ms, a bound the FP32 baseline meets at no tested rate "
        "at −1.0 pt macro-F1"
    )


def test_summary_when_the_pick_is_the_baseline_or_evidence_is_missing() -> None:
    data = crafted("offline", "maximize_throughput", {"throughput_rps": 90.0}, {"throughput_rps": 90.0})
    data["evidence"]["baseline"] = "pick"
    assert sentence(data) == "for `s`, the FP32 baseline `pick` itself is the pick (±0.0 pt macro-F1)"
    handwritten = {"variant": "v", "constraints": {"load_pattern": "offline"}, "evidence": {"why": "by hand"}}
    assert sentence(handwritten) == "for `s`, `v` is the pick (no baseline recorded)"


def test_report_of_a_hand_written_selection_without_evidence(inputs: tuple[dict, dict, dict]) -> None:
    selection = {
        "version": 1,
        "generated_by": "hand-written",
        "generated_at": "2026-11-23T00:00:00Z",
        "tasks": {
            "sentiment": {
                "kind": "text",
                "default_scenario": "realtime",
                "scenarios": {
                    "realtime": {
                        "variant": INT8,
                        "constraints": {"load_pattern": "server", "p99_latency_ms": 50},
                        "evidence": {"note": "hand-written"},
                    }
                },
            },
            "digits": {"kind": "image", "default_scenario": "a", "scenarios": {"a": {"variant": "digits-x"}}},
        },
    }
    live = {"prometheus": "http://p:9090", "window": "5m", "queried_at": "t", "scenarios": {}}
    result = render_report(inputs[0], selection, live)
    assert "`digits-x` is the pick (no baseline recorded)" in result.markdown
    assert "No measured variants." in result.markdown
    assert "no data" in result.html
    for chart in svgs(result.html):  # the digits charts have no data but still parse
        assert chart.tag == f"{SVG_NS}svg"


# --- live columns ---------------------------------------------------------------------------------------------


def live_for(report: Report, name: str) -> dict[str, Any]:
    return scenario(report, name)["live"]


def test_live_flags_breach_and_off_by(report: Report) -> None:
    realtime = live_for(report, "realtime")
    assert realtime["flags"] == [
        "off by 42%: p99 13.9 ms vs predicted 9.8 ms",
        "runtime +47% vs measure: 4.4 vs 3.0 ms per item (the machine runs slower than when measured)",
    ]
    assert realtime["rate_rps"] == {"observed": 38.2, "predicted": 40}
    assert realtime["runtime_ms_per_item"] == {"observed": 4.4, "predicted": 3.0}
    interactive = live_for(report, "interactive")["flags"]
    assert "SLO breach: p95 21.5 ms > 20 ms" in interactive
    assert "SLO breach: error ratio 1.2%" in interactive
    assert "off by 291%: p95 21.5 ms vs predicted 5.5 ms" in interactive
    assert "served by sentiment-minilm-l6-onnx-fp32 (not the pick)" in interactive
    assert live_for(report, "accuracy")["flags"] == []  # within 15% of every prediction
    assert live_for(report, "accuracy")["runtime_ms_per_item"] == {"observed": 9.6, "predicted": None}
    for text in ("SLO breach", "off by 42%", "off by 291%", "runtime +47% vs measure", "4.4 (at measure 3.0)"):
        assert text in report.markdown and text in report.html


def test_no_traffic_is_said_never_a_zero(report: Report) -> None:
    for name in ("batch", "compact", "edge"):  # rate 0, missing from the live data, rate None
        entry = live_for(report, name)
        assert entry["traffic"] is False and entry["rate_rps"]["observed"] is None and entry["flags"] == []
    rows = [line for line in report.markdown.splitlines() if line.startswith(("| batch |", "| compact |", "| edge |"))]
    assert len(rows) == 3
    for row in rows:
        assert "no traffic" in row and "0.0" not in row


def test_off_by_tolerance_is_configurable(inputs: tuple[dict, dict, dict]) -> None:
    loose = render_report(*inputs, tolerance=0.5)
    assert not any(flag.startswith("off by") for flag in live_for(loose, "realtime")["flags"])
    strict = render_report(*inputs, tolerance=0.1)
    assert "off by 13%: p50 7.0 ms vs predicted 6.2 ms" in live_for(strict, "accuracy")["flags"]


def test_breach_without_off_by_for_a_crafted_observation(inputs: tuple[dict, dict, dict]) -> None:
    measurements, selection, _ = inputs
    live = {
        "prometheus": "http://p:9090",
        "window": "5m",
        "queried_at": "t",
        "scenarios": {
            "sentiment": {
                "realtime": {
                    "rate_rps": 40.0,
                    "p50_ms": 5.1,
                    "p95_ms": 8.0,
                    "p99_ms": 51.0,
                    "error_ratio": 0.0,
                    "variants": [INT8],
                }
            }
        },
    }
    flags = live_for(render_report(measurements, selection, live), "realtime")["flags"]
    assert flags == ["SLO breach: p99 51.0 ms > 50 ms", "off by 420%: p99 51.0 ms vs predicted 9.8 ms"]


def test_without_live_data_there_are_no_live_columns(inputs: tuple[dict, dict, dict]) -> None:
    result = render_report(inputs[0], inputs[1])
    assert result.json["live"] is None
    assert "live" not in result.json["tasks"]["sentiment"]["scenarios"]["realtime"]
    assert "Live" not in result.markdown and "no traffic" not in result.html


def test_report_data_is_json_serialisable(inputs: tuple[dict, dict, dict]) -> None:
    data = report_data(*inputs).model_dump(mode="json")
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert ReportData.model_validate(data).model_dump(mode="json") == data  # report.json reads back as its contract
