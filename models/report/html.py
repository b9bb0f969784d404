"""The report as one self-contained HTML page: inline CSS and SVG charts, no scripts, no external links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from models.report import captions, tables
from models.report.capacity import CapacityPlan
from models.report.charts import task_charts

CSS = """
body { font-family: sans-serif; margin: 24px auto; max-width: 1180px; color: #222; line-height: 1.4; }
h1, h2, h3, h4 { margin-top: 1.4em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
tr.pareto td:first-child { font-weight: bold; }
tr.pick td { background: #fff6d6; }
tr.flagged td:last-child { color: #b00020; font-weight: bold; }
.infeasible { color: #b00020; font-weight: bold; }
figure { margin: 12px 0; }
code { background: #f3f3f3; padding: 0 3px; }
""".strip()


def esc(text: Any) -> str:
    return escape(str(text), quote=True)


def code_html(text: str) -> str:
    """Escape text and turn `backticked` names into <code> (the summary sentences use Markdown backticks)."""
    parts = esc(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def html_row(cells: Sequence[str], css: str) -> str:
    """A table row of escaped cells, with a class when `css` is not empty."""
    attribute = f' class="{esc(css)}"' if css else ""
    return f"<tr{attribute}>" + "".join(f"<td>{esc(cell)}</td>" for cell in cells) + "</tr>"


def html_table(columns: Sequence[str], rows: Iterable[tuple[Sequence[str], str]]) -> str:
    head = "<tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>"
    body = "".join(html_row(cells, css) for cells, css in rows)
    return f"<table>{head}{body}</table>"


def html_list(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def html_verdict(feasible: bool | None) -> str:
    verdict = captions.verdict_text(feasible)
    return f'<span class="infeasible">{verdict}</span>' if feasible is False else verdict


def html_scenario(name: str, s: Mapping[str, Any]) -> str:
    items = [
        *(f"{label}: {esc(text)}" for label, text in captions.scenario_facts(s)),
        f"Pick: <code>{esc(s['variant'])}</code> ({html_verdict(s['feasible'])})",
        "Fallbacks: " + (", ".join(f"<code>{esc(f)}</code>" for f in s["fallbacks"]) or "none"),
    ]
    if s["message"]:
        items.append(f"Evidence: {esc(s['message'])}")
    rows = ((tables.candidate_cells(c), "pick" if c["variant"] == s["variant"] else "") for c in s["candidates"])
    table = html_table(tables.CANDIDATE_COLUMNS, rows) if s["candidates"] else ""
    return f"<h4>Scenario <code>{esc(name)}</code></h4>{html_list(items)}{table}"


def html_live(task: Mapping[str, Any], live: Mapping[str, Any]) -> str:
    rows = (
        (tables.live_cells(name, scenario["live"]), "flagged" if scenario["live"]["flags"] else "")
        for name, scenario in task["scenarios"].items()
    )
    return f"<h3>Live</h3><p>{esc(captions.live_caption(live))}</p>{html_table(tables.LIVE_COLUMNS, rows)}"


def html_variants(task: Mapping[str, Any]) -> list[str]:
    parts = ["<h3>Variants</h3>"]
    if task["variants"]:
        rows = ((tables.variant_cells(r), "pareto" if r["pareto"] else "") for r in task["variants"])
        parts += [html_table(tables.VARIANT_COLUMNS, rows), f"<p>{captions.VARIANTS_NOTE}</p>"]
    else:
        parts.append(f"<p>{captions.NO_VARIANTS}</p>")
    if task["rejected"]:
        parts.append(f"<p>{captions.REJECTED_NOTE}</p>")
        parts.append(html_list(f"<code>{esc(r['variant'])}</code>: {esc(r['reason'])}" for r in task["rejected"]))
    return parts


def html_task(name: str, task: Mapping[str, Any], measured: Mapping[str, Any], live: Mapping[str, Any] | None) -> str:
    parts = [f"<h2>{code_html(captions.task_heading(name, task))}</h2>", *html_variants(task), "<h3>Charts</h3>"]
    parts.extend(f"<figure>{svg}</figure>" for svg in task_charts(name, task, measured))
    parts.append("<h3>Scenarios</h3>")
    parts.extend(html_scenario(n, s) for n, s in task["scenarios"].items())
    if live is not None:
        parts.append(html_live(task, live))
    return "\n".join(parts)


def html_reproduce(data: Mapping[str, Any]) -> str:
    command = data["measurements"]["command"]
    items = [
        f"Command: <code>{esc(command)}</code>" if command else "Command: not recorded",
        *(f"{label}: {esc(text)}" for label, text in captions.reproduce_facts(data)),
        "Settings: " + html_list(esc(line) for line in captions.settings_text(data["measurements"]["settings"])),
    ]
    return "<h2>Reproduce</h2>" + html_list(items)


def html_capacity(data: Mapping[str, Any]) -> str:
    plan = CapacityPlan.model_validate(data["capacity"])
    rows = ((tables.capacity_cells(row, plan.peak_rps), "") for row in plan.rows)
    return (
        f"<h2>Capacity plan</h2><p>{esc(captions.capacity_caption(plan))}</p>"
        f"{html_table(tables.CAPACITY_COLUMNS, rows)}<p>{esc(captions.autoscaler_text(plan))}</p>"
    )


def html_summary(data: Mapping[str, Any]) -> list[str]:
    return [
        f"<h3>Task <code>{esc(t)}</code></h3>" + html_list(code_html(s["summary"]) for s in task["scenarios"].values())
        for t, task in data["tasks"].items()
    ]


def render_html(data: Mapping[str, Any], measurements: Mapping[str, Any]) -> str:
    """One self-contained page: inline CSS and SVG, no scripts, no external links."""
    measured = measurements.get("tasks", {})
    tasks = [html_task(t, task, measured.get(t, {}), data["live"]) for t, task in data["tasks"].items()]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Scenario selection report</title>',
        f"<style>\n{CSS}\n</style></head><body>",
        "<h1>Scenario selection report</h1>",
        "<h2>Summary</h2>", *html_summary(data),
        html_reproduce(data),
        html_capacity(data),
        *tasks,
        "</body></html>",
    ]) + "\n"
