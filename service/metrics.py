"""Every custom Prometheus metric of the service, defined once at module level.

Base units in names, counters end in `_total`, labels of low cardinality only: task, scenario and variant
come from the selection file (a client's unknown scenario is recorded as "none", never echoed), outcome
and error_type are fixed sets. BentoML's own `bentoml_service_*` metrics are served next to these on
/metrics. Under `bentoml serve` the worker has PROMETHEUS_MULTIPROC_DIR set before this module is imported,
so these objects write to the multiprocess store that BentoML's /metrics endpoint aggregates.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Fine between 1 and 100 ms, where the scenarios' budgets lie: histogram_quantile interpolates inside a
# bucket, so coarse buckets would make the report's live-vs-predicted comparison (15% tolerance) meaningless.
LATENCY_BUCKETS = (
    0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.010, 0.012, 0.015, 0.018, 0.022, 0.026, 0.030, 0.035,
    0.040, 0.050, 0.060, 0.075, 0.090, 0.110, 0.130, 0.160, 0.200, 0.250, 0.350, 0.500, 1.0, 2.5, 5.0, 10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
NO_LABEL = "none"

REQUEST_DURATION = Histogram(
    "scenario_serve_request_duration_seconds",
    "Classification request latency, from arrival to response, by route and outcome",
    ["task", "scenario", "variant", "outcome"],
    buckets=LATENCY_BUCKETS,
)
INFERENCE_DURATION = Histogram(
    "scenario_serve_inference_duration_seconds",
    "Time one batch spends in preprocessing and the runtime, per variant",
    ["variant"],
    buckets=LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    "scenario_serve_batch_size",
    "Items per inference batch formed by the micro-batcher, per variant",
    ["variant"],
    buckets=BATCH_BUCKETS,
)
ITEMS_CLASSIFIED = Counter(
    "scenario_serve_items_classified_total",
    "Texts or images classified",
    ["task", "variant"],
)
ERRORS = Counter(
    "scenario_serve_errors_total",
    "Requests answered with an error, by error type",
    ["error_type"],
)
ROUTING_DECISIONS = Counter(
    "scenario_serve_routing_decisions_total",
    "Requests routed, by the variant that served them and whether it was a fallback",
    ["task", "scenario", "variant", "fallback"],
)
MODEL_LOAD_DURATION = Gauge(
    "scenario_serve_model_load_duration_seconds",
    "Time to load and warm up a variant, at start-up or by a selection reload",
    ["variant"],
    multiprocess_mode="max",
)
VARIANT_INFO = Gauge(
    "scenario_serve_variant_info",
    "Variants loaded and served (value 1; 0 once a selection reload unloaded one) and what they are",
    ["variant", "task", "runtime", "precision", "gate"],
    multiprocess_mode="max",
)
SELECTION_RELOADS = Counter(
    "scenario_serve_selection_reloads_total",
    "Selection file reloads (admin endpoint or file watch): success = applied; invalid = the file failed "
    "validation; failed = valid but not applied (a variant it needs did not load, or an unexpected error)",
    ["outcome"],
)

REJECTIONS = Counter(
    "scenario_serve_rejections_total",
    "Requests refused with 503 because a variant's queue was full (reason: queue_items or queue_wait)",
    ["variant", "reason"],
)
QUEUED_ITEMS = Gauge(
    "scenario_serve_queued_items",
    "Items waiting in a variant's batcher queue (not counting the batch running)",
    ["variant"],
    multiprocess_mode="livesum",
)

ALL_METRIC_NAMES = (
    "scenario_serve_request_duration_seconds",
    "scenario_serve_inference_duration_seconds",
    "scenario_serve_batch_size",
    "scenario_serve_items_classified_total",
    "scenario_serve_errors_total",
    "scenario_serve_routing_decisions_total",
    "scenario_serve_model_load_duration_seconds",
    "scenario_serve_variant_info",
    "scenario_serve_selection_reloads_total",
    "scenario_serve_rejections_total",
    "scenario_serve_queued_items",
)
