"""The minimal one-connection client `measure`'s single-stream and the probes use: prepared requests on one
keep-alive socket, answers read whole, refusals named, a closed connection reopened."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from models.lean_client import BLOCK_QUERIES, LeanConnection, single_stream, spans
from models.loadgen import json_body
from tests.loopback import answering

BODIES = [json_body({"texts": ["one"]}), json_body({"texts": ["two"]})]
PATH = "/v1/text/classify"


def test_back_to_back_queries_share_one_connection() -> None:
    with answering(200, b'{"variant": "x"}' * 1000) as port, LeanConnection(port, PATH, BODIES) as connection:
        status, body = connection.post(0)  # a body longer than one read
        first = connection._socket
        recorded = spans(connection, queries=20, warmup_queries=3)
        assert connection._socket is first
    assert status == 200 and body == b'{"variant": "x"}' * 1000
    assert len(recorded) == 20 and all(0 < answered - sent < 1 for sent, answered in recorded)


def test_an_answer_that_closes_the_connection_is_followed_by_a_new_one() -> None:
    with answering(200, b"{}", close=True) as port, LeanConnection(port, PATH, BODIES) as connection:
        assert [connection.post(index)[0] for index in range(5)] == [200] * 5
        assert connection._socket is None


def test_single_stream_stops_at_max_samples_and_summarizes() -> None:
    with answering(200, b"{}") as port, LeanConnection(port, PATH, BODIES) as connection:
        measured = single_stream(connection, min_samples=2, max_samples=7, max_seconds=60.0)
    assert measured.http["samples"] == 7 and 0 < measured.http["p50_ms"] <= measured.http["p99_ms"]
    assert measured.direct is None


def test_direct_calls_follow_each_block_of_http_queries_on_the_same_items() -> None:
    order: list[tuple[str, int]] = []

    class Recording(LeanConnection):
        def post(self, index: int) -> tuple[int, bytes]:
            order.append(("http", index))
            return super().post(index)

    def direct(index: int) -> None:
        order.append(("direct", index))

    with answering(200, b"{}") as port, Recording(port, PATH, BODIES) as connection:
        measured = single_stream(
            connection, min_samples=1, max_samples=BLOCK_QUERIES + 3, max_seconds=60.0, direct=direct
        )
    http_first = [("http", i) for i in range(BLOCK_QUERIES)] + [("direct", i) for i in range(BLOCK_QUERIES)]
    rest = [("http", i) for i in range(BLOCK_QUERIES, BLOCK_QUERIES + 3)]
    assert order == http_first + rest + [("direct", i) for i in range(BLOCK_QUERIES, BLOCK_QUERIES + 3)]
    assert measured.direct is not None and measured.direct["samples"] == measured.http["samples"] == BLOCK_QUERIES + 3


def test_a_refused_query_is_named_with_its_status_and_the_start_of_its_answer() -> None:
    answer = b'{"error": {"type": "overloaded"}}' + b" " * 1000
    with answering(503, answer) as port, LeanConnection(port, PATH, BODIES) as connection:
        with pytest.raises(
            ValueError, match=r"^single-stream query 0 was answered 503: \{.*overloaded.*\}\s*$"
        ) as caught:
            single_stream(connection, min_samples=1, max_samples=5, max_seconds=1.0)
    assert len(str(caught.value)) < 300  # the start of the answer, not all of it


@contextmanager
def raw_server(answer: bytes) -> Iterator[int]:
    """A loopback server that reads one request and writes `answer` as is, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(timeout=5)


def test_an_answer_without_content_length_is_refused_clearly() -> None:
    with raw_server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") as port:
        with (
            LeanConnection(port, PATH, BODIES) as connection,
            pytest.raises(ValueError, match="without Content-Length"),
        ):
            connection.post(0)


def test_a_server_that_hangs_up_mid_answer_raises_a_connection_error() -> None:
    with raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{") as port:
        with LeanConnection(port, PATH, BODIES) as connection, pytest.raises(ConnectionError, match="closed"):
            connection.post(0)


def test_no_bodies_is_refused() -> None:
    with pytest.raises(ValueError, match="no request bodies"):
        LeanConnection(1, PATH, [])
