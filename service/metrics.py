"""Every custom Prometheus metric of the service, defined once at module level (their names, which readers of the
metrics share without registering anything, live in `service.metric_names`).

Base units in names, counters end in `_total`, labels of low cardinality only: task, scenario and variant
come from the selection file (a client's unknown scenario is recorded as "none", never echoed), outcome
and error_type are fixed sets. BentoML's own `bentoml_service_*` metrics are served next to these on
/metrics. Under `bentoml serve` the worker has PROMETHEUS_MULTIPROC_DIR set before this module is imported,
so these objects write to the multiprocess store that BentoML's /metrics endpoint aggregates.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from service import metric_names as names
from service.metric_names import ALL_METRIC_NAMES, NO_LABEL  # noqa: F401 (their home is metric_names)

M = TypeVar("M", bound=MetricWrapperBase)


@cache
def labelled(metric: M, **labels: str) -> M:
    """`metric.labels(**labels)`, remembered: prometheus_client sorts, checks and locks on every `labels` call,
    which the request path would otherwise pay several times per request (label sets are few, see above)."""
    return metric.labels(**labels)


# Fine between 1 and 100 ms, where the scenarios' budgets lie: histogram_quantile interpolates inside a
# bucket, so coarse buckets would make the report's live-vs-predicted comparison (15% tolerance) meaningless.
LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.003,
    0.004,
    0.005,
    0.006,
    0.008,
    0.010,
    0.012,
    0.015,
    0.018,
    0.022,
    0.026,
    0.030,
    0.035,
    0.040,
    0.050,
    0.060,
    0.075,
    0.090,
    0.110,
    0.130,
    0.160,
    0.200,
    0.250,
    0.350,
    0.500,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

REQUEST_DURATION = Histogram(
    names.REQUEST_DURATION,
    "Classification request latency, from arrival to response, by route and outcome",
    ["task", "scenario", "variant", "outcome"],
    buckets=LATENCY_BUCKETS,
)
INFERENCE_DURATION = Histogram(
    names.INFERENCE_DURATION,
    "Time one batch spends in preprocessing and the runtime on its inference thread (no queueing, no hand-off to "
    "or from the event loop), per variant",
    ["variant"],
    buckets=LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    names.BATCH_SIZE,
    "Items per inference batch formed by the micro-batcher, per variant",
    ["variant"],
    buckets=BATCH_BUCKETS,
)
ITEMS_CLASSIFIED = Counter(
    names.ITEMS_CLASSIFIED,
    "Texts or images classified",
    ["task", "variant"],
)
ERRORS = Counter(
    names.ERRORS,
    "Requests answered with an error, by error type",
    ["error_type"],
)
ROUTING_DECISIONS = Counter(
    names.ROUTING_DECISIONS,
    "Requests routed, by the variant that served them and whether it was a fallback",
    ["task", "scenario", "variant", "fallback"],
)
MODEL_LOAD_DURATION = Gauge(
    names.MODEL_LOAD_DURATION,
    "Time to load and warm up a variant, at start-up or by a selection reload",
    ["variant"],
    multiprocess_mode="max",
)
MODEL_LOAD_ATTEMPTS = Counter(
    names.MODEL_LOAD_ATTEMPTS,
    "Attempts to load a variant (at start-up, by a selection reload, or a background retry after a failure), by "
    "outcome: success, failed (retried with back-off) or rejected (accuracy gate; never retried)",
    ["variant", "outcome"],
)
VARIANT_INFO = Gauge(
    names.VARIANT_INFO,
    "Variants loaded and served (value 1; 0 once a selection reload unloaded one) and what they are",
    ["variant", "task", "runtime", "precision", "gate"],
    multiprocess_mode="max",
)
SELECTION_RELOADS = Counter(
    names.SELECTION_RELOADS,
    "Selection file reloads (admin endpoint or file watch): success = applied; invalid = the file failed "
    "validation; failed = valid but not applied (a variant it needs did not load, or an unexpected error)",
    ["outcome"],
)

REJECTIONS = Counter(
    names.REJECTIONS,
    "Requests refused with 503 because a variant's queue was full (reason: queue_items, queue_wait, or shedding = "
    "over the tighter bound while the variant sheds)",
    ["variant", "reason"],
)
SHEDDING = Gauge(
    names.SHEDDING,
    "1 while a variant sheds (admits only requests within the tighter shedding bound: service.shedding), else 0",
    ["variant"],
    multiprocess_mode="livemax",
)
QUEUED_ITEMS = Gauge(
    names.QUEUED_ITEMS,
    "Items waiting in a variant's batcher queue (not counting the batch running)",
    ["variant"],
    multiprocess_mode="livesum",
)

DROPPED_ITEMS = Counter(
    names.DROPPED_ITEMS,
    "Queued items dropped before inference because nobody waits for them any more (reason: deadline = the "
    "request's deadline passed; disconnected = the client went away)",
    ["variant", "reason"],
)
INFERENCE_FAILURES = Counter(
    names.INFERENCE_FAILURES,
    "Requests whose inference raised on a variant (the route's next fallback then serves, when one is loaded)",
    ["variant"],
)
FALLBACKS = Counter(
    names.FALLBACKS,
    "Requests served by a fallback, by the reason the variant before it in the chain did not serve "
    "(not_loaded, inference_failed, circuit_open)",
    ["task", "scenario", "reason"],
)
CIRCUIT_STATE = Gauge(
    names.CIRCUIT_STATE,
    "A variant's circuit breaker in this worker: 0 closed, 1 open (skipped by the router), 2 half-open (probing)",
    ["variant"],
    multiprocess_mode="max",
)
GC_PAUSE = Histogram(
    names.GC_PAUSE,
    "Garbage-collection pauses of a worker process, by generation (2: full); the event loop and every request in "
    "flight on the worker wait that long",
    ["generation"],
    buckets=(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
)
