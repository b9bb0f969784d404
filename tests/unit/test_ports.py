"""`models.ports.free_port`: a port below the kernel's ephemeral range that binds, else the kernel's choice."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from models.ports import LOWEST_PORT, ephemeral_low, free_port


def range_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ip_local_port_range"
    path.write_text(text)
    return path


def test_port_lies_below_the_ephemeral_range_and_binds(tmp_path: Path) -> None:
    ports = {free_port(range_file=range_file(tmp_path, "32768\t60999\n")) for _ in range(20)}
    assert all(LOWEST_PORT <= port < 32768 for port in ports)
    assert len(ports) > 1  # drawn at random, not one fixed port two servers would fight over
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))


def test_a_taken_port_is_skipped(tmp_path: Path) -> None:
    ranges = range_file(tmp_path, "32768 60999")
    taken = free_port(range_file=ranges, rng=random.Random(7))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        assert free_port(range_file=ranges, rng=random.Random(7)) != taken


def test_too_few_ports_below_the_range_fall_back_to_the_kernel(tmp_path: Path) -> None:
    port = free_port(range_file=range_file(tmp_path, "1024 65535"))
    assert 1024 <= port <= 65535


def test_unreadable_range_means_linux_default(tmp_path: Path) -> None:
    assert ephemeral_low(tmp_path / "missing") == 32768
    assert ephemeral_low(range_file(tmp_path, "garbage")) == 32768
    assert ephemeral_low(range_file(tmp_path, "40000 60999")) == 40000
