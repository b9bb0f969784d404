"""The hostile-input matrix's parts: input builders, limits, extra checks and the case type (the cases are in
tests/http/hostile_text_cases.py and hostile_image_cases.py)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.http.rawhttp import (
    RawRequest,
    RawResponse,
    field_part,
    file_part,
    json_request,
    multipart_request,
)

TEXT = "/v1/text/classify"
IMAGE = "/v1/image/classify"
ANY = object()
MAX_ERROR_BODY_BYTES = 2048
DEFAULT_MAX_ITEMS = 64
DEFAULT_TEXT_BODY_LIMIT = DEFAULT_MAX_ITEMS * 2000 * 12 + 64 * 1024
DEFAULT_PIXELS = 4096 * 4096
# Small limits, so that a case shows a limit without building large inputs.
SMALL = {
    "max_items": 3,
    "max_text_chars": 50,
    "max_image_bytes": 30_000,
    "max_image_pixels": 64 * 64,
    "max_request_pixels": 2 * 64 * 64,
    "max_body_bytes": 300_000,
}


# --- inputs -----------------------------------------------------------------------------------------------------


def png(size: tuple[int, int] = (8, 8), mode: str = "L", color: int = 200) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(size: tuple[int, int] = (16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format=fmt)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed PNG header declaring width x height 8-bit grey pixels, with almost no pixel data."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")


@functools.cache
def bomb_png() -> bytes:
    """A real decompression bomb: 5000x5000 = 25 M pixels of zeros in about 25 KB."""
    return png((5000, 5000), color=0)


@functools.cache
def blank_rgba_4096() -> bytes:
    """The issue's image: a blank 4096x4096 RGBA PNG (64 MB decoded, about 65 KB encoded)."""
    buffer = io.BytesIO()
    Image.new("RGBA", (4096, 4096)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def text_chunk_bomb_png() -> bytes:
    """A valid small PNG with a zTXt chunk that inflates to 16 MB."""
    valid = png()
    ztxt = png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * (16 * 1024 * 1024), 9))
    return valid[:33] + ztxt + valid[33:]  # after the signature (8) and IHDR (25)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def texts_body(texts_json: str, extra: str = "") -> bytes:
    return ('{"texts": ' + texts_json + extra + "}").encode()


def nested(depth: int, inner: str = '"a"') -> str:
    return "[" * depth + inner + "]" * depth


def image_json(images: list[str], **options: Any) -> RawRequest:
    return json_request(IMAGE, {"images": images, **options})


def image_files(*blobs: bytes, fields: list[tuple[bytes, bytes]] | None = None, **kwargs: Any) -> RawRequest:
    parts = [field_part(name, value) for name, value in fields or []]
    return multipart_request(IMAGE, parts + [file_part(blob) for blob in blobs], **kwargs)


def with_header(request: RawRequest, name: bytes, value: bytes) -> RawRequest:
    return RawRequest(request.method, request.path, [*request.headers, (name, value)], request.body)


INVALID = "invalid_request"
TOO_LARGE = "payload_too_large"
UNDECODABLE = "undecodable_input"
NOT_ALLOWED = "method_not_allowed"
MEDIA_TYPE = "unsupported_media_type"
HEADERS = "headers_too_large"
DEL = "\x7f"
OK_TEXT = json_request(TEXT, {"texts": ["love it"]})


# --- extra checks -----------------------------------------------------------------------------------------------


def allows(*methods: str) -> Callable[[RawResponse], None]:
    def check(response: RawResponse) -> None:
        assert {m.strip() for m in response.headers["allow"].split(",")} == set(methods)
        assert set(response.json()["error"]["allowed"]) == set(methods)

    return check


def message_has_no(*fragments: str) -> Callable[[RawResponse], None]:
    def check(response: RawResponse) -> None:
        message = response.json()["error"]["message"]
        for fragment in fragments:
            assert fragment not in message

    return check


def retry_after(response: RawResponse) -> None:
    assert response.headers["retry-after"].isdigit()


# --- the matrix -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    id: str
    build: Callable[[], RawRequest]
    status: int
    error_type: str | None  # None: a control case that must succeed
    field: Any = ANY
    limit: Any = ANY
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    check: Callable[[RawResponse], None] | None = None
