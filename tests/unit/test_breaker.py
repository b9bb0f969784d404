"""The circuit breaker's states on a fake clock."""

from __future__ import annotations

from service.breaker import CircuitBreaker, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3, cooldown_s: float = 10.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("v", failure_threshold=threshold, cooldown_s=cooldown_s, clock=clock), clock


def test_it_opens_after_the_threshold_of_failures_in_a_row_only() -> None:
    circuit, _ = breaker(threshold=3)
    circuit.failed()
    circuit.failed()
    circuit.succeeded()  # a success resets the count
    circuit.failed()
    circuit.failed()
    assert circuit.state is CircuitState.CLOSED and circuit.allows()
    circuit.failed()
    assert circuit.state is CircuitState.OPEN
    assert not circuit.allows()


def test_after_the_cool_down_exactly_one_probe_is_allowed() -> None:
    circuit, clock = breaker(threshold=1, cooldown_s=10)
    circuit.failed()
    clock.now = 9.9
    assert not circuit.allows()
    clock.now = 10.0
    assert circuit.allows()  # the probe
    assert circuit.state is CircuitState.HALF_OPEN
    assert not circuit.allows()  # others wait for its verdict
    circuit.succeeded()
    assert circuit.state is CircuitState.CLOSED and circuit.allows()


def test_a_failed_probe_opens_it_for_another_cool_down() -> None:
    circuit, clock = breaker(threshold=5, cooldown_s=10)
    for _ in range(5):
        circuit.failed()
    clock.now = 10
    assert circuit.allows()
    circuit.failed()  # one failure of the probe is enough
    assert circuit.state is CircuitState.OPEN
    clock.now = 19.9
    assert not circuit.allows()
    clock.now = 20
    assert circuit.allows()


def test_a_probe_without_a_verdict_lets_the_next_request_probe() -> None:
    circuit, clock = breaker(threshold=1, cooldown_s=1)
    circuit.failed()
    clock.now = 1
    assert circuit.allows()
    circuit.abandoned()  # e.g. the probe was refused for overload
    assert circuit.allows()
