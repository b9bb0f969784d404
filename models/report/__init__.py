"""The selection report: what was measured, what each scenario picked and why, and (optionally) how it runs live.

Rendering only reads the measurements JSON (`models/benchmark.py`), the selection JSON (`models/select.py`) and,
when given, live metrics (`models/live.py`); it never measures. `data` builds the report data from them (typed,
`service.contracts.ReportData`, dumped as `report.json`); `markdown` and `html` format that data (`html` through
an autoescaped jinja2 template, `templates/`, adding the inline SVG figures of `charts`, drawn by matplotlib from
the measurements). Output is deterministic, so a report of stored inputs can be compared with golden files.
"""

from models.report.comparison import Comparison, compare_with_baseline
from models.report.data import report_data
from models.report.format import fmt_points
from models.report.live import DEFAULT_TOLERANCE
from models.report.render import Report, render_report, write_report
from models.report.summary import summary_sentence
from models.report.variants import pareto_front

__all__ = [
    "DEFAULT_TOLERANCE",
    "Comparison",
    "Report",
    "compare_with_baseline",
    "fmt_points",
    "pareto_front",
    "render_report",
    "report_data",
    "summary_sentence",
    "write_report",
]
