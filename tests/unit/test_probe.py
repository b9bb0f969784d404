"""loadtests/probe.py: the minimal client's latencies, and the server's totals read from /metrics."""

from __future__ import annotations

import pytest

from loadtests.probe import aiohttp_ms, lean_client_ms, metrics_totals, share_line
from models.loadgen import json_body
from tests.loopback import answering

BODIES = [json_body({"texts": ["one"]}), json_body({"texts": ["two"]})]


def test_back_to_back_queries_on_one_connection() -> None:
    with answering(200, b'{"variant": "x"}' * 100) as port:  # a body longer than one small read would be
        latencies = lean_client_ms(port, "/v1/text/classify", BODIES, queries=20, warmup_queries=3)
    assert len(latencies) == 20
    assert all(0 < ms < 1000 for ms in latencies)


def test_a_refused_query_stops_the_probe_with_its_status() -> None:
    with answering(503, b'{"error": {}}') as port, pytest.raises(ValueError, match="answered 503"):
        lean_client_ms(port, "/v1/text/classify", BODIES, queries=5)


EXPOSITION = b"""# TYPE scenario_serve_request_duration_seconds histogram
scenario_serve_request_duration_seconds_count{outcome="ok",scenario="a",task="t",variant="v"} 4.0
scenario_serve_request_duration_seconds_sum{outcome="ok",scenario="a",task="t",variant="v"} 0.02
# TYPE scenario_serve_inference_duration_seconds histogram
scenario_serve_inference_duration_seconds_count{variant="v"} 4.0
scenario_serve_inference_duration_seconds_sum{variant="v"} 0.016
"""


def test_the_servers_totals_are_read_from_its_metrics_endpoint() -> None:
    with answering(200, EXPOSITION) as port:
        totals = metrics_totals(f"http://127.0.0.1:{port}")
    assert totals == {
        "scenario_serve_request_duration_seconds": pytest.approx((0.02, 4.0)),
        "scenario_serve_inference_duration_seconds": pytest.approx((0.016, 4.0)),
        "scenario_serve_batch_size": (0.0, 0.0),  # none in this exposition
    }


def test_share_line_splits_the_client_mean_by_the_servers_own_means() -> None:
    before = {
        "scenario_serve_request_duration_seconds": (1.0, 10.0),
        "scenario_serve_inference_duration_seconds": (0.5, 10.0),
    }
    after = {
        "scenario_serve_request_duration_seconds": (1.05, 20.0),
        "scenario_serve_inference_duration_seconds": (0.54, 20.0),
    }
    line = share_line(before, after, client_mean_ms=6.0)  # request 5.00 ms, inference thread 4.00 ms
    assert "server request 5.00, inference thread 4.00 ms: the server's share +2.00 ms" in line
    assert "with TCP: 1.00; handler and hand-offs: 1.00" in line
    assert share_line(before, before, client_mean_ms=6.0) == "the server recorded none of these queries"


def test_the_client_library_latencies_come_from_aiohttp_back_to_back() -> None:
    with answering(200, b"{}") as port:
        latencies = aiohttp_ms(f"http://127.0.0.1:{port}/v1/text/classify", BODIES, queries=5)
    assert len(latencies) == 5 and all(0 < ms < 1000 for ms in latencies)
    with answering(503, b"{}") as port, pytest.raises(ValueError, match="answered 503"):
        aiohttp_ms(f"http://127.0.0.1:{port}/v1/text/classify", BODIES, queries=5)
