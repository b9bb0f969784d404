"""Workers of one server share their states (service.workers): a respawned worker waits while a peer is ready,
and a worker is ready only while no live peer takes connections before it is ready itself."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.workers import ACCEPTING, READY, WorkerBoard, record_when_ready, start_accepting


@pytest.fixture
def peer() -> Iterator[subprocess.Popen[bytes]]:
    """A live child of this test process: a sibling of the boards below, whose parent is this process."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def board(directory: Path, pid: int) -> WorkerBoard:
    """A board whose workers are this test process' children."""
    return WorkerBoard(directory, pid=pid, parent=os.getpid())


def own_pid(peer: subprocess.Popen[bytes]) -> int:
    return peer.pid + 1_000_000  # never a live sibling: the board's own entry


def test_a_worker_alone_accepts_at_once_and_records_it(tmp_path: Path) -> None:
    alone = board(tmp_path, 4242)
    assert asyncio.run(start_accepting(alone, lambda: False)) is False
    assert (tmp_path / f"4242.{ACCEPTING}").exists()
    assert alone.peers_loading() == set()


def test_waits_for_its_own_variants_while_a_peer_is_ready(tmp_path: Path, peer: subprocess.Popen[bytes]) -> None:
    board(tmp_path, peer.pid).mark(READY)
    checks = 0

    def is_ready() -> bool:
        nonlocal checks
        checks += 1
        return checks >= 3

    respawned = board(tmp_path, own_pid(peer))
    assert asyncio.run(start_accepting(respawned, is_ready)) is True
    assert checks >= 3
    assert (tmp_path / f"{respawned.pid}.{ACCEPTING}").exists()


def test_stops_waiting_after_the_bound(tmp_path: Path, peer: subprocess.Popen[bytes]) -> None:
    board(tmp_path, peer.pid).mark(READY)
    started = time.monotonic()
    assert asyncio.run(start_accepting(board(tmp_path, own_pid(peer)), lambda: False, max_wait_s=0.3)) is True
    assert time.monotonic() - started < 5.0


def test_a_peer_accepting_while_loading_keeps_the_server_unready(tmp_path: Path, peer: subprocess.Popen[bytes]) -> None:
    mine, theirs = board(tmp_path, own_pid(peer)), board(tmp_path, peer.pid)
    theirs.mark(ACCEPTING)
    assert mine.peers_loading() == {peer.pid}
    asyncio.run(record_when_ready(theirs, lambda: True))
    assert mine.peers_loading() == set()
    assert mine.a_peer_is_ready()


def test_entries_of_dead_or_foreign_processes_are_ignored(tmp_path: Path, peer: subprocess.Popen[bytes]) -> None:
    mine = board(tmp_path, own_pid(peer))
    board(tmp_path, peer.pid).mark(ACCEPTING)
    foreign = board(tmp_path, os.getppid())  # live, but not a child of this process
    foreign.mark(ACCEPTING)
    foreign.mark(READY)
    assert mine.peers_loading() == {peer.pid}
    assert not mine.a_peer_is_ready()  # the only READY entry is not a sibling's
    peer.kill()
    peer.wait()
    assert mine.peers_loading() == set()  # a killed worker leaves its entries behind


def test_a_reused_pid_starts_afresh_and_leaving_removes_the_entries(tmp_path: Path) -> None:
    first = board(tmp_path, 4242)
    first.mark(ACCEPTING)
    first.mark(READY)
    again = board(tmp_path, 4242)
    assert list(tmp_path.iterdir()) == []
    again.mark(ACCEPTING)
    again.leave()
    assert not tmp_path.exists()


def test_without_a_writable_directory_a_worker_acts_alone(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    alone = board(blocker / "states", 4242)
    assert alone.usable is False
    alone.mark(ACCEPTING)
    assert asyncio.run(start_accepting(alone, lambda: False)) is False
    assert alone.peers_loading() == set()
    alone.leave()


def test_the_states_of_servers_whose_parent_is_gone_are_pruned(tmp_path: Path, peer: subprocess.Popen[bytes]) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for parent in (dead.pid, peer.pid):
        WorkerBoard(tmp_path / str(parent), pid=4242, parent=parent).mark(READY)
    WorkerBoard(tmp_path / str(os.getpid()), pid=4243, parent=os.getpid())
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([str(peer.pid), str(os.getpid())])
