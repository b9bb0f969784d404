"""Live feedback: what the running service actually does per (task, scenario), read from Prometheus.

Queries the Prometheus HTTP API (`/api/v1/query`) for the request histogram the service exports
(`scenario_serve_request_duration_seconds`, labels task, scenario, variant, outcome; `service/metric_names.py`
names it without registering anything, as importing `service/metrics.py` would): request rate, p50/p95/p99
latency and the error ratio over a window, and the pick's inference-thread milliseconds per item
(`scenario_serve_inference_duration_seconds` over `scenario_serve_batch_size`: the runtime's own speed, which
`select` recorded beside its latencies). The result feeds the report's live columns, beside the selection's
predictions. A scenario without traffic in the window has `rate_rps` None (or 0)
and no quantiles; Prometheus' NaN becomes None, never a made-up 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from service.contracts import LiveObservations
from service.contracts.report import ObservedScenario
from service.metric_names import BATCH_SIZE, INFERENCE_DURATION, NO_LABEL, REQUEST_DURATION
from service.routing import Selection

METRIC = REQUEST_DURATION
QUANTILES = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99}
UNROUTED = NO_LABEL  # the label value of requests that never reached a variant
WINDOW = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")

Vector = list[tuple[dict[str, str], float | None]]


class LiveQueryError(RuntimeError):
    """Prometheus could not be reached or answered with an error; the message names the URL and the query."""


class InvalidWindow(ValueError):
    """The window is not a Prometheus duration."""


def validate_window(window: str) -> str:
    """A positive Prometheus duration such as 30s, 10m, 1h or 1h30m; raises InvalidWindow otherwise."""
    text = window.strip() if isinstance(window, str) else ""
    if not WINDOW.match(text) or not any(int(amount) for amount in re.findall(r"[0-9]+", text)):
        raise InvalidWindow(
            f"invalid window {window!r}: expected a positive Prometheus duration such as 30s, 10m, 1h or 1h30m "
            "(units ms, s, m, h, d, w, y)"
        )
    return text


@dataclass(frozen=True)
class Queries:
    """The PromQL of one live query round, for one window."""

    rate: str
    errors: str
    variants: str
    quantiles: dict[str, str]
    runtime: str  # seconds of inference per item, by variant


def build_queries(window: str) -> Queries:
    w = validate_window(window)
    count = f"{METRIC}_count"
    return Queries(
        rate=f"sum by (task, scenario) (rate({count}[{w}]))",
        errors=f'sum by (task, scenario) (rate({count}{{outcome!="success"}}[{w}]))',
        variants=f"sum by (task, scenario, variant) (increase({count}[{w}])) > 0",
        quantiles={
            key: f"histogram_quantile({q}, sum by (le, task, scenario) (rate({METRIC}_bucket[{w}])))"
            for key, q in QUANTILES.items()
        },
        runtime=(
            f"sum by (variant) (rate({INFERENCE_DURATION}_sum[{w}])) / sum by (variant) (rate({BATCH_SIZE}_sum[{w}]))"
        ),
    )


# --- the HTTP API -----------------------------------------------------------------------------------------


def parse_value(raw: Any) -> float | None:
    """A sample value as Prometheus sends it (a string); NaN and ±Inf become None."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_vector(body: Any, url: str, query: str) -> Vector:
    """The (labels, value) pairs of an instant-vector answer; anything else raises LiveQueryError."""
    if not isinstance(body, dict):
        raise LiveQueryError(f"Prometheus at {url} answered with no JSON object for query {query!r}")
    if body.get("status") != "success":
        reason = f"{body.get('errorType', 'error')}: {body.get('error', 'no error message')}"
        raise LiveQueryError(f"Prometheus at {url} rejected query {query!r}: {reason}")
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise LiveQueryError(f"Prometheus at {url} returned {data.get('resultType')!r}, not a vector, for {query!r}")
    try:
        return [(dict(item["metric"]), parse_value(item["value"][1])) for item in data.get("result", [])]
    except (KeyError, IndexError, TypeError) as exc:
        raise LiveQueryError(f"Prometheus at {url} returned a malformed vector for query {query!r}: {exc}") from None


def instant_query(client: httpx.Client, url: str, query: str, at: float) -> Vector:
    """Run one instant query at time `at` (Unix seconds); every failure names the URL and the query."""
    endpoint = f"{url.rstrip('/')}/api/v1/query"
    try:
        response = client.get(endpoint, params={"query": query, "time": f"{at:.3f}"})
    except httpx.TimeoutException:
        raise LiveQueryError(f"Prometheus at {url} did not answer in time for query {query!r}") from None
    except httpx.HTTPError as exc:
        raise LiveQueryError(f"cannot reach Prometheus at {url} ({exc}) for query {query!r}") from None
    try:
        body = response.json()
    except ValueError:
        raise LiveQueryError(
            f"Prometheus at {url} answered HTTP {response.status_code} without JSON for query {query!r}"
        ) from None
    return parse_vector(body, url, query)


# --- assembling the answer --------------------------------------------------------------------------------


def by_route(vector: Vector) -> dict[tuple[str, str], float | None]:
    return {(labels.get("task", ""), labels.get("scenario", "")): value for labels, value in vector}


def by_variant(vector: Vector) -> dict[str, float | None]:
    return {labels["variant"]: value for labels, value in vector if "variant" in labels}


def variants_by_route(vector: Vector) -> dict[tuple[str, str], list[str]]:
    seen: dict[tuple[str, str], list[str]] = {}
    for labels, _ in sorted(vector, key=lambda item: item[0].get("variant", "")):
        variant = labels.get("variant")
        if variant and variant != UNROUTED:
            seen.setdefault((labels.get("task", ""), labels.get("scenario", "")), []).append(variant)
    return seen


def seconds_to_ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000.0, 3)


def error_ratio(rate: float | None, errors: float | None) -> float | None:
    """Errors per request; None without traffic; 0 when requests flowed and no error series exists."""
    if rate is None or rate <= 0:
        return None
    return round((errors or 0.0) / rate, 6)


def scenario_entry(key: tuple[str, str], pick: str, results: Mapping[str, Mapping[Any, Any]]) -> ObservedScenario:
    rate = results["rate"].get(key)
    return ObservedScenario(
        rate_rps=None if rate is None else round(rate, 6),
        **{name: seconds_to_ms(results[name].get(key)) for name in QUANTILES},
        error_ratio=error_ratio(rate, results["errors"].get(key)),
        variants=list(results["variants"].get(key, [])),
        runtime_ms_per_item=seconds_to_ms(results["runtime"].get(pick)),
    )


def selection_routes(selection: Selection) -> list[tuple[str, str, str]]:
    """(task, scenario, the pick) of every route."""
    return [
        (task, scenario, route.variant)
        for task, task_selection in selection.tasks.items()
        for scenario, route in task_selection.scenarios.items()
    ]


def query_live(
    prometheus_url: str,
    selection: Selection,
    window: str = "10m",
    timeout: float = 10,
    *,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Observed rate, p50/p95/p99 latency (ms), error ratio and serving variants per (task, scenario) of the
    selection, over the last `window`. `client` replaces the HTTP client (tests pass one with a mock transport).

    Raises InvalidWindow for a malformed window and LiveQueryError when Prometheus is unreachable or errs.
    """
    checked = validate_window(window)
    queries = build_queries(checked)
    now = datetime.now(UTC).replace(microsecond=0)
    at = now.timestamp()
    own_client = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        results: dict[str, Any] = {
            "rate": by_route(instant_query(http, prometheus_url, queries.rate, at)),
            "errors": by_route(instant_query(http, prometheus_url, queries.errors, at)),
            "variants": variants_by_route(instant_query(http, prometheus_url, queries.variants, at)),
            **{k: by_route(instant_query(http, prometheus_url, q, at)) for k, q in queries.quantiles.items()},
            "runtime": by_variant(instant_query(http, prometheus_url, queries.runtime, at)),
        }
    finally:
        if own_client:
            http.close()
    scenarios: dict[str, dict[str, ObservedScenario]] = {}
    for task, scenario, pick in selection_routes(selection):
        scenarios.setdefault(task, {})[scenario] = scenario_entry((task, scenario), pick, results)
    observations = LiveObservations(
        prometheus=prometheus_url, window=checked, queried_at=now.isoformat(), scenarios=scenarios
    )
    return observations.model_dump(mode="json")  # the document `report` reads
