"""Serving one request along its route's chain: the routed variant first, the next fallbacks when it fails.

A variant whose inference raises is skipped for this request (the next loaded variant of the chain serves it,
and the response says why: `fallback_reason`), and feeds its circuit breaker; a variant whose circuit is open is
skipped without being tried. Refusals that say nothing about a variant's health (overload, an expired deadline,
a bad `top_k`, a cancelled request) are not failures: they end the request as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from service import metrics
from service.breaker import CircuitBreaker
from service.classifier import Inference
from service.errors import InferenceFailed, ServiceError, VariantUnavailable
from service.routing import Route

if TYPE_CHECKING:
    from service.registry import LoadedVariant

logger = logging.getLogger(__name__)

FallbackReason = Literal["not_loaded", "inference_failed", "circuit_open"]


@dataclass(frozen=True)
class Served:
    """A request's answer and where it came from."""

    variant: str
    loaded: LoadedVariant
    inference: Inference
    fallback_reason: FallbackReason | None  # None when the scenario's selected variant served


@dataclass
class Breakers:
    """One circuit breaker per variant name (kept across selection reloads), made on first use."""

    failure_threshold: int
    cooldown_s: float
    _by_variant: dict[str, CircuitBreaker] = field(default_factory=dict)

    def __getitem__(self, variant: str) -> CircuitBreaker:
        if variant not in self._by_variant:
            self._by_variant[variant] = CircuitBreaker(variant, self.failure_threshold, self.cooldown_s)
        return self._by_variant[variant]


Attempt = Callable[["LoadedVariant", str], Any]


async def serve_along_chain(
    route: Route, loaded_of: Callable[[str], LoadedVariant | None], breakers: Breakers, attempt: Attempt
) -> Served:
    """Run `attempt(loaded, variant)` (awaitable -> Inference) on the route's variant, then on each later variant
    of its chain while inference fails or circuits are open."""
    chain = (route.selected, *route.fallbacks)
    reason: FallbackReason | None = "not_loaded" if route.fallback else None
    problems: list[str] = []
    for variant in chain[chain.index(route.variant) :]:
        loaded = loaded_of(variant)
        if loaded is None:  # unloaded by a selection reload since routing
            reason = reason or "not_loaded"
            continue
        breaker = breakers[variant]
        if not breaker.allows():
            reason = reason or "circuit_open"
            problems.append(f"{variant}: circuit open after repeated inference failures")
            continue
        try:
            inference = await attempt(loaded, variant)
        except ServiceError:
            breaker.abandoned()
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the runtime: try the next variant
            breaker.failed()
            metrics.INFERENCE_FAILURES.labels(variant=variant).inc()
            logger.error("inference failed on %s (%s/%s)", variant, route.task, route.scenario, exc_info=exc)
            reason = reason or "inference_failed"
            problems.append(f"{variant}: inference failed")
            continue
        except BaseException:  # cancelled (client gone, deadline): no verdict on the variant
            breaker.abandoned()
            raise
        breaker.succeeded()
        return Served(variant, loaded, inference, reason if variant != route.selected else None)
    message = f"no variant could serve task {route.task!r}, scenario {route.scenario!r}: " + "; ".join(problems)
    if any(problem.endswith("inference failed") for problem in problems):
        raise InferenceFailed(message + " (see the server log)")
    raise VariantUnavailable(message)
