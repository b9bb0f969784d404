"""A respawned worker waits for its variants only while a ready peer serves the shared socket (service.handover)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service import handover

REPO = Path(__file__).resolve().parents[2]


async def status_server(status: int) -> asyncio.Server:
    """A loopback HTTP server answering every request with `status` (what a peer worker's /readyz would)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


@pytest.mark.parametrize(("status", "expected"), [(200, True), (503, False)])
def test_peer_ready_reads_the_readyz_status(status: int, expected: bool) -> None:
    async def probe() -> bool:
        async with await status_server(status) as server:
            return await handover.peer_ready("127.0.0.1", port_of(server))

    assert asyncio.run(probe()) is expected


def test_peer_ready_is_false_when_no_one_accepts_in_time() -> None:
    """At the first start every worker is still in its start-up: the probe waits in the backlog, unanswered."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()  # never accepted
        started = time.monotonic()
        ready = asyncio.run(handover.peer_ready("127.0.0.1", listening.getsockname()[1], timeout_s=0.3))
    assert ready is False
    assert time.monotonic() - started < 2.0


def test_peer_ready_is_false_when_refused_or_not_http() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert asyncio.run(handover.peer_ready("127.0.0.1", port)) is False

    async def garbage() -> bool:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"SSH-2.0-nope\r\n")
            await writer.drain()
            writer.close()

        async with await asyncio.start_server(answer, "127.0.0.1", 0) as server:
            return await handover.peer_ready("127.0.0.1", port_of(server))

    assert asyncio.run(garbage()) is False


def test_waits_until_ready_while_a_ready_peer_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> tuple[bool, int]:
        async with await status_server(200) as server:
            monkeypatch.setattr(handover, "listening_address", lambda: ("127.0.0.1", port_of(server)))
            checks = 0

            def is_ready() -> bool:
                nonlocal checks
                checks += 1
                return checks >= 3

            return await handover.wait_if_peer_serves(is_ready), checks

    waited, checks = asyncio.run(scenario())
    assert waited is True
    assert checks >= 3


def test_does_not_wait_without_a_ready_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> bool:
        async with await status_server(503) as server:
            monkeypatch.setattr(handover, "listening_address", lambda: ("127.0.0.1", port_of(server)))
            return await handover.wait_if_peer_serves(lambda: False)

    assert asyncio.run(scenario()) is False
    monkeypatch.setattr(handover, "listening_address", lambda: None)
    assert asyncio.run(handover.wait_if_peer_serves(lambda: False)) is False


def test_stops_waiting_after_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> bool:
        async with await status_server(200) as server:
            monkeypatch.setattr(handover, "listening_address", lambda: ("127.0.0.1", port_of(server)))
            return await handover.wait_if_peer_serves(lambda: False, max_wait_s=0.3)

    started = time.monotonic()
    assert asyncio.run(scenario()) is True
    assert time.monotonic() - started < 5.0


def test_listening_address_is_the_shared_socket_reached_over_loopback() -> None:
    """In a process of its own, so that no other listening socket of the test run can be found first."""
    code = (
        "import socket; from service.handover import listening_address\n"
        "s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen()\n"
        "print(listening_address() == ('127.0.0.1', s.getsockname()[1]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.stdout.strip() == "True", result.stderr
