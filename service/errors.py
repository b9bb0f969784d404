"""Errors that know their HTTP status, and the one place that turns any exception into a client-safe body.

Body shape, for every error the API returns:
    {"error": {"type": "...", "message": "...", "field": "texts[3]" | null, "limit": 2000 | null,
               "allowed": ["accuracy", ...] | null}}
Clients never see exception internals: unexpected exceptions become a generic 500 body (logged server-side).
A value the client sent is repeated in a message or a field only through `echo`: cut and escaped.

These are plain exceptions, not BentoML's: the API is a mounted Starlette app whose handlers and middleware turn
them into responses (`service.app.error_response`), so BentoML's exception handling never sees them (and
subclassing its exceptions would only register their statuses in BentoML's client-side error map).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, ClassVar

from service.routing import NoVariantAvailable, SelectionError, UnknownScenario, UnknownTask

logger = logging.getLogger(__name__)

ECHO_CHARS = 40
"""Characters of a client-supplied value that an error message repeats (more are cut)."""


def echo(value: str, limit: int = ECHO_CHARS) -> str:
    """A client-supplied value made safe to repeat in an error: at most `limit` characters, every non-printable
    or non-ASCII character escaped (`\\x7f`, `\\ud800`), and how much was cut. A 2 MB value costs 2 MB to
    send and at most a few hundred bytes to answer; a lone surrogate cannot break the response's encoding."""
    head = ascii(value[:limit])[1:-1]
    cut = len(value) - limit
    return f"{head}...(+{cut} characters)" if cut > 0 else head


class ServiceError(Exception):
    """Base of every error the API reports; `http_status` is the response's status, `error_type` a stable name."""

    http_status: ClassVar[int] = HTTPStatus.INTERNAL_SERVER_ERROR
    error_type: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        limit: int | float | str | None = None,
        allowed: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.limit = limit
        self.allowed = allowed

    @property
    def status(self) -> int:
        return int(self.http_status)

    def headers(self) -> dict[str, str]:
        """HTTP headers this error's response must carry (e.g. Allow on a 405)."""
        return {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "type": self.error_type,
                "message": self.message,
                "field": self.field,
                "limit": self.limit,
                "allowed": self.allowed,
            }
        }


class InvalidRequest(ServiceError):
    """Malformed JSON, wrong types, empty lists, bad top_k, invalid base64, unknown fields."""

    http_status = HTTPStatus.BAD_REQUEST
    error_type = "invalid_request"


class ScenarioNotFound(ServiceError):
    http_status = HTTPStatus.NOT_FOUND
    error_type = "unknown_scenario"


class RouteNotFound(ServiceError):
    http_status = HTTPStatus.NOT_FOUND
    error_type = "not_found"


class MethodNotAllowed(ServiceError):
    """The path exists, the method does not; `allowed` lists the methods, also sent as the Allow header."""

    http_status = HTTPStatus.METHOD_NOT_ALLOWED
    error_type = "method_not_allowed"

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)} if self.allowed else {}


class PayloadTooLarge(ServiceError):
    """Too many items, a text too long, an image too large in bytes or pixels, a body too large."""

    http_status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    error_type = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    http_status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    error_type = "unsupported_media_type"


class HeadersTooLarge(ServiceError):
    """The request's headers together, or one header (e.g. X-Scenario), are longer than the limit."""

    http_status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    error_type = "headers_too_large"


class UndecodableInput(ServiceError):
    """Well-formed request whose content cannot be decoded (e.g. bytes that are not a JPEG/PNG image)."""

    http_status = HTTPStatus.UNPROCESSABLE_ENTITY
    error_type = "undecodable_input"


class VariantUnavailable(ServiceError):
    """No variant of the route (selected or fallback) is loaded: still warming up, or failed to load."""

    http_status = HTTPStatus.SERVICE_UNAVAILABLE
    error_type = "variant_unavailable"


class Overloaded(ServiceError):
    """A variant's queue is full (by items or by expected wait): shed now rather than answer late."""

    http_status = HTTPStatus.SERVICE_UNAVAILABLE
    error_type = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class ImageBudgetExhausted(Overloaded):
    """Decoding this request's images would take the worker's in-flight decoded pixels (across concurrent
    requests) past SCENARIO_SERVE_MAX_INFLIGHT_PIXELS: retry shortly, when other requests have finished."""

    def __init__(self, message: str, *, limit: int, retry_after_s: int = 1) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.field = "images"
        self.limit = limit


class RequestTimeout(ServiceError):
    """The request did not complete within SCENARIO_SERVE_REQUEST_TIMEOUT_S (answered before BentoML's own
    traffic timeout, so that the client gets this error object and the metrics count it)."""

    http_status = HTTPStatus.GATEWAY_TIMEOUT
    error_type = "timeout"


class ClientDisconnected(ServiceError):
    """The client closed the connection while its request waited; nobody reads this answer (nginx's 499), it is
    counted in the metrics."""

    http_status = 499
    error_type = "client_disconnected"


class Unauthorized(ServiceError):
    """An admin endpoint was called without `Authorization: Bearer <token>`."""

    http_status = HTTPStatus.UNAUTHORIZED
    error_type = "unauthorized"


class Forbidden(ServiceError):
    """An admin endpoint was called with a token that is not SCENARIO_SERVE_ADMIN_TOKEN."""

    http_status = HTTPStatus.FORBIDDEN
    error_type = "forbidden"


class InvalidSelection(ServiceError):
    """A reload found the selection file missing, not JSON, or off-schema; `field` names the first bad key."""

    http_status = HTTPStatus.UNPROCESSABLE_ENTITY
    error_type = "invalid_selection"


class SelectionNotServable(ServiceError):
    """A valid selection file was not applied: with it the service would not be ready (a variant it needs
    failed to load, or a route would have no loaded variant). The previous table stays in force."""

    http_status = HTTPStatus.CONFLICT
    error_type = "selection_not_servable"


class InferenceFailed(ServiceError):
    """Inference raised on every variant of the route that was tried (details in the server log only)."""

    http_status = HTTPStatus.INTERNAL_SERVER_ERROR
    error_type = "inference_failed"


class InternalError(ServiceError):
    http_status = HTTPStatus.INTERNAL_SERVER_ERROR
    error_type = "internal_error"


def to_service_error(exc: BaseException) -> ServiceError:
    """The one mapping from anything raised while handling a request to what the client is told."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, UnknownScenario):
        return ScenarioNotFound(
            f"unknown scenario '{echo(exc.scenario)}' for task '{exc.task}'; valid scenarios: {', '.join(exc.valid)}",
            field="scenario",
            allowed=list(exc.valid),
        )
    if isinstance(exc, UnknownTask):
        return RouteNotFound(f"no task of the selection file serves {exc.name!r} inputs", allowed=list(exc.valid))
    if isinstance(exc, NoVariantAvailable):
        return VariantUnavailable(str(exc))
    if isinstance(exc, SelectionError):
        return InvalidSelection(str(exc), field=exc.key)
    logger.error("unexpected error while handling a request", exc_info=exc)
    return InternalError("internal error; see the server log")
