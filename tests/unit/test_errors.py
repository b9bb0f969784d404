"""`service.errors`: plain exceptions that know their status and body, the one mapping from anything raised, and
`echo` for client-supplied values."""

from __future__ import annotations

import logging

import pytest
from bentoml.exceptions import BentoMLException

from service import errors
from service.errors import (
    ClientDisconnected,
    ImageBudgetExhausted,
    InternalError,
    MethodNotAllowed,
    Overloaded,
    PayloadTooLarge,
    ScenarioNotFound,
    ServiceError,
    echo,
    to_service_error,
)
from service.routing import UnknownScenario

ERROR_CLASSES = [
    value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, ServiceError)
]


def test_errors_are_not_bentoml_exceptions_and_not_in_its_client_map() -> None:
    """The mounted app answers every error itself: nothing of BentoML's handling or client map involves them."""
    assert len(ERROR_CLASSES) > 15
    assert not any(issubclass(cls, BentoMLException) for cls in ERROR_CLASSES)
    assert not any(issubclass(cls, ServiceError) for cls in BentoMLException.error_mapping.values())


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_has_a_client_or_server_status_and_a_name(cls: type[ServiceError]) -> None:
    assert 400 <= cls.http_status < 600 and cls.error_type.isidentifier()


def test_status_body_and_message() -> None:
    error = PayloadTooLarge("texts has 65 items; at most 64 per request", field="texts", limit=64)
    assert (error.status, type(error.status), str(error)) == (413, int, error.message)
    assert error.body() == {
        "error": {
            "type": "payload_too_large",
            "message": "texts has 65 items; at most 64 per request",
            "field": "texts",
            "limit": 64,
            "allowed": None,
        }
    }
    assert error.headers() == {}


def test_errors_that_carry_headers() -> None:
    assert MethodNotAllowed("no", allowed=["GET", "HEAD"]).headers() == {"Allow": "GET, HEAD"}
    assert MethodNotAllowed("no").headers() == {}
    overloaded = Overloaded("full", retry_after_s=3)
    assert (overloaded.status, overloaded.headers()) == (503, {"Retry-After": "3"})
    budget = ImageBudgetExhausted("busy", limit=100)
    assert (budget.status, budget.field, budget.limit, budget.headers()) == (503, "images", 100, {"Retry-After": "1"})
    assert ClientDisconnected("gone").status == 499


def test_to_service_error_maps_routing_errors_and_hides_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    same = PayloadTooLarge("x")
    assert to_service_error(same) is same
    unknown = to_service_error(UnknownScenario("sentiment", "x" * 100, ["realtime", "batch"]))
    assert isinstance(unknown, ScenarioNotFound) and unknown.status == 404
    assert (unknown.field, unknown.allowed) == ("scenario", ["batch", "realtime"])
    assert echo("x" * 100) in unknown.message and "x" * 41 not in unknown.message
    with caplog.at_level(logging.ERROR, logger="service.errors"):
        hidden = to_service_error(KeyError("/secret/path"))
    assert isinstance(hidden, InternalError) and hidden.status == 500
    assert "secret" not in str(hidden.body()) and "secret" in caplog.text  # logged server-side only


@pytest.mark.parametrize(
    ("value", "echoed"),
    [
        ("realtime", "realtime"),
        ("\x7f\x00\x1b", "\\x7f\\x00\\x1b"),
        ("caf\u00e9 \ud800", "caf\\xe9 \\ud800"),
        ("a" * 45, "a" * 40 + "...(+5 characters)"),
    ],
)
def test_echo_cuts_and_escapes(value: str, echoed: str) -> None:
    assert echo(value) == echoed
    assert echo(value).isascii() and echo(value).isprintable()
