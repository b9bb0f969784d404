"""HTTP request bodies -> validated items (texts, decoded images), enforcing the configured limits.

Every rejection is a `service.errors` exception naming the field (`texts[3]`, `images[0]`, `top_k`) and, where
one applies, the limit. The order is cheap first: media type, declared and streamed body size, then, in a
worker thread (nothing CPU-bound runs on the event loop), strict JSON or multipart parsing, the item count and
unknown keys, and only then the schema's per-element validation, so that a hostile body costs at most
`max_items` element checks. Images are decoded in the worker thread too (a few tiny ones, on the event loop:
`tiny_image_headers`), each one's pixels reserved from the request's and the worker's budgets (`service.budget`)
before it is decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from service.budget import PixelLease, shared_budget
from service.config import ServiceConfig
from service.errors import InvalidRequest, PayloadTooLarge, UndecodableInput, UnsupportedMediaType, echo
from service.field_paths import field_path
from service.jsonparse import MAX_INT_DIGITS, OversizedInt, parse_json
from service.middleware import at_request_end
from service.multipart import FormLimits, parse_form
from service.pools import INLINE_PARSE_BYTES, decode_off_loop, parse_off_loop
from service.schemas import ClassifyOptions, ImageClassifyRequest, TextClassifyRequest

JSON = "application/json"
MULTIPART = "multipart/form-data"
IMAGE_FORMATS = ("JPEG", "PNG")
IMAGE_PART_TYPES = ("image/jpeg", "image/png", "application/octet-stream")
FORM_OPTION_FIELDS = ("scenario", "top_k")
INLINE_DECODE_IMAGES = 8
INLINE_DECODE_PIXELS = 64 * 64
"""Images and their pixels in all, at most, of a request decoded on the event loop (`tiny_image_headers`)."""
MAX_FORM_FIELD_BYTES = 1024
"""Bytes of a multipart text field (`scenario`, `top_k`)."""
TEXT_BODY_SLACK = 64 * 1024
"""Bytes of a text request beyond its texts: keys, options, whitespace."""
ESCAPED_BYTES_PER_CHAR = 12
"""The most JSON bytes one character can take: a character outside the BMP escaped as `\\ud83d\\ude00`."""
_DECIMAL = re.compile(r"-?[0-9]+")  # ASCII digits only: int() also accepts '٣' and refuses '²'

M = TypeVar("M", bound=BaseModel)


@dataclass
class TextInput:
    texts: list[str]
    options: ClassifyOptions


@dataclass
class ImageInput:
    images: list[Image.Image]
    options: ClassifyOptions


# --- the request envelope --------------------------------------------------------------------------------------


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media_type(request: Request, allowed: tuple[str, ...]) -> str:
    found = media_type(request)
    if found not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type must be {' or '.join(allowed)}, got {echo(found) or 'none'}",
            field="Content-Type",
            allowed=list(allowed),
        )
    return found


def text_body_limit(config: ServiceConfig) -> int:
    """The largest body a valid text request can need: every text at its longest, every character escaped."""
    return min(
        config.max_body_bytes, config.max_items * config.max_text_chars * ESCAPED_BYTES_PER_CHAR + TEXT_BODY_SLACK
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it exceeds `limit` bytes, declared or streamed."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise PayloadTooLarge(f"request body is {echo(declared)} bytes; at most {limit}", field="body", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes", field="body", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


# --- validation ------------------------------------------------------------------------------------------------


def validate_model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = field_path(first["loc"], echo) or None
        where = field or "body"
        if isinstance(first.get("input"), OversizedInt):
            digits = first["input"].digits
            message = f"{where}: an integer of {digits} digits; at most {MAX_INT_DIGITS}"
            raise InvalidRequest(message, field=field, limit=MAX_INT_DIGITS) from None
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        ctx = first.get("ctx") or {}
        limit = next((ctx[key] for key in ("ge", "le", "max_length") if key in ctx), None)
        raise InvalidRequest(f"{where}: {message}", field=field, limit=limit) from None


def check_count(items: list[Any], field: str, config: ServiceConfig) -> None:
    if not items:
        raise InvalidRequest(f"{field} is empty; send at least one item", field=field, limit=1)
    if len(items) > config.max_items:
        raise PayloadTooLarge(
            f"{field} has {len(items)} items; at most {config.max_items} per request",
            field=field,
            limit=config.max_items,
        )


def check_envelope(data: Any, model: type[BaseModel], items_field: str, config: ServiceConfig) -> None:
    """What can be refused without looking at elements: not an object, an unknown key, too many or no items.
    Schema validation would otherwise build one error per element or per unknown key (millions, for 8 MB)."""
    if not isinstance(data, dict):
        raise InvalidRequest(f"the body must be a JSON object with the field '{items_field}'", field=None)
    unknown = next((key for key in data if key not in model.model_fields), None)
    if unknown is not None:
        raise InvalidRequest(f"{echo(unknown)}: unknown field", field=echo(unknown))
    items = data.get(items_field)
    if isinstance(items, list):
        check_count(items, items_field, config)


# --- texts -----------------------------------------------------------------------------------------------------


def check_texts(texts: list[str], config: ServiceConfig) -> None:
    check_count(texts, "texts", config)
    for index, text in enumerate(texts):
        if len(text) > config.max_text_chars:
            raise PayloadTooLarge(
                f"texts[{index}] has {len(text)} characters; at most {config.max_text_chars}",
                field=f"texts[{index}]",
                limit=config.max_text_chars,
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from the JSON escape "\ud800"
            raise InvalidRequest(
                f"texts[{index}] is not valid Unicode: a lone surrogate at character {exc.start}",
                field=f"texts[{index}]",
            ) from None


def read_text_payload(body: bytes, config: ServiceConfig) -> TextInput:
    """Runs on the event loop for small bodies, else on the parse pool (`service.pools`)."""
    data = parse_json(body)
    check_envelope(data, TextClassifyRequest, "texts", config)
    payload = validate_model(TextClassifyRequest, data)
    check_texts(payload.texts, config)
    return TextInput(payload.texts, ClassifyOptions(scenario=payload.scenario, top_k=payload.top_k))


async def parse_text_request(request: Request, config: ServiceConfig) -> TextInput:
    require_media_type(request, (JSON,))
    body = await read_body(request, text_body_limit(config))
    return await parse_off_loop(len(body), read_text_payload, body, config)


# --- images ----------------------------------------------------------------------------------------------------


def image_field(index: int) -> str:
    return f"images[{index}]"


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
    except (binascii.Error, ValueError):  # ValueError: non-ASCII characters
        raise InvalidRequest(f"{field} is not valid base64", field=field) from None
    check_image_bytes(len(raw), field, config)
    return raw


def read_header(raw: bytes, field: str, config: ServiceConfig) -> Image.Image:
    """Open JPEG/PNG bytes without decoding a pixel, checking the image's own pixel limit from its header."""
    if not raw:
        raise UndecodableInput(f"{field} is empty", field=field)
    try:
        image = Image.open(io.BytesIO(raw), formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(
            f"{field} has too many pixels; at most {config.max_image_pixels}",
            field=field,
            limit=config.max_image_pixels,
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
    return image


def load_pixels(image: Image.Image, field: str, lease: PixelLease) -> Image.Image:
    """Decode an opened image's pixels once the request's and the worker's budgets (the lease) allow them."""
    width, height = image.size
    lease.take(width * height, field)
    try:
        image.load()
    except Exception:
        raise UndecodableInput(f"{field} is a truncated or corrupt {image.format} image", field=field) from None
    return image


def decode_images(blobs: list[bytes], config: ServiceConfig, lease: PixelLease) -> list[Image.Image]:
    return [open_image(raw, image_field(index), config, lease) for index, raw in enumerate(blobs)]


def load_all_pixels(images: list[Image.Image], lease: PixelLease) -> list[Image.Image]:
    return [load_pixels(image, image_field(index), lease) for index, image in enumerate(images)]


def open_image(raw: bytes, field: str, config: ServiceConfig, lease: PixelLease) -> Image.Image:
    return load_pixels(read_header(raw, field, config), field, lease)


def tiny_image_headers(blobs: list[bytes], config: ServiceConfig) -> list[Image.Image] | None:
    """The opened (not yet decoded) images of a request small enough to decode on the event loop: a few, a few KB
    encoded, and (their headers say) few pixels in all; None for any other request, which the decode pool takes.
    Decoding 64x64 pixels takes tens of microseconds; the round trip to a pool thread and back costs more than that
    on a sparse request (each hand-off wakes an idle thread)."""
    if len(blobs) > INLINE_DECODE_IMAGES or sum(map(len, blobs)) > INLINE_PARSE_BYTES:
        return None
    images = [read_header(raw, image_field(index), config) for index, raw in enumerate(blobs)]
    if sum(image.width * image.height for image in images) > INLINE_DECODE_PIXELS:
        return None
    return images


def read_json_images(body: bytes, config: ServiceConfig) -> tuple[list[bytes], ClassifyOptions]:
    """Runs in a worker thread: a large JSON body of base64 images is parsed and decoded off the event loop."""
    data = parse_json(body)
    check_envelope(data, ImageClassifyRequest, "images", config)
    payload = validate_model(ImageClassifyRequest, data)
    blobs = [decode_base64(text, image_field(index), config) for index, text in enumerate(payload.images)]
    return blobs, ClassifyOptions(scenario=payload.scenario, top_k=payload.top_k)


def form_int(text: str, field: str) -> int:
    """A form field's integer: optional minus and ASCII digits, at most MAX_INT_DIGITS of them."""
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        raise InvalidRequest(f"{field} must be a decimal integer (ASCII digits)", field=field)
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise InvalidRequest(f"{field} has more than {MAX_INT_DIGITS} digits", field=field, limit=MAX_INT_DIGITS)
    return int(text)


def form_options(fields: list[tuple[str, str]]) -> ClassifyOptions:
    options: dict[str, Any] = {}
    for name, value in fields:
        if name not in FORM_OPTION_FIELDS or name in options:
            raise InvalidRequest(f"{echo(name)}: unknown or repeated form field", field=echo(name))
        options[name] = form_int(value, name) if name == "top_k" else value
    return validate_model(ClassifyOptions, options)


def read_multipart_images(body: bytes, content_type: str, config: ServiceConfig) -> tuple[list[bytes], ClassifyOptions]:
    """Runs in a worker thread. Every file part is an image, in order (any field name; `images` by
    convention); the text fields `scenario` and `top_k` are the options."""
    limits = FormLimits(
        max_files=config.max_items,
        max_fields=len(FORM_OPTION_FIELDS) + 1,  # one more, to name an unknown field rather than count it
        max_file_bytes=config.max_image_bytes,
        max_field_bytes=MAX_FORM_FIELD_BYTES,
    )
    form = parse_form(body, content_type, limits)
    options = form_options(form.fields)
    check_count(form.files, "images", config)
    for index, part in enumerate(form.files):
        part_type = part.content_type.split(";")[0].strip().lower()
        if part_type not in IMAGE_PART_TYPES:
            raise UnsupportedMediaType(
                f"{image_field(index)} has content type {echo(part_type)}; send JPEG or PNG",
                field=image_field(index),
                allowed=list(IMAGE_PART_TYPES),
            )
    return [part.data for part in form.files], options


def request_lease(request: Request, config: ServiceConfig) -> PixelLease:
    """This request's decoded-pixel lease, given back when the request has been answered."""
    lease = PixelLease(shared_budget(config.max_inflight_pixels), config.max_request_pixels)
    at_request_end(request.scope, lease.release)
    return lease


async def parse_image_request(request: Request, config: ServiceConfig) -> ImageInput:
    kind = require_media_type(request, (JSON, MULTIPART))
    body = await read_body(request, config.max_body_bytes)
    if kind == JSON:
        blobs, options = await parse_off_loop(len(body), read_json_images, body, config)
    else:
        content_type = request.headers.get("content-type", "")
        blobs, options = await parse_off_loop(len(body), read_multipart_images, body, content_type, config)
    lease = request_lease(request, config)
    tiny = tiny_image_headers(blobs, config)
    if tiny is not None:
        return ImageInput(load_all_pixels(tiny, lease), options)
    return ImageInput(await decode_off_loop(decode_images, blobs, config, lease), options)
