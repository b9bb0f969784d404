"""HTTP request bodies -> validated items (texts, decoded images), enforcing the configured limits.

Every rejection is a `service.errors` exception naming the field (`texts[3]`, `images[0]`, `top_k`) and, where
one applies, the limit. Image decoding runs in a worker thread: PIL work never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import math
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from service.config import ServiceConfig
from service.errors import InvalidRequest, PayloadTooLarge, UndecodableInput, UnsupportedMediaType
from service.schemas import ClassifyOptions, ImageClassifyRequest, TextClassifyRequest

JSON = "application/json"
MULTIPART = "multipart/form-data"
IMAGE_FORMATS = ("JPEG", "PNG")
IMAGE_PART_TYPES = ("image/jpeg", "image/png", "application/octet-stream")
FORM_OPTION_FIELDS = ("scenario", "top_k")

M = TypeVar("M", bound=BaseModel)


@dataclass
class TextInput:
    texts: list[str]
    options: ClassifyOptions


@dataclass
class ImageInput:
    images: list[Image.Image]
    options: ClassifyOptions


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media_type(request: Request, allowed: tuple[str, ...]) -> str:
    found = media_type(request)
    if found not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type must be {' or '.join(allowed)}, got {found or 'none'}",
            field="Content-Type",
            allowed=list(allowed),
        )
    return found


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it exceeds `limit` bytes, declared or streamed."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; at most {limit}", field="body", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes", field="body", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def field_path(loc: tuple[int | str, ...]) -> str | None:
    path = ""
    for item in loc:
        path += f"[{item}]" if isinstance(item, int) else (f".{item}" if path else str(item))
    return path or None


def validate_model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = field_path(tuple(first["loc"]))
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        limit = (first.get("ctx") or {}).get("ge")
        raise InvalidRequest(f"{field or 'body'}: {message}", field=field, limit=limit) from None


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}", field="body") from None


def check_count(items: list[Any], field: str, config: ServiceConfig) -> None:
    if not items:
        raise InvalidRequest(f"{field} is empty; send at least one item", field=field, limit=1)
    if len(items) > config.max_items:
        raise PayloadTooLarge(
            f"{field} has {len(items)} items; at most {config.max_items} per request",
            field=field,
            limit=config.max_items,
        )


def check_texts(texts: list[str], config: ServiceConfig) -> None:
    check_count(texts, "texts", config)
    for index, text in enumerate(texts):
        if len(text) > config.max_text_chars:
            raise PayloadTooLarge(
                f"texts[{index}] has {len(text)} characters; at most {config.max_text_chars}",
                field=f"texts[{index}]",
                limit=config.max_text_chars,
            )


async def parse_text_request(request: Request, config: ServiceConfig) -> TextInput:
    require_media_type(request, (JSON,))
    payload = validate_model(TextClassifyRequest, parse_json(await read_body(request, config.max_body_bytes)))
    check_texts(payload.texts, config)
    return TextInput(payload.texts, ClassifyOptions(scenario=payload.scenario, top_k=payload.top_k))


# --- images ---------------------------------------------------------------------------------------------------


def check_image_bytes(size: int, field: str, config: ServiceConfig) -> None:
    if size > config.max_image_bytes:
        raise PayloadTooLarge(
            f"{field} is {size} bytes; at most {config.max_image_bytes}", field=field, limit=config.max_image_bytes
        )


def decode_base64(text: str, field: str, config: ServiceConfig) -> bytes:
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise InvalidRequest(f"{field}: a data URL must be base64-encoded", field=field)
    text = "".join(text.split())  # tolerate line-wrapped base64
    if len(text) > 4 * math.ceil(config.max_image_bytes / 3):  # refuse before decoding
        check_image_bytes(len(text) * 3 // 4, field, config)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{field} is not valid base64", field=field) from None
    check_image_bytes(len(raw), field, config)
    return raw


def open_image(raw: bytes, field: str, config: ServiceConfig) -> Image.Image:
    """Decode JPEG/PNG bytes fully; the pixel limit is checked from the header, before decoding pixels."""
    if not raw:
        raise UndecodableInput(f"{field} is empty", field=field)
    try:
        image = Image.open(io.BytesIO(raw), formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(
            f"{field} has too many pixels; at most {config.max_image_pixels}", field=field, limit=config.max_image_pixels
        ) from None
    except Exception:  # untrusted bytes into a parser: any failure means "not an image we can read"
        raise UndecodableInput(f"{field} is not a decodable JPEG or PNG image", field=field) from None
    width, height = image.size
    if width * height > config.max_image_pixels:
        raise PayloadTooLarge(
            f"{field} is {width}x{height} = {width * height} pixels; at most {config.max_image_pixels}",
            field=field,
            limit=config.max_image_pixels,
        )
    try:
        image.load()
    except Exception:
        raise UndecodableInput(f"{field} is a truncated or corrupt {image.format} image", field=field) from None
    return image


def decode_images(blobs: list[bytes], config: ServiceConfig) -> list[Image.Image]:
    return [open_image(raw, f"images[{index}]", config) for index, raw in enumerate(blobs)]


def read_json_images(body: bytes, config: ServiceConfig) -> tuple[list[bytes], ClassifyOptions]:
    """Runs in a worker thread: a large JSON body of base64 images is parsed and decoded off the event loop."""
    payload = validate_model(ImageClassifyRequest, parse_json(body))
    check_count(payload.images, "images", config)
    blobs = [decode_base64(text, f"images[{index}]", config) for index, text in enumerate(payload.images)]
    return blobs, ClassifyOptions(scenario=payload.scenario, top_k=payload.top_k)


async def read_multipart_images(
    request: Request, body: bytes, config: ServiceConfig
) -> tuple[list[bytes], ClassifyOptions]:
    """Every file part is an image, in order (any field name; `images` by convention); the text fields
    `scenario` and `top_k` are the options."""

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(
            max_files=config.max_items + 1, max_fields=len(FORM_OPTION_FIELDS) + 1, max_part_size=64 * 1024
        )
    except HTTPException as exc:
        raise InvalidRequest(f"malformed multipart body: {exc.detail}", field="body") from None
    try:
        files: list[UploadFile] = []
        options: dict[str, Any] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append(value)
            elif name in FORM_OPTION_FIELDS and name not in options:
                options[name] = value
            else:
                raise InvalidRequest(f"{name}: unknown or repeated form field", field=name)
        if "top_k" in options:
            text = options["top_k"].strip()
            options["top_k"] = int(text) if text.lstrip("-").isdigit() else text
        parsed = validate_model(ClassifyOptions, options)
        check_count(files, "images", config)
        blobs: list[bytes] = []
        for index, upload in enumerate(files):
            field = f"images[{index}]"
            part_type = (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()
            if part_type not in IMAGE_PART_TYPES:
                raise UnsupportedMediaType(
                    f"{field} has content type {part_type}; send JPEG or PNG", field=field, allowed=list(IMAGE_PART_TYPES)
                )
            if upload.size is not None:
                check_image_bytes(upload.size, field, config)
            raw = await upload.read()
            check_image_bytes(len(raw), field, config)
            blobs.append(raw)
        return blobs, parsed
    finally:
        await form.close()


async def parse_image_request(request: Request, config: ServiceConfig) -> ImageInput:
    kind = require_media_type(request, (JSON, MULTIPART))
    body = await read_body(request, config.max_body_bytes)
    if kind == JSON:
        blobs, options = await asyncio.to_thread(read_json_images, body, config)
    else:
        blobs, options = await read_multipart_images(request, body, config)
    images = await asyncio.to_thread(decode_images, blobs, config)
    return ImageInput(images, options)
