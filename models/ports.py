"""A free loopback TCP port for a server this process is about to start (`bentoml serve`, Prometheus).

`bind(("127.0.0.1", 0))` hands out a port from the kernel's ephemeral range, and between closing that probe socket
and the server binding the port seconds later, any outgoing connection on the machine (or another `bind(0)`) may
be given the same port: the server then fails with "Address already in use". Ports below the ephemeral range are
never handed out implicitly, only to whoever asks for one by number, so a port picked there stays free.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32768  # Linux's default (macOS and Windows start higher, at 49152)
LOWEST_PORT = 10000  # below this lie well-known services' registered ports
MIN_CANDIDATES = 1000  # fewer ports than this below the ephemeral range: fall back to the kernel's choice
ATTEMPTS = 64


def ephemeral_low(range_file: Path = EPHEMERAL_RANGE_FILE) -> int:
    """The first port of the kernel's ephemeral range (Linux's file, else Linux's default)."""
    try:
        return int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def binds(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def kernel_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port(
    host: str = "127.0.0.1", range_file: Path = EPHEMERAL_RANGE_FILE, rng: random.Random | None = None
) -> int:
    """A port on `host` that binds now, drawn at random below the ephemeral range (see the module's docstring);
    the kernel's choice when that range leaves too few ports below it or none of `ATTEMPTS` draws binds."""
    low = ephemeral_low(range_file)
    if low - LOWEST_PORT < MIN_CANDIDATES:
        return kernel_port(host)
    draw = rng or random.SystemRandom()
    for _ in range(ATTEMPTS):
        port = draw.randrange(LOWEST_PORT, low)
        if binds(host, port):
            return port
    return kernel_port(host)
