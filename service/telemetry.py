"""BentoML's OpenTelemetry middleware skips the classify endpoints while no trace can ever be exported.

BentoML wraps every request in OpenTelemetry spans (a server span, and one per ASGI receive and send), and its
sampler records them even at `tracing.sample_rate` 0, BentoML's default, where none is ever exported. BentoML's
request-timeout middleware then keeps each request's context, its span included, alive for the traffic timeout
(60 s): the spans, their attributes and locks were most of what each request left alive, which at 100 req/s
kept tens of thousands of objects in the oldest generation and made the worker's full garbage collections
longer and more frequent (`scenario_serve_gc_pause_seconds`; README, Results). So at sample rate 0 the
classify paths join `tracing.excluded_urls`; with a sample rate above 0 (tracing turned on in BentoML's
configuration) nothing changes and every request is traced.
"""

from __future__ import annotations

from typing import Any

from service.paths import CLASSIFY_PATHS


def skip_unexported_spans(container: Any = None) -> bool:
    """Add the classify paths to BentoML's `tracing.excluded_urls` when `tracing.sample_rate` is 0 or unset.
    `container`: BentoML's configuration container (the process' own by default). True when it did."""
    if container is None:
        from bentoml._internal.configuration.containers import BentoMLContainer

        container = BentoMLContainer
    tracing = container.config.tracing
    if tracing.sample_rate.get():
        return False
    configured = tracing.excluded_urls.get()
    if isinstance(configured, str):
        excluded = [url.strip() for url in configured.split(",") if url.strip()]
    else:
        excluded = list(configured or [])
    tracing.excluded_urls.set([*excluded, *(path for path in CLASSIFY_PATHS if path not in excluded)])
    # The exclude list is built from the setting once, on first use: rebuild it now. Built now, it also outlives
    # the configuration reload BentoML runs when it turns the service into an ASGI app (`inject_config`).
    container.tracing_excluded_urls.reset()
    container.tracing_excluded_urls.get()
    return True
