"""A circuit breaker per loaded variant: stop sending requests to a variant whose inference keeps failing.

closed     requests flow; `failure_threshold` failures in a row open the circuit
open       the router skips the variant (the route's next fallback serves) until `cooldown_s` has passed
half_open  after the cool-down, exactly one request (the probe) may use the variant: its success closes the
           circuit, its failure opens it again for another cool-down

Failures are counted per request (a failing batch fails each of its requests). Only inference failures count:
a refusal for overload, an expired deadline or a client that went away says nothing about the variant's health.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from service import metrics


class CircuitState(enum.IntEnum):
    """Values of the `scenario_serve_circuit_state` gauge."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


@dataclass
class CircuitBreaker:
    variant: str
    failure_threshold: int = 5
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: CircuitState = CircuitState.CLOSED
    failures_in_a_row: int = 0
    opened_at: float = 0.0
    _probing: bool = field(default=False, repr=False)

    def allows(self) -> bool:
        """May a request use this variant now? After the cool-down, the first caller becomes the probe."""
        if self.state is CircuitState.CLOSED:
            return True
        if self.state is CircuitState.OPEN and self.clock() - self.opened_at >= self.cooldown_s:
            self._set(CircuitState.HALF_OPEN)
        if self.state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        self.failures_in_a_row = 0
        self._probing = False
        if self.state is not CircuitState.CLOSED:
            self._set(CircuitState.CLOSED)

    def failed(self) -> None:
        self.failures_in_a_row += 1
        self._probing = False
        if self.state is CircuitState.HALF_OPEN or self.failures_in_a_row >= self.failure_threshold:
            self.opened_at = self.clock()
            self._set(CircuitState.OPEN)

    def abandoned(self) -> None:
        """The probe ended without a verdict (overload, deadline, client gone): let the next request probe."""
        self._probing = False

    def _set(self, state: CircuitState) -> None:
        self.state = state
        metrics.CIRCUIT_STATE.labels(variant=self.variant).set(int(state))
