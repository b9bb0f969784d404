"""Live metrics from Prometheus: the PromQL sent, parsing of instant-vector answers, and every failure mode.

Prometheus is played by `httpx.MockTransport` (and, once, by a tiny local HTTP server) answering like its
HTTP API: `{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {...}, "value": [t, "1.5"]}]}}`
with values as strings, "NaN" included. A real Prometheus is exercised by the e2e tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from models.live import InvalidWindow, LiveQueryError, build_queries, parse_value, query_live, validate_window
from models.ports import free_port
from service.routing import Selection

URL = "http://prometheus.test:9090"
SELECTION = Selection.model_validate(
    {
        "version": 1,
        "generated_by": "test",
        "generated_at": "2026-12-02T00:00:00+00:00",
        "tasks": {
            "sentiment": {
                "kind": "text",
                "default_scenario": "realtime",
                "scenarios": {
                    "realtime": {"variant": "sentiment-a"},
                    "batch": {"variant": "sentiment-b"},
                    "idle": {"variant": "sentiment-a"},
                },
            },
            "digits": {
                "kind": "image",
                "default_scenario": "realtime",
                "scenarios": {"realtime": {"variant": "digits-x"}},
            },
        },
    }
)


def sample(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1795000000.0, value]}


def vector(*samples: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": list(samples)}}


def answer(query: str) -> dict[str, Any]:
    """What a Prometheus with some traffic would answer to each query `query_live` sends."""
    realtime, batch, digits = ("sentiment", "realtime"), ("sentiment", "batch"), ("digits", "realtime")
    quantiles = {  # seconds, as Prometheus sends them; an empty histogram gives NaN
        "0.5": {realtime: "0.0045", batch: "NaN"},
        "0.95": {realtime: "0.0081", batch: "NaN"},
        "0.99": {realtime: "0.0139", digits: "+Inf"},
    }
    for q, values in quantiles.items():
        if query.startswith(f"histogram_quantile({q},"):
            return vector(*(sample(v, task=task, scenario=scenario) for (task, scenario), v in values.items()))
    if "batch_size" in query:  # seconds of inference per item, by variant
        return vector(sample("0.0032", variant="sentiment-a"), sample("NaN", variant="digits-x"))
    if 'outcome!="success"' in query:
        return vector(sample("0.5", task="sentiment", scenario="realtime"))
    if "variant" in query:
        return vector(
            sample("2000", task="sentiment", scenario="realtime", variant="sentiment-b"),
            sample("12", task="sentiment", scenario="realtime", variant="sentiment-a"),
            sample("3", task="sentiment", scenario="none", variant="none"),
        )
    return vector(
        sample("40", task="sentiment", scenario="realtime"),
        sample("0", task="sentiment", scenario="batch"),
        sample("3.2", task="none", scenario="none"),
        sample("1.5", task="digits", scenario="realtime"),
    )


class FakePrometheus:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=answer(request.url.params["query"]))

    @property
    def queries(self) -> list[str]:
        return [r.url.params["query"] for r in self.requests]


def client_for(handler: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


# --- queries ----------------------------------------------------------------------------------------------------


def test_promql_per_window() -> None:
    queries = build_queries("10m")
    assert queries.rate == "sum by (task, scenario) (rate(scenario_serve_request_duration_seconds_count[10m]))"
    assert queries.errors == (
        'sum by (task, scenario) (rate(scenario_serve_request_duration_seconds_count{outcome!="success"}[10m]))'
    )
    assert queries.quantiles == {
        f"{name}_ms": (
            f"histogram_quantile({q}, sum by (le, task, scenario) "
            "(rate(scenario_serve_request_duration_seconds_bucket[10m])))"
        )
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }
    assert "[10m]" in queries.variants and "by (task, scenario, variant)" in queries.variants
    assert queries.runtime == (
        "sum by (variant) (rate(scenario_serve_inference_duration_seconds_sum[10m])) "
        "/ sum by (variant) (rate(scenario_serve_batch_size_sum[10m]))"
    )


def test_queries_go_to_the_query_api_at_one_instant() -> None:
    fake = FakePrometheus()
    with client_for(fake) as client:
        query_live(URL + "/", SELECTION, "5m", client=client)
    assert len(fake.requests) == 7
    assert {r.url.path for r in fake.requests} == {"/api/v1/query"}
    assert {r.url.host for r in fake.requests} == {"prometheus.test"}
    assert len({r.url.params["time"] for r in fake.requests}) == 1
    assert all("[5m]" in q for q in fake.queries)


# --- parsing ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    with client_for(FakePrometheus()) as client:
        return query_live(URL, SELECTION, "10m", client=client)


def test_header(live: dict[str, Any]) -> None:
    assert live["prometheus"] == URL and live["window"] == "10m"
    assert live["queried_at"].endswith("+00:00")
    assert set(live["scenarios"]) == {"sentiment", "digits"}
    assert set(live["scenarios"]["sentiment"]) == {"realtime", "batch", "idle"}  # only the selection's routes


def test_scenario_with_traffic(live: dict[str, Any]) -> None:
    assert live["scenarios"]["sentiment"]["realtime"] == {
        "rate_rps": 40.0,
        "p50_ms": 4.5,
        "p95_ms": 8.1,
        "p99_ms": 13.9,
        "error_ratio": 0.0125,
        "variants": ["sentiment-a", "sentiment-b"],
        "runtime_ms_per_item": 3.2,  # the pick's, whatever else served the scenario
    }


def test_nan_and_inf_become_none_and_missing_errors_mean_zero(live: dict[str, Any]) -> None:
    digits = live["scenarios"]["digits"]["realtime"]
    assert digits["rate_rps"] == 1.5 and digits["p99_ms"] is None and digits["p50_ms"] is None
    assert digits["error_ratio"] == 0.0  # traffic, and no series with outcome != success
    assert digits["runtime_ms_per_item"] is None  # 0/0 over the window


def test_no_traffic_is_none_never_a_made_up_zero(live: dict[str, Any]) -> None:
    batch = live["scenarios"]["sentiment"]["batch"]  # a zero rate: series exist, nothing in the window
    nothing = {"p50_ms": None, "p95_ms": None, "p99_ms": None, "error_ratio": None, "variants": []}
    assert batch == {"rate_rps": 0.0, **nothing, "runtime_ms_per_item": None}  # sentiment-b has no runtime series
    idle = live["scenarios"]["sentiment"]["idle"]  # never served: no series at all
    assert idle == {"rate_rps": None, **nothing, "runtime_ms_per_item": 3.2}  # its pick's, from another scenario


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1.5", 1.5), ("0", 0.0), ("NaN", None), ("+Inf", None), ("-Inf", None), ("x", None), (None, None)],
)
def test_parse_value(raw: Any, value: float | None) -> None:
    assert parse_value(raw) == value


# --- windows ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["30s", "10m", "1h", "1h30m", "500ms", "2d", "1w"])
def test_valid_windows(window: str) -> None:
    assert validate_window(window) == window


@pytest.mark.parametrize("window", ["10", "ten minutes", "-5m", "0m", "", "5 m", "10M", "1.5h", "m"])
def test_invalid_window_is_refused_before_any_query(window: str) -> None:
    fake = FakePrometheus()
    with client_for(fake) as client, pytest.raises(InvalidWindow, match="expected a positive Prometheus duration"):
        query_live(URL, SELECTION, window, client=client)
    assert fake.requests == []


# --- failures ---------------------------------------------------------------------------------------------------


def test_unreachable_prometheus_names_url_and_query() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LiveQueryError) as caught:
        query_live(url, SELECTION, timeout=2)
    message = str(caught.value)
    assert f"cannot reach Prometheus at {url}" in message
    assert "scenario_serve_request_duration_seconds_count[10m]" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_prometheus_error_names_url_query_and_reason() -> None:
    def reject(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "1:5: parse error"})

    with client_for(reject) as client, pytest.raises(LiveQueryError) as caught:
        query_live(URL, SELECTION, client=client)
    message = str(caught.value)
    assert f"Prometheus at {URL} rejected query" in message
    assert "bad_data: 1:5: parse error" in message and "rate(scenario_serve_request_duration_seconds_count" in message


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(502, text="<html>Bad gateway</html>"), "answered HTTP 502 without JSON"),
        (
            httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": []}}),
            "not a vector",
        ),
        (
            httpx.Response(
                200, json={"status": "success", "data": {"resultType": "vector", "result": [{"value": []}]}}
            ),
            "malformed vector",
        ),
        (httpx.Response(200, json=[1, 2]), "no JSON object"),
    ],
)
def test_odd_answers_are_clear_errors(response: httpx.Response, expected: str) -> None:
    with client_for(lambda request: response) as client, pytest.raises(LiveQueryError, match=expected) as caught:
        query_live(URL, SELECTION, client=client)
    assert URL in str(caught.value)


def test_timeout_is_a_clear_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with client_for(slow) as client, pytest.raises(LiveQueryError, match=f"Prometheus at {URL} did not answer in time"):
        query_live(URL, SELECTION, client=client)


# --- a tiny local HTTP server, through the default client -----------------------------------------------------------


class PrometheusHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parsed = urlparse(self.path)
        if parsed.path != "/api/v1/query":
            self.send_error(404)
            return
        body = json.dumps(answer(parse_qs(parsed.query)["query"][0])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PrometheusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_against_a_local_http_server(local_prometheus: str) -> None:
    live = query_live(local_prometheus, SELECTION, "1m", timeout=5)
    assert live["scenarios"]["sentiment"]["realtime"]["p99_ms"] == 13.9
    assert live["scenarios"]["sentiment"]["realtime"]["variants"] == ["sentiment-a", "sentiment-b"]
