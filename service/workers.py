"""The worker processes of one server tell each other how far they have got, so that the server answers as one.

BentoML's workers share one listening socket (its arbiter, circus, passes the descriptor to each), and the kernel
gives each new connection to whichever worker accepts it first: an uneven, unpredictable share (in one start every
/readyz probe reached the ready worker while its peer was still loading, and a client's keep-alive connection to
that peer was then answered 503 `variant_unavailable` on every request). Each worker therefore records its state
in a directory shared by the workers of one server (named after their parent, the arbiter):
`<pid>.accepting` once it takes connections, `<pid>.ready` once its variants are ready.

- Handover: a worker that starts while a live peer is ready (circus respawned it) takes no connection before its
  own variants are ready. Uvicorn starts accepting only once the ASGI lifespan start-up, and with it BentoML's
  `on_startup` hooks, has finished; so a start-up hook that waits keeps the new worker off the socket: new
  connections wait in the shared backlog and the ready peer accepts them.
- Readiness: /readyz answers 200 only when this worker is ready and no live peer takes connections while still
  loading. At the first start no peer is ready, so every worker accepts at once (/livez and /v1/models answer
  while the variants load) and the server turns ready when the last of them is.

Without a writable state directory a worker acts alone (no handover; /readyz speaks for itself), with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)

MAX_WAIT_S = 300.0  # a respawned worker whose variants never get ready starts accepting anyway
POLL_S = 0.1
ACCEPTING = "accepting"
READY = "ready"


def state_root() -> Path:
    """Where the servers of this user keep their workers' states (one subdirectory per server)."""
    return Path(tempfile.gettempdir()) / f"scenario-serve-workers-{os.getuid()}"


class WorkerBoard:
    """This worker's entry, and its live peers' (processes with the same parent), in one server's state directory."""

    def __init__(self, directory: Path | None = None, pid: int | None = None, parent: int | None = None) -> None:
        self.pid = pid or os.getpid()
        self.parent = parent or os.getppid()
        self.directory = directory or state_root() / str(self.parent)
        self.usable = self._prepare()

    def _prepare(self) -> bool:
        try:
            prune_dead_servers(self.directory.parent)
            self.directory.mkdir(parents=True, exist_ok=True)
            for state in (ACCEPTING, READY):  # a pid reused from an earlier server's worker starts afresh
                (self.directory / f"{self.pid}.{state}").unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("worker states unavailable (%s): this worker acts alone (no handover)", exc)
            return False
        return True

    def mark(self, state: str) -> None:
        if not self.usable:
            return
        try:
            (self.directory / f"{self.pid}.{state}").touch()
        except OSError as exc:
            logger.warning("could not record worker state %s: %s", state, exc)

    def peers(self, state: str) -> set[int]:
        """Live peers (same parent, not this process) that recorded `state`."""
        if not self.usable:
            return set()
        try:
            names = [path.name for path in self.directory.glob(f"*.{state}")]
        except OSError:
            return set()
        pids = {int(name.split(".", 1)[0]) for name in names if name.split(".", 1)[0].isdigit()}
        return {pid for pid in pids if pid != self.pid and self._is_sibling(pid)}

    def _is_sibling(self, pid: int) -> bool:
        try:
            return psutil.Process(pid).ppid() == self.parent
        except psutil.Error:  # gone (a killed worker leaves its files behind)
            return False

    def a_peer_is_ready(self) -> bool:
        return bool(self.peers(READY))

    def peers_loading(self) -> set[int]:
        """Live peers that take connections but are not ready: they answer 503 on their share of connections."""
        return self.peers(ACCEPTING) - self.peers(READY)

    def leave(self) -> None:
        """Remove this worker's entries (at shutdown); the directory too once it is empty."""
        if not self.usable:
            return
        for state in (ACCEPTING, READY):
            (self.directory / f"{self.pid}.{state}").unlink(missing_ok=True)
        try:
            self.directory.rmdir()
        except OSError:
            pass  # peers still there


def prune_dead_servers(root: Path) -> None:
    """Remove the state directories of servers whose parent process is gone (a server killed outright leaves its
    workers' entries behind; a few empty files each)."""
    if not root.is_dir():
        return
    for directory in root.iterdir():
        if directory.name.isdigit() and not psutil.pid_exists(int(directory.name)):
            shutil.rmtree(directory, ignore_errors=True)


async def start_accepting(board: WorkerBoard, is_ready: Callable[[], bool], max_wait_s: float = MAX_WAIT_S) -> bool:
    """The start-up hook's last step: when a live peer is ready, return only once `is_ready()` (or after
    max_wait_s), so that this worker takes no connection while loading; then record that it accepts.
    True when it waited."""
    waited = board.a_peer_is_ready()
    if waited:
        logger.info("a ready peer serves; worker %d accepts connections once its variants are ready", board.pid)
        started = time.monotonic()
        await until(is_ready, max_wait_s)
        logger.info("accepting connections after %.1f s (ready: %s)", time.monotonic() - started, is_ready())
    board.mark(ACCEPTING)
    return waited


async def record_when_ready(board: WorkerBoard, is_ready: Callable[[], bool]) -> None:
    """Record READY once `is_ready()` (a background task: the engine has no ready callback)."""
    await until(is_ready, None)
    board.mark(READY)


async def until(condition: Callable[[], bool], max_wait_s: float | None) -> None:
    started = time.monotonic()
    while not condition() and (max_wait_s is None or time.monotonic() - started < max_wait_s):
        await asyncio.sleep(POLL_S)
