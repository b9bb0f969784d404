"""A respawned worker takes no connection until its variants are ready, while a ready peer serves them all.

BentoML's workers share one listening socket (its arbiter, circus, passes the descriptor to each), and the kernel
gives each new connection to whichever worker accepts it first. When a worker dies, circus starts another, which
used to accept at once while it loaded its variants (10-30 s on the reference machine) and answered every request
on those connections 503 `variant_unavailable`, although its peer was ready (`loadtests/kill_worker.py` showed it).
Uvicorn starts accepting only once the ASGI lifespan start-up, and with it BentoML's `on_startup` hooks, has
finished; so a start-up hook that waits keeps the new worker off the socket: new connections wait in the shared
backlog and the ready peer accepts them.

The wait applies only when a peer answers /readyz 200 on the shared socket. At the first start every worker is
loading and none answers: each starts accepting after the probe's PEER_PROBE_TIMEOUT_S, so /livez answers while
the variants load (Kubernetes' liveness probe), and a single worker behaves as before (nothing to hand over to).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

PEER_PROBE_TIMEOUT_S = 1.0  # also what the first start costs: no worker accepts the probe then
MAX_WAIT_S = 300.0  # a worker whose variants never get ready starts accepting anyway, as at the first start
POLL_S = 0.1
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def listening_address() -> tuple[str, int] | None:
    """(host to connect to, port) of this process' listening TCP socket (the one the arbiter shared), or None.
    Read from the process' own descriptors (Linux /proc); elsewhere None, and a respawned worker does not wait."""
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return None
    for fd in descriptors:
        address = _listening_tcp(fd)
        if address is not None:
            return address
    return None


def _listening_tcp(fd: int) -> tuple[str, int] | None:
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        with socket.socket(fileno=os.dup(fd)) as sock:  # a duplicate: closing it leaves the shared socket open
            if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
                return None
            if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                return None
            host, port = sock.getsockname()[:2]
    except OSError:
        return None
    return WILDCARDS.get(host, host), int(port)


async def peer_ready(host: str, port: int, timeout_s: float = PEER_PROBE_TIMEOUT_S) -> bool:
    """Whether whoever accepts a fresh connection to (host, port) answers GET /readyz with 200 within timeout_s."""
    try:
        return await asyncio.wait_for(_readyz_status(host, port), timeout_s) == 200
    except (OSError, TimeoutError, ValueError):
        return False


async def _readyz_status(host: str, port: int) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii"))
        await writer.drain()
        status_line = await reader.readline()
        version, status, *_ = status_line.split(b" ", 2)
        if not version.startswith(b"HTTP/"):
            raise ValueError(f"not an HTTP status line: {status_line[:40]!r}")
        return int(status)
    finally:
        writer.close()


async def wait_if_peer_serves(is_ready: Callable[[], bool], max_wait_s: float = MAX_WAIT_S) -> bool:
    """When a ready peer already serves this process' listening socket, return only once `is_ready()` (or after
    max_wait_s); otherwise at once. True when it waited."""
    address = listening_address()
    if address is None or not await peer_ready(*address):
        return False
    logger.info("a ready worker serves %s:%d; this one accepts connections once its variants are ready", *address)
    started = time.monotonic()
    while not is_ready() and time.monotonic() - started < max_wait_s:
        await asyncio.sleep(POLL_S)
    logger.info("accepting connections after %.1f s (ready: %s)", time.monotonic() - started, is_ready())
    return True
