"""The served path's own share of a request's latency, measured on the same requests.

The server times each request (`scenario_serve_request_duration_seconds`, from its handler's start) and each
batch on its inference thread (`scenario_serve_inference_duration_seconds`). Read before and after a run of one-item
requests sent one at a time, their means beside the client's mean split the latency: the inference thread's time,
the handler and the hand-offs to and from it, and everything before and after the handler (HTTP server, ASGI
middleware, TCP, the client). No in-process run made at another moment is needed, so drift of the machine between
two runs cannot pass for overhead.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from service.contracts.measurements import ServerShare
from service.metric_names import INFERENCE_DURATION, REQUEST_DURATION

DurationTotals = dict[str, tuple[float, float]]  # histogram name -> (sum of seconds, count), over every series


def duration_totals(exposition: str) -> DurationTotals:
    """The request and inference duration histograms' totals in a Prometheus text exposition (/metrics)."""
    totals = {name: [0.0, 0.0] for name in (REQUEST_DURATION, INFERENCE_DURATION)}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples if family.name in totals else ():
            if sample.name.endswith(("_sum", "_count")):
                totals[family.name][sample.name.endswith("_count")] += sample.value
    return {name: (total, count) for name, (total, count) in totals.items()}


def server_share(
    before: DurationTotals | None, after: DurationTotals | None, client_mean_ms: float
) -> ServerShare | None:
    """The split of the requests between two readings (None when a reading is missing or the server recorded none
    of the requests)."""
    if before is None or after is None:
        return None

    def mean_ms(name: str) -> float | None:
        total, count = (a - b for a, b in zip(after[name], before[name], strict=True))
        return total / count * 1000.0 if count > 0 else None

    request, inference = mean_ms(REQUEST_DURATION), mean_ms(INFERENCE_DURATION)
    if request is None or inference is None:
        return None
    return ServerShare(
        client_mean_ms=round(client_mean_ms, 4),
        request_mean_ms=round(request, 4),
        inference_mean_ms=round(inference, 4),
    )
