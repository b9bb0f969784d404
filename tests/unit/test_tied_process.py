"""A server started by a tool does not outlive the tool, however the tool ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.tied_process import popen_tied

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = """
import subprocess, sys, time
from models.tied_process import popen_tied
child = popen_tied([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def wait_until_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_child_ends_when_the_tool_that_started_it_is_killed(how: signal.Signals) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", TOOL], cwd=REPO_ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": "."}
    ) as tool:
        try:
            assert tool.stdout is not None
            child = int(tool.stdout.readline())
            assert alive(child)
            tool.send_signal(how)
            tool.wait(10)
            assert wait_until_gone(child, 10), "the tied child outlived the tool that started it"
        finally:
            tool.kill()


def test_a_tied_child_runs_and_reports_like_any_other() -> None:
    child = popen_tied([sys.executable, "-c", "print('ok')"], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=30)
    assert (child.returncode, out.strip()) == (0, b"ok")
