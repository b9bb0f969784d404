"""A minimal HTTP/1.1 client on one keep-alive loopback socket, for latencies one request at a time.

Hand-written on purpose: each request is one prepared `sendall` and the answer is read up to its Content-Length,
so the client's own cost is a few microseconds. A client library's parsing would otherwise count as the server's
time: aiohttp added -0.2 to +0.8 ms to the back-to-back p50 in session 35 (`python loadtests/probe.py --overhead`
prints it), `http.client` 3.3-4.2 ms in an earlier session. Open-loop trials, which need many requests in flight,
use aiohttp (`models.loadgen.HttpClient`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from models.latency import latency_summary
from models.loadgen import Body

ANSWER_START_BYTES = 200  # of a refusal's body, quoted in the error
BLOCK_QUERIES = 50  # HTTP queries between two blocks of direct calls: back to back within a block


@dataclass(frozen=True)
class SingleStream:
    """`latency_summary`'s fields of the HTTP queries, and of the direct calls beside them (None: none made)."""

    http: dict[str, Any]
    direct: dict[str, Any] | None


class LeanConnection:
    """POSTs prepared bodies (cycled by index) to one path over one keep-alive socket, reopened when the server
    closes it."""

    def __init__(self, port: int, path: str, bodies: Sequence[Body], timeout_s: float = 30.0) -> None:
        if not bodies:
            raise ValueError("no request bodies")
        self.port = port
        self.timeout_s = timeout_s
        self.requests = [prepared_request(port, path, body, content_type) for body, content_type in bodies]
        self._socket: socket.socket | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def post(self, index: int) -> tuple[int, bytes]:
        """Send request `index` (cycled) and read its answer whole: (status, body)."""
        if self._socket is None:
            self._socket = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout_s)
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.sendall(self.requests[index % len(self.requests)])
        status, body, closing = read_response(self._socket)
        if closing:
            self.close()
        return status, body


def prepared_request(port: int, path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def read_response(connection: socket.socket) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response with a Content-Length, read whole: (status, body, whether the server closes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += receive(connection)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    if "content-length" not in headers:
        raise ValueError(f"an answer without Content-Length: {lines[0]}")
    length = int(headers["content-length"])
    while len(body) < length:
        body += receive(connection)
    return int(lines[0].split(" ", 2)[1]), body, headers.get("connection", "").lower() == "close"


def receive(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection")
    return chunk


def spans(
    connection: LeanConnection, queries: int, gap_s: float = 0.0, warmup_queries: int = 0
) -> list[tuple[float, float]]:
    """(sent, answered) `time.perf_counter()` of `queries` POSTs, each answered 200 (else ValueError), `gap_s` of
    idle before each, after `warmup_queries` unrecorded ones (whatever their answers)."""
    recorded = []
    for index in range(warmup_queries + queries):
        time.sleep(gap_s)
        sent = time.perf_counter()
        status, body = connection.post(index)
        if index >= warmup_queries:
            expect_ok(status, body, index - warmup_queries)
            recorded.append((sent, time.perf_counter()))
    return recorded


def single_stream(
    connection: LeanConnection,
    min_samples: int,
    max_samples: int,
    max_seconds: float,
    direct: Callable[[int], object] | None = None,
) -> SingleStream:
    """One query at a time, back to back: until max_samples, or max_seconds and min_samples; every one answered
    200 (else ValueError names the query, its status and the start of its answer). With `direct` (the variant
    called in this process on query i's item), every BLOCK_QUERIES HTTP queries are followed by as many direct
    calls on the same items: both p50s come from the same seconds, so their difference is the served path's and
    not the machine's drift between two measurements."""
    http: list[float] = []
    local: list[float] = []
    started = time.perf_counter()
    while len(http) < max_samples:
        if len(http) >= min_samples and time.perf_counter() - started >= max_seconds:
            break
        for _ in range(min(BLOCK_QUERIES, max_samples - len(http))):
            http.append(post_ok_ms(connection, len(http)))
        if direct is not None:
            local.extend(call_ms(direct, index) for index in range(len(local), len(http)))
    return SingleStream(http=latency_summary(http), direct=latency_summary(local) if local else None)


def post_ok_ms(connection: LeanConnection, index: int) -> float:
    sent = time.perf_counter()
    status, body = connection.post(index)
    elapsed_ms = (time.perf_counter() - sent) * 1000.0
    expect_ok(status, body, index)
    return elapsed_ms


def call_ms(call: Callable[[int], object], index: int) -> float:
    started = time.perf_counter()
    call(index)
    return (time.perf_counter() - started) * 1000.0


def expect_ok(status: int, body: bytes, index: int) -> None:
    if status != 200:
        answer = body[:ANSWER_START_BYTES].decode("utf-8", "replace")
        raise ValueError(f"single-stream query {index} was answered {status}: {answer}")
