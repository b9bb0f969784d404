"""loadtests/probe.py's minimal client: one prepared request per query on a keep-alive socket, answers read whole."""

from __future__ import annotations

import pytest

from loadtests.probe import lean_client_p50_ms
from models.loadgen import json_body
from tests.loopback import answering

BODIES = [json_body({"texts": ["one"]}), json_body({"texts": ["two"]})]


def test_back_to_back_queries_on_one_connection() -> None:
    with answering(200, b'{"variant": "x"}' * 100) as port:  # a body longer than one small read would be
        p50 = lean_client_p50_ms(port, "/v1/text/classify", BODIES, queries=20)
    assert 0 < p50 < 1000


def test_a_refused_query_stops_the_probe_with_its_status() -> None:
    with answering(503, b'{"error": {}}') as port, pytest.raises(RuntimeError, match="answered 503"):
        lean_client_p50_ms(port, "/v1/text/classify", BODIES, queries=5)
