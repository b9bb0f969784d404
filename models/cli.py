"""The `scenario-serve` command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from models.catalog import DEFAULT_CATALOG, CatalogError


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def variant_table(metadatas: list[tuple[str, dict[str, Any], str]]) -> str:
    headers = ["variant", "accuracy", "macro-F1", "agreement", "size MB", "gate", "status"]
    rows = []
    for name, meta, status in metadatas:
        evaluation = meta.get("eval", {})
        agreement = evaluation.get("vs_reference", {}).get("top1_agreement", "-")
        rows.append([
            name,
            f"{evaluation.get('accuracy', float('nan')):.4f}",
            f"{evaluation.get('macro_f1', float('nan')):.4f}",
            agreement,
            f"{meta.get('size_bytes', 0) / 1e6:.1f}",
            meta.get("gate", {}).get("status", "?"),
            status,
        ])
    return format_table(headers, rows)


def latency_lines(metadatas: list[tuple[str, dict[str, Any], str]]) -> list[str]:
    lines = []
    for name, meta, _ in metadatas:
        probe = meta.get("latency_probe")
        if not probe or meta.get("variant") != "onnx-int8":
            continue
        for size, t in probe.items():
            if isinstance(t, dict):
                lines.append(
                    f"{name} @ {size}, batch 1: onnx-fp32 p50 {t['onnx-fp32']['p50_ms']:.2f} ms, "
                    f"onnx-int8 p50 {t['onnx-int8']['p50_ms']:.2f} ms (int8/fp32 = {t['int8_over_fp32_p50']:.2f})"
                )
    return lines


def cmd_prepare(args: argparse.Namespace) -> int:
    from models.catalog import load_catalog
    from models.prepare import Options, prepare

    catalog = load_catalog(args.catalog)
    options = Options(
        force=args.force,
        threads=args.threads,
        max_samples=args.max_samples,
        epochs=args.epochs,
        gate_max_drop=args.gate_max_drop,
    )
    started = time.perf_counter()
    rows = prepare(catalog, args.tasks, options, log=lambda line: print(line, flush=True))
    table = [(r.name, r.metadata, r.status) for r in rows]
    print()
    print(variant_table(table))
    for line in latency_lines(table):
        print(line)
    print(f"\n{len(rows)} variants ready in {time.perf_counter() - started:.0f} s "
          f"(store: {os.environ.get('BENTOML_HOME', '~/bentoml')}).")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from models.store import list_variants

    models = list_variants(args.task)
    if not models:
        print("no scenario-serve variants in the store; run `scenario-serve prepare` first")
        return 1
    table = [(m.tag.name, m.info.metadata, "stored") for m in models]
    print(variant_table(table))
    for line in latency_lines(table):
        print(line)
    return 0


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
    prep.add_argument("--threads", type=int, default=2, help="CPU threads for training and inference (default: 2)")
    prep.add_argument("--max-samples", type=int, help="training rows per candidate, overriding the catalog budget")
    prep.add_argument("--epochs", type=float, help="training epochs per candidate, overriding the catalog")
    prep.add_argument("--gate-max-drop", type=float, help="macro-F1 points a derived variant may lose (default: catalog, 1.0)")
    prep.set_defaults(handler=cmd_prepare)

    models = commands.add_parser("models", help="list the prepared variants and their metrics",
                                 description="List the latest version of every prepared variant in the model store.")
    models.add_argument("--task", help="only this task")
    models.set_defaults(handler=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
