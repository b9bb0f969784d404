"""Request and response bodies of the HTTP API (pydantic). Limits that depend on configuration (items per
request, characters per text, image bytes and pixels) are checked in `service.inputs`, not here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class ClassifyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: StrictStr | None = Field(
        None, description="routing scenario; wins over the X-Scenario header; default: the task's default"
    )
    top_k: StrictInt | None = Field(None, ge=1, description="labels per prediction in `scores`; default: all")


class TextClassifyRequest(ClassifyOptions):
    """POST /v1/text/classify, application/json."""

    texts: list[StrictStr] = Field(description="texts to classify, in order")


class ImageClassifyRequest(ClassifyOptions):
    """POST /v1/image/classify, application/json (multipart/form-data carries files instead)."""

    images: list[StrictStr] = Field(description="base64-encoded JPEG or PNG images (a data: URL prefix is accepted)")


class Prediction(BaseModel):
    label: str
    score: float
    scores: dict[str, float] = Field(description="probability per label, highest first (top_k of them)")


class ClassifyResponse(BaseModel):
    task: str
    scenario: str
    variant: str = Field(description="the variant that served the request")
    model_version: str = Field(description="its version in the BentoML model store")
    fallback: bool = Field(description="true when the scenario's selected variant was not loaded")
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

