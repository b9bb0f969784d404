"""The charts of `models.plots` on their own: ticks, escaping, deterministic bytes, empty data. The report's pages
built from them are tested in test_report.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import matplotlib

from models.plots import Mark, Point, Series, line_chart, linear_ticks, log_ticks, scatter_chart
from tests.svg import drawn, group, texts


def test_ticks() -> None:
    assert linear_ticks(0.693, 0.731) == (0.69, 0.74, [0.69, 0.7, 0.71, 0.72, 0.73, 0.74])
    assert linear_ticks(0.0, 1.0)[2] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert log_ticks(0.8, 40.0) == [1.0, 2.0, 5.0, 10.0, 20.0]


def test_chart_text_is_escaped_and_charts_parse() -> None:
    scatter = scatter_chart([Point(1.0, 2.0, "<script>&")], title="a < b", x_label="x & y", y_label="'q'")
    line = line_chart([Series('"s"', ((1.0, 1.0), (2.0, 3.0)))], title="t", x_label="x", y_label="y", log_x=True)
    for svg, data in ((scatter, "points"), (line, "series-0")):
        root = ET.fromstring(svg)
        assert drawn(group(root, data))
    assert "&lt;script&gt;&amp;" in scatter and "<script>" not in scatter
    assert ET.fromstring(scatter).get("aria-label") == "a < b"


def test_dollar_signs_are_text_not_math() -> None:
    svg = scatter_chart([Point(1.0, 2.0, "$x_1$ ^{2}")], title="cost $5 $", x_label="x", y_label="y")
    assert "$x_1$ ^{2}" in texts(ET.fromstring(svg)) and "cost $5 $" in svg


def sample_charts() -> list[str]:
    points = [Point(1.5, 0.70, "a"), Point(4.0, 0.72, "b"), Point(9.0, 0.73, "c")]
    scatter = scatter_chart(
        points,
        title="s",
        x_label="x",
        y_label="y",
        front=[(1.5, 0.70), (4.0, 0.72)],
        marks=[Mark(4.0, 0.72, "pick")],
        log_x=True,
    )
    series = [Series("a", ((1.0, 10.0), (8.0, 40.0))), Series("b", ())]
    return [scatter, line_chart(series, title="l", x_label="x", y_label="y", log_x=True, x_ticks=[1, 8])]


def test_svg_is_byte_identical_across_renders_and_rcparams() -> None:
    """A fixed hash salt for matplotlib's ids, no date metadata, and a fixed style: whatever the caller's
    rcParams, the same input draws the same bytes."""
    first = sample_charts()
    assert sample_charts() == first
    with matplotlib.rc_context({"svg.hashsalt": None, "lines.linewidth": 7, "font.size": 30, "svg.fonttype": "path"}):
        assert sample_charts() == first
    for svg in first:
        assert "<metadata" not in svg and "<dc:date" not in svg and not svg.startswith("<?xml")


def test_empty_charts_say_no_data() -> None:
    for svg in (
        scatter_chart([], title="t", x_label="x", y_label="y"),
        line_chart([Series("s", ())], title="t", x_label="x", y_label="y"),
    ):
        assert "no data" in svg
        ET.fromstring(svg)
