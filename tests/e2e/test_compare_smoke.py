"""A short run of `loadtests/compare.py`: our service and the naive BentoML peer, one after the other, under the
same open-loop Poisson search, over the real default variants of the test store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e


def test_compare_runner_prints_the_side_by_side_table(default_variants: dict[str, dict], tmp_path: Path) -> None:
    out = tmp_path / "comparison.json"
    command = [
        sys.executable,
        str(REPO / "loadtests" / "compare.py"),
        "--tasks",
        "sentiment",
        "--quick",
        "--out",
        str(out),
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900, env=os.environ.copy())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert [row["server"] for row in rows] == ["scenario-serve", "naive BentoML peer"]
    assert rows[1]["variant"] == "sentiment-minilm-l6-torch-fp32"
    for row in rows:
        assert row["trials"] >= 1 and row["max_rate_rps"] >= 0
        assert row["max_rate_rps"] == 0 or row["p99_ms"] <= 50.0
    assert "| sentiment | scenario-serve |" in result.stdout and "| sentiment | naive BentoML peer |" in result.stdout
