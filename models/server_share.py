"""The served path's own share of a request's latency, measured on the same requests.

The server times each request (`scenario_serve_request_duration_seconds`, from its handler's start) and each
batch on its inference thread (`scenario_serve_inference_duration_seconds`). Read before and after a run of one-item
requests sent one at a time, their means beside the client's mean split the latency: the inference thread's time,
the handler and the hand-offs to and from it, and everything before and after the handler (HTTP server, ASGI
middleware, TCP, the client). No in-process run made at another moment is needed, so drift of the machine between
two runs cannot pass for overhead.

The same readings around a Poisson trial give the runtime's own speed at that load (`ms_per_item`): the inference
thread's seconds over the items its batches held (`scenario_serve_batch_size`). `select` carries it beside the p99 it
predicts, and the live checks compare it with the live service's: when a live p99 misses the prediction and this
moved as much, the machine ran slower or faster, not the served path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from service.contracts.measurements import ServerShare
from service.metric_names import BATCH_SIZE, INFERENCE_DURATION, REQUEST_DURATION

DurationTotals = dict[str, tuple[float, float]]  # histogram name -> (sum, count), over every series


@dataclass(frozen=True)
class RuntimeUse:
    """What the inference threads did between two readings: seconds of inference, and the items it classified."""

    seconds: float
    items: float


def duration_totals(exposition: str) -> DurationTotals:
    """The request and inference duration and batch size histograms' totals in a Prometheus text exposition."""
    totals = {name: [0.0, 0.0] for name in (REQUEST_DURATION, INFERENCE_DURATION, BATCH_SIZE)}
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


def runtime_use(before: DurationTotals | None, after: DurationTotals | None) -> RuntimeUse | None:
    """The inference seconds and items between two readings (None when a reading is missing)."""
    if before is None or after is None:
        return None
    return RuntimeUse(
        seconds=after[INFERENCE_DURATION][0] - before[INFERENCE_DURATION][0],
        items=after[BATCH_SIZE][0] - before[BATCH_SIZE][0],
    )


def ms_per_item(uses: Sequence[RuntimeUse | None]) -> float | None:
    """The inference thread's milliseconds per item over several runs; None unless every run was read and some
    item was classified."""
    if not uses or any(use is None for use in uses):
        return None
    items = sum(use.items for use in uses if use is not None)
    seconds = sum(use.seconds for use in uses if use is not None)
    return round(seconds / items * 1000.0, 4) if items > 0 else None
