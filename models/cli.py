"""The `scenario-serve` command line."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.catalog import DEFAULT_CATALOG, CatalogError
from models.report.capacity import DEFAULT_HEADROOM
from models.scenarios import DEFAULT_SCENARIOS, ScenarioError
from service.config import DEFAULT_SELECTION
from service.contracts import RuntimeVariant, ScenarioMetrics, VariantMetadata, read_metadata
from service.contracts.metadata import SizeProbe
from service.contracts.report import CapacityPlan

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MEASUREMENTS = Path("reports/measurements.json")
DEFAULT_BENTOFILE = REPO_ROOT / "bentofile.yaml"


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


StoredRow = tuple[str, VariantMetadata, str]  # (name, metadata, status)


def validated_rows(rows: Sequence[tuple[str, Any, str]]) -> list[StoredRow]:
    """(name, stored metadata, status) with the metadata validated; MetadataError names the variant and the key."""
    return [(name, read_metadata(metadata, name), status) for name, metadata, status in rows]


def variant_table(rows: Sequence[StoredRow]) -> str:
    headers = ["variant", "accuracy", "macro-F1", "agreement", "size MB", "gate", "status"]
    cells = []
    for name, meta, status in rows:
        evaluation = meta.evaluation
        agreement = "-" if evaluation.vs_reference is None else evaluation.vs_reference.top1_agreement
        cells.append(
            [
                name,
                f"{evaluation.accuracy:.4f}",
                f"{evaluation.macro_f1:.4f}",
                agreement,
                f"{meta.size_bytes / 1e6:.1f}",
                meta.gate.status.value,
                status,
            ]
        )
    return format_table(headers, cells)


def latency_lines(rows: Sequence[StoredRow]) -> list[str]:
    """The ONNX FP32 vs INT8 latency probe that prepare records on INT8 image variants, one line per image size."""
    lines = []
    for name, meta, _ in rows:
        if not meta.latency_probe or meta.variant != RuntimeVariant.ONNX_INT8:
            continue
        for size, t in meta.latency_probe.items():
            if isinstance(t, SizeProbe):
                lines.append(
                    f"{name} @ {size}, batch 1: onnx-fp32 p50 {t.onnx_fp32.p50_ms:.2f} ms, "
                    f"onnx-int8 p50 {t.onnx_int8.p50_ms:.2f} ms (int8/fp32 = {t.int8_over_fp32_p50:.2f})"
                )
    return lines


def cmd_prepare(args: argparse.Namespace) -> int:
    from models.catalog import load_catalog
    from models.prepare import Options, prepare

    catalog = load_catalog(args.catalog)
    options = Options(
        force=args.force,
        max_samples=args.max_samples,
        epochs=args.epochs,
        gate_max_drop=args.gate_max_drop,
    )
    if args.threads is not None:
        options.threads = args.threads
    started = time.perf_counter()
    rows = prepare(catalog, args.tasks, options, log=lambda line: print(line, flush=True))
    table = validated_rows([(r.name, r.metadata, r.status) for r in rows])
    print()
    print(variant_table(table))
    for line in latency_lines(table):
        print(line)
    print(
        f"\n{len(rows)} variants ready in {time.perf_counter() - started:.0f} s "
        f"(store: {os.environ.get('BENTOML_HOME', '~/bentoml')})."
    )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from models.store import list_variants

    models = list_variants(args.task)
    if not models:
        print("no scenario-serve variants in the store; run `scenario-serve prepare` first")
        return 1
    table = validated_rows([(m.tag.name, m.info.metadata, "stored") for m in models])
    print(variant_table(table))
    for line in latency_lines(table):
        print(line)
    return 0


def command_line(argv: Sequence[str] | None) -> str:
    return "scenario-serve " + " ".join(sys.argv[1:] if argv is None else argv)


def cmd_measure(args: argparse.Namespace) -> int:
    from models.benchmark import measure
    from models.catalog import load_catalog
    from models.measure_plan import MeasureSettings, ServerTarget, TaskPlan
    from models.records import merge_measurements, stale_tasks, write_measurements
    from models.scenarios import load_scenarios, measurement_needs
    from service.config import ServiceConfig

    scenarios = load_scenarios(args.scenarios)
    tasks = args.tasks or list(scenarios.tasks)
    threads = ServiceConfig.from_env().threads  # what the served path runs with, hence what is measured
    plans = {}
    for task in tasks:
        if task not in scenarios.tasks:
            raise ScenarioError(
                f"{args.scenarios}: no scenarios for task {task!r}; known: {', '.join(scenarios.tasks)}"
            )
        servers = measurement_needs(scenarios, task)
        plans[task] = TaskPlan((threads,), tuple(ServerTarget(bound, rate) for bound, rate in servers))
    settings = MeasureSettings.quick() if args.quick else MeasureSettings()
    existing, reasons = stale_tasks(args.out, plans, settings)
    if args.force:
        reasons = dict.fromkeys(plans, "of --force")
    for task in plans:
        if task in reasons:
            print(f"{task}: measuring, because {reasons[task]}")
        else:
            print(
                f"{task}: measurements in {args.out} are current (same variants, plan and settings); "
                "--force measures again"
            )
    todo = {task: plans[task] for task in reasons}
    if not todo:
        return 0
    started = time.perf_counter()
    fresh = measure(
        load_catalog(args.catalog), todo, settings, command=args.command_line, log=lambda line: print(line, flush=True)
    )
    write_measurements(merge_measurements(existing, fresh), args.out)
    print(f"measurements written to {args.out} in {time.perf_counter() - started:.0f} s")
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    import json

    from models.bentofile import sync_bentofile_models
    from models.deploy_sync import DEPLOYED_SELECTION, sync_deployed_selection
    from models.records import load_measurements
    from models.scenarios import load_scenarios
    from models.select import select
    from service.routing import parse_selection

    deploy_base = chosen_deploy_base(args, args.out)
    selection, outcomes = select(
        load_scenarios(args.scenarios), load_measurements(args.measurements), str(args.measurements), args.tasks
    )
    if same_routes(args.out, selection):
        print(f"{args.out} already routes by these measurements; left as it is")
    else:
        args.out.write_text(json.dumps(selection, indent=2) + "\n", encoding="utf-8")
        print(f"selection written to {args.out}")
    rows = [
        [
            o.task,
            o.scenario,
            o.variant,
            "yes" if o.feasible else "NO",
            ", ".join(o.fallbacks) or "-",
            *_metric_cells(o.metrics),
        ]
        for o in outcomes
    ]
    print(
        format_table(
            ["task", "scenario", "variant", "feasible", "fallbacks", "macro-F1", "latency ms", "rate/s", "MB"], rows
        )
    )
    for outcome in outcomes:
        if not outcome.feasible:
            print(f"{outcome.task}/{outcome.scenario}: {outcome.message}")
    if args.bentofile is not None and args.bentofile.is_file():
        if sync_bentofile_models(args.bentofile, parse_selection(selection).routed_variants()):
            print(f"{args.bentofile}: models list updated to the routed variants")
    if deploy_base is not None and sync_deployed_selection(deploy_base, json.loads(args.out.read_text("utf-8"))):
        print(f"{deploy_base / DEPLOYED_SELECTION}: the routes the pods mount updated (without the evidence)")
    infeasible = [o for o in outcomes if not o.feasible]
    return 3 if args.strict and infeasible else 0


def same_routes(path: Path, selection: dict[str, Any]) -> bool:
    """The file holds this selection already (apart from when it was generated): no rewrite, no diff."""
    import json

    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(existing, dict) and existing.get("tasks") == selection["tasks"]


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _metric_cells(metrics: ScenarioMetrics | None) -> list[str]:
    """macro-F1, latency, rate and size of a pick; dashes when it was not measured."""
    if metrics is None:
        return ["-"] * 4
    return [
        _number(metrics.macro_f1, 4),
        _number(metrics.latency_ms, 2),
        _number(metrics.throughput_rps, 1),
        _number(metrics.size_mb, 1),
    ]


def cmd_report(args: argparse.Namespace) -> int:
    from models.records import load_measurements
    from models.report import render_report, write_report
    from service.routing import load_selection

    deploy_base = chosen_deploy_base(args, args.selection)
    live = None
    routes = load_selection(args.selection)
    selection = routes.model_dump(mode="json")
    if args.prometheus:
        from models.live import query_live

        live = query_live(args.prometheus, routes, args.window)
    report = render_report(
        load_measurements(args.measurements), selection, live, peak_rps=args.peak_rps, headroom=args.headroom
    )
    for kind, path in write_report(report, args.out).items():
        print(f"{kind}: {path}")
    if deploy_base is not None:
        sync_report_autoscaler(deploy_base, CapacityPlan.model_validate(report.json["capacity"]))
    return 0


def sync_report_autoscaler(deploy_base: Path, plan: CapacityPlan) -> None:
    from models.deploy_sync import AUTOSCALER_PATCH, sync_autoscaler

    path = deploy_base / AUTOSCALER_PATCH
    if plan.autoscaler is None or plan.autoscaler.max_replicas is None:
        print(f"{path}: left as it is (the autoscaler's maximum needs --peak-rps)")
    elif sync_autoscaler(deploy_base, plan):
        print(f"{path}: the autoscaler's threshold and replica bounds updated to the capacity plan")


def chosen_deploy_base(args: argparse.Namespace, selection: Path) -> Path | None:
    """--deploy-base when given; none with --no-deploy; else deploy/kubernetes/base when `selection` is the service's
    own selection file (the one the image serves and the pods mount)."""
    from models.deploy_sync import deploy_base_for

    if args.no_deploy:
        return None
    if args.deploy_base is None:
        return deploy_base_for(selection)
    if not args.deploy_base.is_dir():
        raise ValueError(f"--deploy-base {args.deploy_base}: not a directory")
    return Path(args.deploy_base)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def headroom_fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {text}")
    return value


def add_scenarios_and_tasks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenarios", type=Path, default=DEFAULT_SCENARIOS, help="scenario YAML (default: the built-in one)"
    )
    parser.add_argument(
        "--tasks", nargs="+", metavar="TASK", help="only these tasks (default: all in the scenario file)"
    )


def add_measurements(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--measurements",
        type=Path,
        default=DEFAULT_MEASUREMENTS,
        help=f"measurements JSON (default: {DEFAULT_MEASUREMENTS})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scenario-serve",
        description="Pick the best model variant per application scenario, and serve it.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prep = commands.add_parser(
        "prepare",
        help="train candidates, build torch/ONNX/INT8 variants, evaluate, gate, store",
        description="For every enabled candidate in the catalog: fine-tune it on the task's training split, "
        "build torch-fp32, onnx-fp32 and onnx-int8 variants, evaluate each on the fixed test split, gate "
        "derived variants on macro-F1, and save them to the BentoML model store. Current variants are skipped.",
    )
    prep.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="catalog YAML (default: the built-in one)")
    prep.add_argument("--tasks", nargs="+", metavar="TASK", help="only these tasks (default: all)")
    prep.add_argument("--force", action="store_true", help="rebuild even if the stored variants are current")
    prep.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="CPU threads for training and evaluation (default: models.prepare.PREPARE_THREADS, 2: both "
        "cores of the reference machine; the service runs SCENARIO_SERVE_THREADS per worker)",
    )
    prep.add_argument("--max-samples", type=int, help="training rows per candidate, overriding the catalog budget")
    prep.add_argument("--epochs", type=float, help="training epochs per candidate, overriding the catalog")
    prep.add_argument(
        "--gate-max-drop", type=float, help="macro-F1 points a derived variant may lose (default: catalog, 1.0)"
    )
    prep.set_defaults(handler=cmd_prepare)

    models = commands.add_parser(
        "models",
        help="list the prepared variants and their metrics",
        description="List the latest version of every prepared variant in the model store.",
    )
    models.add_argument("--task", help="only this task")
    models.set_defaults(handler=cmd_models)

    meas = commands.add_parser(
        "measure",
        help="benchmark every prepared variant the way the service runs it (single-stream, server, offline)",
        description="MLPerf-style measurements of every non-rejected stored variant of the tasks, through the "
        "service's own runtime and batcher: single-stream latency percentiles, the highest Poisson arrival rate "
        "whose p99 meets each server scenario's bound, offline throughput over batch sizes, peak memory and size. "
        "Each variant runs in a fresh process. Skipped when the output is current.",
    )
    add_scenarios_and_tasks(meas)
    meas.add_argument(
        "--catalog", type=Path, default=DEFAULT_CATALOG, help="catalog YAML: where the test splits come from"
    )
    meas.add_argument(
        "--out", type=Path, default=DEFAULT_MEASUREMENTS, help=f"output JSON (default: {DEFAULT_MEASUREMENTS})"
    )
    meas.add_argument(
        "--quick", action="store_true", help="short runs (fewer samples, shorter trials): for CI, noisier"
    )
    meas.add_argument("--force", action="store_true", help="measure even if the output is current")
    meas.set_defaults(handler=cmd_measure)

    sel = commands.add_parser(
        "select",
        help="pick a variant per task and scenario from the measurements; write the routing file",
        description="Filter the measured variants by each scenario's constraints, rank them by its objective "
        "(ties broken by the tie-breaks), and write the selection file the service routes by, with the evidence "
        "and the fallbacks (next-best feasible variants). Also updates bentofile.yaml's models list.",
    )
    add_measurements(sel)
    add_scenarios_and_tasks(sel)
    sel.add_argument(
        "--out", type=Path, default=DEFAULT_SELECTION, help="selection file to write (default: the service's)"
    )
    sel.add_argument("--bentofile", type=Path, default=DEFAULT_BENTOFILE, help="bentofile whose models list to sync")
    sel.add_argument(
        "--no-bentofile", dest="bentofile", action="store_const", const=None, help="leave bentofile.yaml alone"
    )
    sel.add_argument("--strict", action="store_true", help="exit 3 when a scenario has no feasible variant")
    add_deploy_base(sel, "the routes the pods mount (selection.json, without the evidence)")
    sel.set_defaults(handler=cmd_select)

    rep = commands.add_parser(
        "report",
        help="render the selection report (HTML, Markdown, JSON), optionally with live Prometheus metrics",
        description="Render the report from stored measurements and the selection file (never measures). With "
        "--prometheus, query each scenario's observed rate, p50/p95/p99 latency and error ratio over --window and "
        "show them beside the predictions, flagging SLO breaches and predictions off by more than 15%. The capacity "
        "plan gives, per server scenario, the replicas for its target rate and for --peak-rps, with --headroom.",
    )
    add_measurements(rep)
    rep.add_argument(
        "--selection", type=Path, default=DEFAULT_SELECTION, help="selection file (default: the service's)"
    )
    rep.add_argument("--out", type=Path, default=Path("reports"), help="output directory (default: reports)")
    rep.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://localhost:9090")
    rep.add_argument("--window", default="10m", help="live window, a Prometheus duration (default: 10m)")
    rep.add_argument(
        "--peak-rps",
        type=positive_float,
        metavar="RPS",
        help="peak request rate to size the capacity plan for, besides each scenario's target rate",
    )
    rep.add_argument(
        "--headroom",
        type=headroom_fraction,
        default=DEFAULT_HEADROOM,
        metavar="FRACTION",
        help=f"share of a replica's measured rate kept free in the capacity plan (default: {DEFAULT_HEADROOM})",
    )
    add_deploy_base(rep, "the autoscaler's threshold and replica bounds (autoscaler.yaml, with --peak-rps)")
    rep.set_defaults(handler=cmd_report)
    return parser


def add_deploy_base(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--deploy-base",
        type=Path,
        metavar="DIR",
        help=f"kustomize base whose {what} to keep in step (default: deploy/kubernetes/base, when the selection "
        "file is the service's own)",
    )
    parser.add_argument("--no-deploy", action="store_true", help="leave deploy/kubernetes alone")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = command_line(argv)
    try:
        return int(args.handler(args))
    except (CatalogError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
