"""A short run of `loadtests/stages.py`: a request's stages timestamped inside a real served variant of the test
store, matched with the client's own stamps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e


def test_stages_splits_each_request_from_the_bytes_received_to_the_answer(default_variants: dict[str, dict]) -> None:
    command = [sys.executable, str(REPO / "loadtests" / "stages.py"), "--queries", "5", "--gap", "0.02"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "median" not in line]
    stages = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert stages[0] == "client sends" and stages[1] == "bytes received"
    for stage in ("handler starts", "handed to the inference thread", "inference starts", "back on the event loop"):
        assert stage in stages
    # the layers are split out too: the classify fast path (service.fast_path), then the /v1 app's middleware
    assert any("enters ClassifyFastPath" in stage for stage in stages)
    assert any("enters RequestDeadline" in stage for stage in stages)
    assert rows[-1].split(" | ")[1] == "client has the answer"
    assert "5 requests: the client's median" in result.stdout
