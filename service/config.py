"""Service configuration: validated once at start-up from `SCENARIO_SERVE_*` environment variables.

Nothing here reads the environment at import time; `ServiceConfig.from_env()` is called when the BentoML
service is constructed. Every field maps to `SCENARIO_SERVE_<FIELD NAME IN CAPITALS>`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from service.field_paths import field_path

ENV_PREFIX = "SCENARIO_SERVE_"
DEFAULT_SELECTION = Path(__file__).resolve().parent / "selection.json"


class ConfigError(ValueError):
    """An environment variable is unknown or has an invalid value; the message names the variable."""


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    selection_path: Path = Field(DEFAULT_SELECTION, description="routing file (task, scenario -> variant)")
    threads: int = Field(1, ge=1, le=256, description="intra-op threads of each loaded variant")
    max_items: int = Field(64, ge=1, description="texts or images per request")
    max_text_chars: int = Field(2000, ge=1, description="characters per text (tokens beyond max_length are truncated)")
    max_image_bytes: int = Field(5 * 1024 * 1024, ge=1, description="encoded bytes per image")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="width x height per image")
    max_request_pixels: int = Field(
        2 * 4096 * 4096, ge=1, description="decoded pixels (width x height, summed over its images) per request"
    )
    max_inflight_pixels: int = Field(
        8 * 4096 * 4096,
        ge=1,
        description="decoded pixels held at once by the concurrent requests of one worker process; beyond: 503",
    )
    request_timeout_s: float = Field(
        55.0,
        gt=0,
        description="seconds a /v1 request may take before it is answered 504; below BentoML's traffic timeout (60 s)",
    )
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1, description="bytes per request body")
    fast_path: bool = Field(
        True,
        description="classify requests skip BentoML's per-request middleware while it has nothing to do for them "
        "(tracing off, no access log, CORS or max_concurrency; service.fast_path); false: every request takes it",
    )
    max_batch_size: int = Field(32, ge=1, description="items per inference batch of one variant")
    max_batch_ms: float = Field(
        25.0,
        ge=0,
        description="longest one batch should run: a batch holds at most the items that fit in it at the variant's "
        "measured time per item (at least one, at most max_batch_size); 0: max_batch_size alone",
    )
    max_latency_ms: float = Field(
        0.0,
        ge=0,
        description="longest an idle runtime holds a queued item back for companions (0: runs at once; items that "
        "queue while a batch runs always form the next batch)",
    )
    max_batch_tokens: int = Field(
        2048, ge=1, description="padded tokens per runtime call; a text batch is grouped by length under this cap"
    )
    concurrent_batches: int | None = Field(
        None,
        ge=1,
        le=64,
        description="batches of one variant that may run at once, each on its own inference thread (default: the "
        "CPUs this process may use, so that a worker whose connections carry all the traffic still uses every core)",
    )
    max_queue_items: int = Field(256, ge=1, description="items queued per variant; beyond it requests get 503")
    max_queue_wait_ms: float = Field(
        50.0,
        gt=0,
        description="expected queueing wait per variant beyond which requests get 503 + Retry-After (a burst within "
        "it is absorbed; a refusal at it starts shedding)",
    )
    shedding_queue_wait_ms: float = Field(
        10.0,
        gt=0,
        description="the tighter expected-wait bound while a variant sheds: from a refusal at max_queue_items or "
        "max_queue_wait_ms until the overload ended (service.shedding), so that admitted requests keep their latency",
    )
    shedding_hold_s: float = Field(
        1.0,
        ge=0,
        description="shortest shedding, and the window over which its end is judged: it ends once under a fifth of "
        "that window's requests were refused (0: never shed at the tighter bound)",
    )
    breaker_failures: int = Field(
        5, ge=1, description="inference failures in a row after which a variant's circuit opens (its route falls back)"
    )
    breaker_cooldown_s: float = Field(
        30.0, gt=0, description="seconds an open circuit stays open before one probe request may use the variant"
    )
    variants: tuple[str, ...] | None = Field(
        None, description="variants to load (comma-separated); default: every variant the selection file routes"
    )
    admin_token: SecretStr | None = Field(
        None,
        description=(
            "bearer token of POST /v1/admin/reload (printable ASCII, no spaces); unset or empty: the endpoint is "
            "disabled (404)"
        ),
    )
    watch_selection_s: float = Field(
        0.0, ge=0, description="seconds between checks of the selection file; reloaded when it changed (0: no watch)"
    )
    load_retry_s: float = Field(
        1.0,
        ge=0,
        description="seconds before a variant that failed to load is tried again in the background, doubling after "
        "each failure up to LOAD_RETRY_MAX_S (0: no retries)",
    )
    load_retry_max_s: float = Field(60.0, gt=0, description="longest wait between two load attempts of a variant")

    @field_validator("admin_token", mode="before")
    @classmethod
    def _check_token(cls, value: object) -> object:
        # SecretStr keeps the token out of repr() and logs; an HTTP header carries it, hence printable ASCII.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str) or not all("!" <= char <= "~" for char in raw):
            raise ValueError("must be printable ASCII without spaces (e.g. the output of `openssl rand -hex 32`)")
        return raw

    @field_validator("variants", mode="before")
    @classmethod
    def _split_variants(cls, value: object) -> object:
        if isinstance(value, str):
            names = tuple(name.strip() for name in value.split(",") if name.strip())
            return names or None
        return value

    def batch_concurrency(self) -> int:
        """`concurrent_batches`, or the CPUs this process may run on."""
        return self.concurrent_batches or len(os.sched_getaffinity(0))

    @classmethod
    def env_name(cls, field: str) -> str:
        return ENV_PREFIX + field.upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        environ = os.environ if environ is None else environ
        known = {cls.env_name(field): field for field in cls.model_fields}
        unknown = sorted(key for key in environ if key.startswith(ENV_PREFIX) and key not in known)
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]}; known: {', '.join(sorted(known))}")
        values = {field: environ[key] for key, field in known.items() if key in environ}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            name = cls.env_name(field_path(first["loc"])) if first["loc"] else ENV_PREFIX + "*"
            raise ConfigError(f"{name}: {first['msg']}") from None


# The one definition of every serving default: library code (`load_classifier`, `BatchLimits`) and the offline tools
# that must run as the service does take their defaults from here, never from a copy of the number.
DEFAULTS = ServiceConfig()
