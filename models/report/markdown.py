"""The report as Markdown: the summary sentences, how to reproduce, and per task the variants and scenarios."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from models.report import captions, tables
from service.contracts.report import LiveHeader, ReportData, ScenarioReport, TaskReport

CHARTS_NOTE = (
    "Charts (macro-F1 vs p99 latency with the Pareto front and the picks, latency CDFs, throughput vs batch "
    "size) are in `report.html`."
)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows)
    return lines


def md_scenario(name: str, s: ScenarioReport) -> list[str]:
    lines = [
        f"#### Scenario `{name}`",
        "",
        *(f"- {label}: {text}" for label, text in captions.scenario_facts(s)),
        f"- Pick: `{s.variant}` ({captions.verdict_text(s.feasible)})",
        f"- Fallbacks: {', '.join(f'`{f}`' for f in s.fallbacks) or 'none'}",
    ]
    if s.message:
        lines.append(f"- Evidence: {s.message}")
    lines.append("")
    if s.candidates:
        lines += md_table(tables.CANDIDATE_COLUMNS, (tables.candidate_cells(c) for c in s.candidates))
        lines.append("")
    return lines


def md_variants(task: TaskReport) -> list[str]:
    lines = ["### Variants", ""]
    if task.variants:
        lines += md_table(tables.VARIANT_COLUMNS, (tables.variant_cells(r) for r in task.variants))
        lines += ["", captions.VARIANTS_NOTE, ""]
    else:
        lines += [captions.NO_VARIANTS, ""]
    if task.rejected:
        lines += [captions.REJECTED_NOTE, ""]
        lines += [f"- `{r.variant}`: {r.reason}" for r in task.rejected]
        lines.append("")
    return lines


def md_live(task: TaskReport, live: LiveHeader) -> list[str]:
    lines = [f"### Live ({captions.live_caption(live)})", ""]
    rows = (tables.live_cells(n, s.live) for n, s in task.scenarios.items() if s.live is not None)
    return [*lines, *md_table(tables.LIVE_COLUMNS, rows), ""]


def md_task(name: str, task: TaskReport, live: LiveHeader | None) -> list[str]:
    lines = [f"## {captions.task_heading(name, task)}", "", *md_variants(task), CHARTS_NOTE, "", "### Scenarios", ""]
    for scenario_name, scenario in task.scenarios.items():
        lines += md_scenario(scenario_name, scenario)
    if live is not None:
        lines += md_live(task, live)
    return lines


def md_reproduce(data: ReportData) -> list[str]:
    command = data.measurements.command
    lines = [
        "## Reproduce",
        "",
        f"- Command: `{command}`" if command else "- Command: not recorded",
        *(f"- {label}: {text}" for label, text in captions.reproduce_facts(data)),
        "- Settings:",
    ]
    lines += [f"  - {line}" for line in captions.settings_text(data.measurements.settings)]
    for methods in data.measurements.methods:
        lines += ["- How each number was obtained:", *(f"  - {line}" for line in captions.methods_text(methods))]
    return [*lines, ""]


def md_capacity(data: ReportData) -> list[str]:
    plan = data.capacity
    lines = ["## Capacity plan", "", captions.capacity_caption(plan), ""]
    lines += md_table(tables.CAPACITY_COLUMNS, (tables.capacity_cells(row, plan.peak_rps) for row in plan.rows))
    return [*lines, "", captions.autoscaler_text(plan), ""]


def render_markdown(data: ReportData) -> str:
    lines = ["# Scenario selection report", "", "## Summary", ""]
    for task_name, task in data.tasks.items():
        lines += [f"### Task `{task_name}`", ""]
        lines += [f"- {s.summary}" for s in task.scenarios.values()]
        lines.append("")
    lines += md_reproduce(data)
    lines += md_capacity(data)
    for task_name, task in data.tasks.items():
        lines += md_task(task_name, task, data.live)
    return "\n".join(lines).rstrip() + "\n"
