"""The name of every custom Prometheus metric of the service, and the label value that stands for "none": plain
strings in a module that registers nothing. `service.metrics` defines the collectors with these names; whatever
only reads the metrics (`models.live` querying Prometheus, `models.served_measure` reading /metrics, tests) takes
the names from here, since importing `service.metrics` registers its collectors in the importing process.
"""

from __future__ import annotations

REQUEST_DURATION = "scenario_serve_request_duration_seconds"
INFERENCE_DURATION = "scenario_serve_inference_duration_seconds"
BATCH_SIZE = "scenario_serve_batch_size"
ITEMS_CLASSIFIED = "scenario_serve_items_classified_total"
ERRORS = "scenario_serve_errors_total"
ROUTING_DECISIONS = "scenario_serve_routing_decisions_total"
MODEL_LOAD_DURATION = "scenario_serve_model_load_duration_seconds"
MODEL_LOAD_ATTEMPTS = "scenario_serve_model_load_attempts_total"
VARIANT_INFO = "scenario_serve_variant_info"
SELECTION_RELOADS = "scenario_serve_selection_reloads_total"
REJECTIONS = "scenario_serve_rejections_total"
QUEUED_ITEMS = "scenario_serve_queued_items"
SHEDDING = "scenario_serve_shedding"
DROPPED_ITEMS = "scenario_serve_dropped_items_total"
INFERENCE_FAILURES = "scenario_serve_inference_failures_total"
FALLBACKS = "scenario_serve_fallbacks_total"
CIRCUIT_STATE = "scenario_serve_circuit_state"
GC_PAUSE = "scenario_serve_gc_pause_seconds"

NO_LABEL = "none"  # the label value of a request that reached no task, scenario or variant

ALL_METRIC_NAMES = (
    REQUEST_DURATION,
    INFERENCE_DURATION,
    BATCH_SIZE,
    ITEMS_CLASSIFIED,
    ERRORS,
    ROUTING_DECISIONS,
    MODEL_LOAD_DURATION,
    MODEL_LOAD_ATTEMPTS,
    VARIANT_INFO,
    SELECTION_RELOADS,
    REJECTIONS,
    QUEUED_ITEMS,
    SHEDDING,
    DROPPED_ITEMS,
    INFERENCE_FAILURES,
    FALLBACKS,
    CIRCUIT_STATE,
    GC_PAUSE,
)
