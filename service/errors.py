"""Errors that know their HTTP status, and the one place that turns any exception into a client-safe body.

Body shape, for every error the API returns:
    {"error": {"type": "...", "message": "...", "field": "texts[3]" | null, "limit": 2000 | null,
               "allowed": ["accuracy", ...] | null}}
Clients never see exception internals: unexpected exceptions become a generic 500 body (logged server-side).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from bentoml.exceptions import (
    BadInput,
    BentoMLException,
    NotFound,
    UnprocessableEntity,
)
from bentoml.exceptions import ServiceUnavailable as BentoServiceUnavailable

from service.routing import NoVariantAvailable, SelectionError, UnknownScenario, UnknownTask

logger = logging.getLogger(__name__)


class ServiceError(BentoMLException):
    """Base of every error the API reports; `error_code` is the HTTP status, `error_type` a stable name."""

    error_code = HTTPStatus.INTERNAL_SERVER_ERROR
    error_type = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        limit: int | float | str | None = None,
        allowed: list[str] | None = None,
    ) -> None:
        super().__init__(message, error_code=type(self).error_code)
        self.field = field
        self.limit = limit
        self.allowed = allowed

    @property
    def status(self) -> int:
        return int(self.error_code)

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


class InvalidRequest(ServiceError, BadInput):
    """Malformed JSON, wrong types, empty lists, bad top_k, invalid base64, unknown fields."""

    error_code = HTTPStatus.BAD_REQUEST
    error_type = "invalid_request"


class ScenarioNotFound(ServiceError, NotFound):
    error_code = HTTPStatus.NOT_FOUND
    error_type = "unknown_scenario"


class RouteNotFound(ServiceError, NotFound):
    error_code = HTTPStatus.NOT_FOUND
    error_type = "not_found"


class MethodNotAllowed(ServiceError):
    error_code = HTTPStatus.METHOD_NOT_ALLOWED
    error_type = "method_not_allowed"


class PayloadTooLarge(ServiceError):
    """Too many items, a text too long, an image too large in bytes or pixels, a body too large."""

    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    error_type = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    error_code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    error_type = "unsupported_media_type"


class UndecodableInput(ServiceError, UnprocessableEntity):
    """Well-formed request whose content cannot be decoded (e.g. bytes that are not a JPEG/PNG image)."""

    error_code = HTTPStatus.UNPROCESSABLE_ENTITY
    error_type = "undecodable_input"


class VariantUnavailable(ServiceError, BentoServiceUnavailable):
    """No variant of the route (selected or fallback) is loaded: still warming up, or failed to load."""

    error_code = HTTPStatus.SERVICE_UNAVAILABLE
    error_type = "variant_unavailable"


class Unauthorized(ServiceError):
    """An admin endpoint was called without `Authorization: Bearer <token>`."""

    error_code = HTTPStatus.UNAUTHORIZED
    error_type = "unauthorized"


class Forbidden(ServiceError):
    """An admin endpoint was called with a token that is not SCENARIO_SERVE_ADMIN_TOKEN."""

    error_code = HTTPStatus.FORBIDDEN
    error_type = "forbidden"


class InvalidSelection(ServiceError, UnprocessableEntity):
    """A reload found the selection file missing, not JSON, or off-schema; `field` names the first bad key."""

    error_code = HTTPStatus.UNPROCESSABLE_ENTITY
    error_type = "invalid_selection"


class SelectionNotServable(ServiceError):
    """A valid selection file was not applied: with it the service would not be ready (a variant it needs
    failed to load, or a route would have no loaded variant). The previous table stays in force."""

    error_code = HTTPStatus.CONFLICT
    error_type = "selection_not_servable"


class InternalError(ServiceError):
    error_code = HTTPStatus.INTERNAL_SERVER_ERROR
    error_type = "internal_error"


def to_service_error(exc: BaseException) -> ServiceError:
    """The one mapping from anything raised while handling a request to what the client is told."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, UnknownScenario):
        return ScenarioNotFound(str(exc), field="scenario", allowed=list(exc.valid))
    if isinstance(exc, UnknownTask):
        return RouteNotFound(f"no task of the selection file serves {exc.name!r} inputs", allowed=list(exc.valid))
    if isinstance(exc, NoVariantAvailable):
        return VariantUnavailable(str(exc))
    if isinstance(exc, SelectionError):
        return InvalidSelection(str(exc), field=exc.key)
    logger.error("unexpected error while handling a request", exc_info=exc)
    return InternalError("internal error; see the server log")
