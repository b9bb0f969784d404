"""A real `bentoml serve` of this service on loopback, routing one task to one variant: what `measure` drives.

The server is the service users run (same app, workers, threads, batcher and queue settings), started from the
repository with a one-route selection file so that exactly one variant is loaded. Its workers' peak resident
memory is read from /proc (VmHWM of each worker process), so "memory of a process serving the variant" is the
served process's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from models.machine import proc_kb, process_peak_rss_mb
from models.ports import free_port
from models.tied_process import popen_tied
from service.registry import ENDPOINTS

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 20.0
READY_IN_A_ROW = 3  # /readyz speaks for every worker (service.workers); a few in a row guard against a flap
MEASURE_SCENARIO = "measure"


class ServerError(RuntimeError):
    """The server did not start, did not become ready, or died; the message carries its log's tail."""


def one_route_selection(task: str, kind: str, variant: str) -> dict[str, Any]:
    """A routing file whose only route (task / "measure") is the variant, without fallbacks."""
    return {
        "version": 1,
        "generated_by": "scenario-serve measure",
        "generated_at": "measurement",
        "tasks": {
            task: {
                "kind": kind,
                "default_scenario": MEASURE_SCENARIO,
                "scenarios": {MEASURE_SCENARIO: {"variant": variant}},
            }
        },
    }


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def maps_mention(pid: int, library: str) -> bool:
    """Whether a process has a shared library mapped (e.g. libtorch: it imported torch)."""
    try:
        return library in Path(f"/proc/{pid}/maps").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False


def isolated_bentoml_home(directory: Path) -> Path:
    """A BentoML home in `directory` that shares the current store's models and bentos (symlinks) but has its own
    Prometheus multiprocess directory: every `bentoml serve` empties `$BENTOML_HOME/prometheus_multiproc_dir` when
    it starts, which would wipe the metrics of a server already running on the same home (`make run` while
    `measure` or a load test starts servers of its own)."""
    shared = Path(os.environ.get("BENTOML_HOME") or Path.home() / "bentoml").expanduser().resolve()
    home = directory / "bentoml-home"
    home.mkdir(parents=True, exist_ok=True)
    for name in ("models", "bentos"):
        (shared / name).mkdir(parents=True, exist_ok=True)
        (home / name).symlink_to(shared / name, target_is_directory=True)
    return home


class BentoServer:
    """`with BentoServer(target, env) as server:` a `bentoml serve <target>` on loopback, ready (/readyz 200)."""

    def __init__(self, target: str, env: dict[str, str] | None = None, name: str | None = None) -> None:
        self.target = target
        self.name = name or target
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="scenario-serve-server-")
        self.workdir = Path(self._dir.name)
        self._log = self.workdir / "server.log"
        home = isolated_bentoml_home(self.workdir)
        self._env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "BENTOML_HOME": str(home), **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        command = [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            self.target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self._log.open("wb") as log:
            self._process = popen_tied(
                command, cwd=REPO_ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
        self._dir.cleanup()

    def _wait_ready(self) -> None:
        """Until /readyz answers 200 READY_IN_A_ROW times on fresh connections. Each worker process loads its own
        variants; /readyz is 200 only when no worker takes connections while still loading (service.workers): the
        kernel's share of connections between workers is uneven, and probes alone may never reach a loading one."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        in_a_row = 0
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ServerError(
                    f"the server of {self.name} exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            in_a_row = in_a_row + 1 if self._ready_once() else 0
            if in_a_row >= READY_IN_A_ROW:
                return
            time.sleep(0.05 if in_a_row else 0.3)
        raise ServerError(f"the server of {self.name} was not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def _ready_once(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self._log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def supervisor_pid(self) -> int:
        """The `bentoml serve` process itself (BentoML's supervisor of the workers)."""
        assert self._process is not None
        return self._process.pid

    def worker_pids(self) -> list[int]:
        """The processes under `bentoml serve` that hold a loaded model (the API workers)."""
        return [pid for pid in descendants(self.supervisor_pid()) if (proc_kb(pid, "VmHWM") or 0) > 0]

    def worker_peak_rss_mb(self) -> float:
        """The largest peak resident memory of any worker process, in MB."""
        return max((process_peak_rss_mb(pid) for pid in self.worker_pids()), default=0.0)

    def workers_map(self, library: str) -> bool:
        """Whether any worker has `library` mapped (`libtorch`: it imported torch)."""
        return any(maps_mention(pid, library) for pid in self.worker_pids())

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class ServedVariant(BentoServer):
    """This service, with a one-route selection file so that exactly `variant` is loaded; `url` is its endpoint."""

    def __init__(self, task: str, kind: str, variant: str, env: dict[str, str] | None = None) -> None:
        super().__init__("service.app:ScenarioService", env, name=variant)
        self.url = self.base_url + ENDPOINTS[kind]
        selection = self.workdir / "selection.json"
        selection.write_text(json.dumps(one_route_selection(task, kind, variant)), encoding="utf-8")
        self._env["SCENARIO_SERVE_SELECTION_PATH"] = str(selection)
        self._env.pop("SCENARIO_SERVE_VARIANTS", None)
