"""The rendered report: render the three formats from the inputs, and write them as files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.report.capacity import DEFAULT_HEADROOM
from models.report.data import report_data
from models.report.html import render_html
from models.report.live import DEFAULT_TOLERANCE
from models.report.markdown import render_markdown
from models.report.schema import Json
from service.contracts import LiveObservations, Measurements, read_measurements
from service.routing import Selection


@dataclass(frozen=True)
class Report:
    """A rendered report: a self-contained HTML page, a Markdown summary and the JSON data behind both (the
    dump of `service.contracts.report.ReportData`)."""

    html: str
    markdown: str
    json: Json


def render_report(
    measurements: Measurements | Mapping[str, Any],
    selection: Selection | Mapping[str, Any],
    live: LiveObservations | Mapping[str, Any] | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    peak_rps: float | None = None,
    headroom: float = DEFAULT_HEADROOM,
) -> Report:
    """Render the report of a selection and the measurements it was made from (plus live metrics, if given).

    `tolerance` is the relative difference between an observed and a predicted latency that is flagged `off by`;
    `peak_rps` and `headroom` size the capacity plan (`models.report.capacity`).
    """
    measured = read_measurements(measurements)
    data = report_data(measured, selection, live, tolerance, peak_rps=peak_rps, headroom=headroom)
    json = data.model_dump(mode="json")
    return Report(html=render_html(data, measured), markdown=render_markdown(data), json=json)


def write_report(report: Report, out_dir: Path | str) -> dict[str, Path]:
    """Write `report.html`, `report.md` and `report.json` into `out_dir` (created if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "markdown": out / "report.md", "json": out / "report.json"}
    paths["html"].write_text(report.html, encoding="utf-8")
    paths["markdown"].write_text(report.markdown, encoding="utf-8")
    paths["json"].write_text(json.dumps(report.json, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
