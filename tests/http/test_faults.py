"""Faults and work nobody waits for: fallback on inference failure, the circuit breaker, deadlines, disconnects."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any

from tests.http.conftest import ALL_VARIANTS, TEXT_FAST, TEXT_SMALL
from tests.http.fakes import FakeStore
from tests.http.rawhttp import exchange, json_request

TEXT = "/v1/text/classify"


def metric_value(client: Any, sample: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def failures(client: Any, variant: str) -> float:
    return metric_value(client, f'scenario_serve_inference_failures_total{{variant="{variant}"}}')


# --- fallback on inference failure ------------------------------------------------------------------------------


def test_a_failing_variant_is_served_by_the_routes_next_fallback_and_says_why(serve) -> None:
    store = FakeStore(ALL_VARIANTS)
    fallbacks = 'scenario_serve_fallbacks_total{reason="inference_failed",scenario="realtime",task="sentiment"}'
    with serve(store=store) as client:
        failed_before, fallbacks_before = failures(client, TEXT_FAST), metric_value(client, fallbacks)
        store.loaded[TEXT_FAST].broken = True
        response = client.post(TEXT, json={"texts": ["love it"], "scenario": "realtime"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["variant"], body["fallback"], body["fallback_reason"]) == (TEXT_SMALL, True, "inference_failed")
        assert body["predictions"][0]["label"] == "positive"
        assert response.headers["X-Variant"] == TEXT_SMALL
        assert failures(client, TEXT_FAST) == failed_before + 1
        assert metric_value(client, fallbacks) == fallbacks_before + 1


def test_a_route_without_a_working_fallback_answers_inference_failed_without_internals(serve) -> None:
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store) as client:
        store.loaded[TEXT_FAST].broken = True
        response = client.post(TEXT, json={"texts": ["love it"], "scenario": "batch"})  # no fallbacks
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["type"] == "inference_failed"
        assert TEXT_FAST in error["message"] and "injected" not in response.text
        assert client.get("/readyz").status_code == 200  # a runtime fault is not a readiness problem


# --- circuit breaker --------------------------------------------------------------------------------------------


def test_repeated_failures_open_the_circuit_and_a_probe_closes_it_after_the_cool_down(serve) -> None:
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, breaker_failures=2, breaker_cooldown_s=0.5) as client:
        failed_before = failures(client, TEXT_FAST)
        broken = store.loaded[TEXT_FAST]
        broken.broken = True
        for _ in range(2):
            assert client.post(TEXT, json={"texts": ["a"]}).json()["fallback_reason"] == "inference_failed"
        assert metric_value(client, f'scenario_serve_circuit_state{{variant="{TEXT_FAST}"}}') == 1

        tried = len(broken.batch_sizes)
        opened = client.post(TEXT, json={"texts": ["a"]}).json()
        assert (opened["variant"], opened["fallback_reason"]) == (TEXT_SMALL, "circuit_open")
        assert len(broken.batch_sizes) == tried  # skipped without being tried
        assert failures(client, TEXT_FAST) == failed_before + 2

        broken.broken = False  # repaired; after the cool-down one probe request uses it again
        time.sleep(0.6)
        probe = client.post(TEXT, json={"texts": ["love it"]}).json()
        assert (probe["variant"], probe["fallback"], probe["fallback_reason"]) == (TEXT_FAST, False, None)
        assert metric_value(client, f'scenario_serve_circuit_state{{variant="{TEXT_FAST}"}}') == 0


def test_a_failed_probe_opens_the_circuit_again(serve) -> None:
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, breaker_failures=1, breaker_cooldown_s=0.3) as client:
        failed_before = failures(client, TEXT_FAST)
        store.loaded[TEXT_FAST].broken = True
        assert client.post(TEXT, json={"texts": ["a"]}).json()["fallback_reason"] == "inference_failed"
        time.sleep(0.4)
        assert client.post(TEXT, json={"texts": ["a"]}).json()["fallback_reason"] == "inference_failed"  # the probe
        assert client.post(TEXT, json={"texts": ["a"]}).json()["fallback_reason"] == "circuit_open"
        assert failures(client, TEXT_FAST) == failed_before + 2


def test_only_an_open_circuit_on_a_route_without_fallback_is_a_503(serve) -> None:
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, breaker_failures=1, breaker_cooldown_s=60) as client:
        store.loaded[TEXT_FAST].broken = True
        assert client.post(TEXT, json={"texts": ["a"], "scenario": "batch"}).status_code == 500
        response = client.post(TEXT, json={"texts": ["a"], "scenario": "batch"})
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "variant_unavailable"
        assert "circuit open" in response.json()["error"]["message"]


# --- deadlines and disconnects: no work for nobody ------------------------------------------------------------


def test_the_client_deadline_header_is_validated(serve) -> None:
    with serve() as client:
        for value in ["0", "-5", "1.5", "soon", "１０".encode(), "9" * 12]:
            response = client.post(TEXT, json={"texts": ["a"]}, headers={"X-Request-Timeout-Ms": value})
            assert response.status_code == 400, value
            error = response.json()["error"]
            assert error["field"] == "X-Request-Timeout-Ms"
            assert error["limit"] == 55000
        ok = client.post(TEXT, json={"texts": ["a"]}, headers={"X-Request-Timeout-Ms": "999999999"})
        assert ok.status_code == 200  # more than the server's timeout: the server's applies


def hold_first_request(store: FakeStore, client: Any) -> tuple[threading.Event, concurrent.futures.Future[Any]]:
    """Keep TEXT_FAST's runtime busy with one held request; returns the event that releases it and its future."""
    hold = threading.Event()
    fake = store.loaded[TEXT_FAST]
    fake.hold = hold
    batches_before = len(fake.batch_sizes)  # the warm-up batches
    pool = concurrent.futures.ThreadPoolExecutor(1)
    held = pool.submit(client.post, TEXT, json={"texts": ["hold"]})
    while len(fake.batch_sizes) == batches_before:
        time.sleep(0.005)
    pool.shutdown(wait=False)
    return hold, held


def test_queued_items_whose_deadline_passed_are_dropped_before_inference(serve) -> None:
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, concurrent_batches=1) as client:  # one thread: the next request queues
        fake = store.loaded[TEXT_FAST]
        dropped = f'scenario_serve_dropped_items_total{{reason="deadline",variant="{TEXT_FAST}"}}'
        dropped_before = metric_value(client, dropped)
        hold, held = hold_first_request(store, client)
        late = client.post(TEXT, json={"texts": ["love it"] * 3}, headers={"X-Request-Timeout-Ms": "200"})
        assert late.status_code == 504
        assert late.json()["error"]["type"] == "timeout"
        hold.set()
        assert held.result(10).status_code == 200
        assert client.post(TEXT, json={"texts": ["next"]}).status_code == 200
        assert fake.batch_sizes[-2:] == [1, 1]  # the held one, then "next": the 3 expired items never ran
        assert metric_value(client, dropped) == dropped_before + 3


def test_queued_items_of_a_client_that_disconnected_are_dropped_before_inference(serve, service_asgi) -> None:
    store = FakeStore(ALL_VARIANTS)
    with serve(store=store, concurrent_batches=1) as client:  # one thread: the next request queues
        fake = store.loaded[TEXT_FAST]
        dropped = f'scenario_serve_dropped_items_total{{reason="disconnected",variant="{TEXT_FAST}"}}'
        disconnects = 'scenario_serve_errors_total{error_type="client_disconnected"}'
        dropped_before, disconnects_before = metric_value(client, dropped), metric_value(client, disconnects)
        hold, held = hold_first_request(store, client)
        leave = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            gone = pool.submit(exchange, client, service_asgi, json_request(TEXT, {"texts": ["bye"] * 2}), leave)
            time.sleep(0.2)  # queued behind the held request
            leave.set()
            assert gone.result(10).status == 499
        hold.set()
        assert held.result(10).status_code == 200
        assert client.post(TEXT, json={"texts": ["next"]}).status_code == 200
        assert fake.batch_sizes[-2:] == [1, 1]  # the held one, then "next": the 2 items of "bye" never ran
        assert metric_value(client, dropped) == dropped_before + 2
        assert metric_value(client, disconnects) == disconnects_before + 1


def test_a_request_whose_deadline_is_nearer_than_its_expected_wait_is_refused_at_once(serve) -> None:
    store = FakeStore(ALL_VARIANTS)
    rejections = f'scenario_serve_rejections_total{{reason="deadline",variant="{TEXT_FAST}"}}'
    with serve(store=store, max_queue_wait_ms=60_000) as client:  # only the deadline can refuse it
        rejections_before = metric_value(client, rejections)
        for _ in range(3):  # the batcher learns the cost per item: ~0.15 s with this slow fake
            store.loaded[TEXT_FAST].hold = threading.Event()
            timer = threading.Timer(0.15, store.loaded[TEXT_FAST].hold.set)
            timer.start()
            assert client.post(TEXT, json={"texts": ["hold"]}).status_code == 200
        hold, held = hold_first_request(store, client)
        started = time.perf_counter()
        refused = client.post(TEXT, json={"texts": ["a"]}, headers={"X-Request-Timeout-Ms": "50"})
        assert refused.status_code == 504
        assert "deadline" in refused.json()["error"]["message"]
        assert time.perf_counter() - started < 0.05 + 1.0  # refused, not waited out (generous for loaded CI)
        hold.set()
        assert held.result(10).status_code == 200
        assert metric_value(client, rejections) == rejections_before + 1
