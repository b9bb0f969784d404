"""Request and response bodies of the HTTP API (pydantic). Limits that depend on configuration (items per
request, characters per text, image bytes and pixels) are checked in `service.inputs`, not here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from service.contracts.constraints import RouteConstraints
from service.contracts.evidence import RouteEvidence

MAX_SCENARIO_CHARS = 64
"""Characters of a scenario name, in the body or the X-Scenario header (names in the selection file are short)."""


class ClassifyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: StrictStr | None = Field(
        None,
        max_length=MAX_SCENARIO_CHARS,
        description="routing scenario; wins over the X-Scenario header; default: the task's default",
    )
    top_k: StrictInt | None = Field(None, ge=1, description="labels per prediction in `scores`; default: all")


class TextClassifyRequest(ClassifyOptions):
    """POST /v1/text/classify, application/json."""

    texts: list[StrictStr] = Field(
        min_length=1, description="texts to classify, in order; at most SCENARIO_SERVE_MAX_ITEMS (64 by default)"
    )


class ImageClassifyRequest(ClassifyOptions):
    """POST /v1/image/classify, application/json (multipart/form-data carries files instead)."""

    images: list[StrictStr] = Field(
        min_length=1,
        description="base64-encoded JPEG or PNG images (a data: URL prefix is accepted); at most "
        "SCENARIO_SERVE_MAX_ITEMS (64 by default)",
    )


class Prediction(BaseModel):
    label: str
    score: float
    scores: dict[str, float] = Field(description="probability per label, highest first (top_k of them)")


class ClassifyResponse(BaseModel):
    task: str
    scenario: str
    variant: str = Field(description="the variant that served the request")
    model_version: str = Field(description="its version in the BentoML model store")
    fallback: bool = Field(description="true when another variant than the scenario's selected one served")
    fallback_reason: Literal["not_loaded", "inference_failed", "circuit_open"] | None = Field(
        None,
        description="why the selected variant did not serve: not loaded, its inference failed on this request, or "
        "its circuit breaker is open after repeated failures (null when it served)",
    )
    predictions: list[Prediction]
    truncated: list[int] = Field(default_factory=list, description="indices of texts cut at the model's max_length")


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None = None
    limit: int | float | str | None = None
    allowed: list[str] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


# --- documented for the OpenAPI document (service.openapi); service.views and service.reload build the bodies ---


class ImageClassifyForm(BaseModel):
    """POST /v1/image/classify, multipart/form-data: one file part per image (JPEG or PNG, any field name;
    `images` by convention), and the optional text fields `scenario` and `top_k` (ASCII digits)."""

    images: list[bytes] = Field(min_length=1, description="image files, in order")
    scenario: StrictStr | None = Field(None, max_length=MAX_SCENARIO_CHARS, description="routing scenario")
    top_k: StrictInt | None = Field(None, ge=1, description="labels per prediction in `scores`; default: all")


class RouteVariant(BaseModel):
    name: str
    role: str = Field(description="selected or fallback")
    status: str
    loaded: bool


class ScenarioRoute(BaseModel):
    variant: str = Field(description="the variant the selection file chose")
    fallbacks: list[str]
    serving: str | None = Field(description="the variant that serves now (None: none loaded)")
    fallback: bool
    constraints: RouteConstraints
    objective: str
    evidence: RouteEvidence = Field(description="select's evidence, or the hand-written note of a route")
    variants: list[RouteVariant]


class TaskRoutes(BaseModel):
    kind: str
    endpoint: str
    default_scenario: str
    scenarios: dict[str, ScenarioRoute]


class ScenariosTable(BaseModel):
    """GET /v1/scenarios: the live routing table."""

    selection: dict[str, Any] = Field(description="path, version, generated_by, generated_at of the selection file")
    tasks: dict[str, TaskRoutes]


class VariantState(BaseModel):
    name: str
    status: str = Field(description="ready, failed, rejected, not_loaded, not_routed, ...")
    reason: str | None
    routes: list[str] = Field(description="task/scenario routes that name this variant")
    version: str | None
    load_seconds: float | None
    attempts: int | None = Field(description="load attempts so far (the first, then background retries)")
    next_retry_at: str | None = Field(description="UTC time of the next load attempt of a failed variant")
    metadata: dict[str, Any] | None = Field(description="the variant's model-store metadata")


class ModelsTable(BaseModel):
    """GET /v1/models: every known variant and its state."""

    ready: bool
    unserved_routes: list[str] = Field(description="task/scenario routes with no loaded variant (they answer 503)")
    store_error: str | None
    variants: list[VariantState]


class ReloadResult(BaseModel):
    """POST /v1/admin/reload: what the reload changed."""

    reloaded: bool
    path: str
    version: int
    generated_by: str
    generated_at: str
    added: list[str]
    removed: list[str]
    failed: list[dict[str, str]] = Field(description="variants routed but not served: name and reason")
    changed_routes: list[dict[str, str | None]] = Field(description="task, scenario, from, to")
