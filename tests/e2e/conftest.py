"""Real processes for e2e tests: `bentoml serve` on loopback over the test model store, Prometheus."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from models.ports import free_port
from models.served import isolated_bentoml_home

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


READY_IN_A_ROW = 12  # the service runs a worker per core, each answering /readyz for itself


def wait_for(url: str, process: subprocess.Popen, timeout_s: float, log: Path) -> None:
    """Until `url` answers 200 READY_IN_A_ROW times, each on a fresh connection (which may reach any worker)."""
    deadline = time.monotonic() + timeout_s
    in_a_row = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            in_a_row = in_a_row + 1 if httpx.get(url, timeout=2).status_code == 200 else 0
        except httpx.HTTPError:
            in_a_row = 0
        if in_a_row >= READY_IN_A_ROW:
            return
        time.sleep(0.05 if in_a_row else 0.5)
    raise TimeoutError(f"{url} not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running(
    command: list[str],
    ready_url: str,
    log: Path,
    timeout_s: float = 240,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
) -> Iterator[None]:
    with log.open("w") as output:
        environment = {**os.environ, **(env or {})}
        process = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, env=environment)
    try:
        wait_for(ready_url, process, timeout_s, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def serve_command(target: str, port: int) -> list[str]:
    return [str(BIN / "bentoml"), "serve", target, "--host", "127.0.0.1", "--port", str(port)]


@pytest.fixture(scope="session")
def server(default_variants: dict[str, dict], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service from source, over the real default variants; yields its base URL once /readyz is 200."""
    port = free_port()
    directory = tmp_path_factory.mktemp("server")
    # its own Prometheus multiprocess directory: the servers other tests start meanwhile would empty a shared one
    env = {"BENTOML_HOME": str(isolated_bentoml_home(directory))}
    ready = f"http://127.0.0.1:{port}/readyz"
    with running(serve_command("service.app:ScenarioService", port), ready, directory / "bentoml.log", env=env):
        yield f"http://127.0.0.1:{port}"


def require_tool(name: str) -> str:
    """CI installs Prometheus (.ci/run); elsewhere a missing tool skips, it never passes silently."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; .ci/run installs the Debian package 'prometheus'")
    pytest.skip(f"{name} not installed (apt-get install prometheus)")
