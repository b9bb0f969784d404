"""Hostile inputs: every one gets a specific 4xx (or 503) JSON error object, cheaply, and leaves the server ready.

One parametrized matrix over both endpoints, JSON and multipart bodies, headers, paths and methods, sizes,
encodings and image formats (a decompression bomb, a header that declares 10^10 pixels, truncated files, a
compressed-text-chunk bomb, formats the API does not take). Requests go byte for byte into the ASGI app
(`tests/http/rawhttp.py`), so headers that HTTP clients would refuse or re-encode are sent as written. Each case
asserts the status, the error type (and field and limit where it names them), that the body is the documented
error object in valid UTF-8 and small whatever the input size, and that afterwards /readyz is still 200 and a
normal request still classifies.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import io
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

from service.jsonparse import MAX_DEPTH, MAX_INT_DIGITS
from service.middleware import MAX_HEADER_BYTES
from service.schemas import MAX_SCENARIO_CHARS
from tests.http.rawhttp import (
    RawRequest,
    RawResponse,
    exchange,
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


CASES = [
    # -- text endpoint: sizes and counts before element validation ----------------------------------------------
    Hostile(
        "text-8MB-of-ints",
        lambda: json_request(TEXT, texts_body("[" + "1," * 4_000_000 + "1]")),
        413,
        TOO_LARGE,
        "body",
        DEFAULT_TEXT_BODY_LIMIT,
    ),
    Hostile(
        "text-750k-ints-under-body-limit",
        lambda: json_request(TEXT, texts_body("[" + "1," * 750_000 + "1]")),
        413,
        TOO_LARGE,
        "texts",
        DEFAULT_MAX_ITEMS,
    ),
    Hostile(
        "text-65-texts", lambda: json_request(TEXT, {"texts": ["a"] * 65}), 413, TOO_LARGE, "texts", DEFAULT_MAX_ITEMS
    ),
    Hostile("text-too-long", lambda: json_request(TEXT, {"texts": ["x" * 51]}), 413, TOO_LARGE, "texts[0]", 50, SMALL),
    Hostile(
        "text-body-over-text-limit",
        lambda: json_request(TEXT, {"texts": ["x" * 40_000] * 2}),
        413,
        TOO_LARGE,
        "body",
        3 * 50 * 12 + 64 * 1024,
        SMALL,
    ),
    Hostile(
        "text-120k-unknown-keys",
        lambda: json_request(TEXT, ("{" + ",".join(f'"k{i}":1' for i in range(120_000)) + "}").encode()),
        400,
        INVALID,
        "k0",
    ),
    Hostile(
        "text-10KB-unknown-key",
        lambda: json_request(TEXT, {"texts": ["a"], "k" * 10_000: 1}),
        400,
        INVALID,
        "k" * 40 + "...(+9960 characters)",
    ),
    Hostile("text-ints-as-texts", lambda: json_request(TEXT, {"texts": [1, 2]}), 400, INVALID, "texts[0]"),
    # -- text endpoint: encodings -----------------------------------------------------------------------------------
    Hostile("text-lone-surrogate", lambda: json_request(TEXT, b'{"texts": ["\\ud800"]}'), 400, INVALID, "texts[0]"),
    Hostile(
        "text-lone-low-surrogate-mid-text",
        lambda: json_request(TEXT, b'{"texts": ["ok", "a\\udc00b"]}'),
        400,
        INVALID,
        "texts[1]",
    ),
    Hostile(
        "text-reversed-surrogate-pair",
        lambda: json_request(TEXT, b'{"texts": ["\\udc00\\ud800"]}'),
        400,
        INVALID,
        "texts[0]",
    ),
    Hostile("text-invalid-utf8-byte", lambda: json_request(TEXT, b'{"texts": ["caf\xe9"]}'), 400, INVALID, "body"),
    Hostile("text-overlong-utf8", lambda: json_request(TEXT, b'{"texts": ["\xc0\xaf"]}'), 400, INVALID, "body"),
    Hostile("text-utf16-body", lambda: json_request(TEXT, '{"texts": ["a"]}'.encode("utf-16")), 400, INVALID, "body"),
    Hostile("text-utf8-bom", lambda: json_request(TEXT, b'\xef\xbb\xbf{"texts": ["a"]}'), 400, INVALID, "body"),
    Hostile(
        "text-astral-chars-at-the-limit",
        lambda: json_request(TEXT, {"texts": ["\U0001f600" * 50] * 3}),
        200,
        None,
        settings=SMALL,
    ),
    Hostile("text-nul-and-controls", lambda: json_request(TEXT, {"texts": ["a\0b\x1b[31m\x7f"]}), 200, None),
    # -- text endpoint: JSON structure --------------------------------------------------------------------------
    Hostile("text-100k-open-brackets", lambda: json_request(TEXT, b"[" * 100_000), 400, INVALID, "body", MAX_DEPTH),
    Hostile(
        "text-deep-but-closed",
        lambda: json_request(TEXT, texts_body(nested(MAX_DEPTH))),
        400,
        INVALID,
        "body",
        MAX_DEPTH,
    ),
    Hostile(
        "text-brackets-inside-strings-are-fine",
        lambda: json_request(TEXT, {"texts": ["[" * 500 + '\\"{' * 100]}),
        200,
        None,
    ),
    Hostile(
        "text-duplicate-key", lambda: json_request(TEXT, b'{"texts": ["a"], "texts": ["b"]}'), 400, INVALID, "texts"
    ),
    Hostile("text-nan", lambda: json_request(TEXT, b'{"texts": ["a"], "top_k": NaN}'), 400, INVALID, "body"),
    Hostile("text-infinity", lambda: json_request(TEXT, b'{"texts": [-Infinity]}'), 400, INVALID, "body"),
    Hostile("text-truncated-json", lambda: json_request(TEXT, b'{"texts": ["a", '), 400, INVALID, "body"),
    Hostile("text-empty-body", lambda: json_request(TEXT, b""), 400, INVALID, "body"),
    Hostile("text-body-is-a-string", lambda: json_request(TEXT, b'"texts"'), 400, INVALID, None),
    Hostile("text-body-is-null", lambda: json_request(TEXT, b"null"), 400, INVALID, None),
    # -- text endpoint: integers ----------------------------------------------------------------------------------
    Hostile(
        "text-top_k-5000-digits",
        lambda: json_request(TEXT, texts_body('["a"]', ', "top_k": ' + "9" * 5000)),
        400,
        INVALID,
        "top_k",
        MAX_INT_DIGITS,
    ),
    Hostile(
        "text-top_k-negative-5000-digits",
        lambda: json_request(TEXT, texts_body('["a"]', ', "top_k": -' + "9" * 5000)),
        400,
        INVALID,
        "top_k",
        MAX_INT_DIGITS,
    ),
    Hostile(
        "text-top_k-19-digits",
        lambda: json_request(TEXT, texts_body('["a"]', ', "top_k": ' + "1" * 19)),
        400,
        INVALID,
        "top_k",
        MAX_INT_DIGITS,
    ),
    Hostile(
        "text-5000-digit-int-as-a-text",
        lambda: json_request(TEXT, texts_body("[" + "7" * 5000 + "]")),
        400,
        INVALID,
        "texts[0]",
        MAX_INT_DIGITS,
    ),
    Hostile(
        "text-top_k-float-overflow",
        lambda: json_request(TEXT, texts_body('["a"]', ', "top_k": 1e400')),
        400,
        INVALID,
        "top_k",
    ),
    Hostile("text-top_k-zero", lambda: json_request(TEXT, {"texts": ["a"], "top_k": 0}), 400, INVALID, "top_k", 1),
    # -- scenario: reflection and length --------------------------------------------------------------------------
    Hostile(
        "scenario-1MB-of-DEL",
        lambda: json_request(TEXT, b'{"texts": ["a"], "scenario": "' + b"\x7f" * 1_000_000 + b'"}'),
        400,
        INVALID,
        "scenario",
        MAX_SCENARIO_CHARS,
    ),
    Hostile(
        "scenario-2MB-of-DEL-image-json",
        lambda: json_request(IMAGE, f'{{"images": ["{b64(png())}"], "scenario": "{DEL * 2_000_000}"}}'.encode()),
        400,
        INVALID,
        "scenario",
        MAX_SCENARIO_CHARS,
    ),
    Hostile(
        "scenario-unknown-controls-escaped",
        lambda: json_request(TEXT, {"texts": ["a"], "scenario": "\x7f\x1b[2J" * 8}),
        404,
        "unknown_scenario",
        "scenario",
        check=message_has_no("\x7f", "\x1b"),
    ),
    Hostile(
        "scenario-lone-surrogate",
        lambda: json_request(TEXT, b'{"texts": ["a"], "scenario": "x\\ud800"}'),
        400,
        INVALID,
        "scenario",
    ),
    Hostile(
        "scenario-not-a-string",
        lambda: json_request(TEXT, {"texts": ["a"], "scenario": ["realtime"]}),
        400,
        INVALID,
        "scenario",
    ),
    # -- headers ---------------------------------------------------------------------------------------------------
    Hostile(
        "header-64KB-x-scenario",
        lambda: with_header(OK_TEXT, b"x-scenario", b"a" * 65536),
        431,
        HEADERS,
        "headers",
        MAX_HEADER_BYTES,
    ),
    Hostile(
        "header-x-scenario-over-limit",
        lambda: with_header(OK_TEXT, b"x-scenario", b"b" * (MAX_SCENARIO_CHARS + 1)),
        431,
        HEADERS,
        "X-Scenario",
        MAX_SCENARIO_CHARS,
    ),
    Hostile(
        "header-x-scenario-latin1-bytes",
        lambda: with_header(OK_TEXT, b"x-scenario", b"r\xe9al\xfftime"),
        404,
        "unknown_scenario",
        "scenario",
        check=message_has_no("\xff"),
    ),
    Hostile(
        "header-200-headers",
        lambda: RawRequest("GET", "/v1/scenarios", [(b"x-h%d" % i, b"v" * 100) for i in range(200)]),
        431,
        HEADERS,
        "headers",
        MAX_HEADER_BYTES,
    ),
    Hostile(
        "header-20KB-authorization",
        lambda: RawRequest("POST", "/v1/admin/reload", [(b"authorization", b"Bearer " + b"t" * 20_000)]),
        431,
        HEADERS,
        "headers",
        MAX_HEADER_BYTES,
    ),
    Hostile(
        "header-content-type-non-utf8",
        lambda: RawRequest("POST", TEXT, [(b"content-type", b"application/json\xff")], b'{"texts": ["a"]}'),
        415,
        MEDIA_TYPE,
        "Content-Type",
        check=message_has_no("\xff"),
    ),
    Hostile(
        "header-content-type-text-plain",
        lambda: RawRequest("POST", TEXT, [(b"content-type", b"text/plain")], b'{"texts": ["a"]}'),
        415,
        MEDIA_TYPE,
        "Content-Type",
    ),
    Hostile("header-no-content-type", lambda: RawRequest("POST", IMAGE, [], b"{}"), 415, MEDIA_TYPE),
    Hostile(
        "header-content-type-10KB",
        lambda: RawRequest("POST", TEXT, [(b"content-type", b"x" * 10_000)], b"{}"),
        415,
        MEDIA_TYPE,
        "Content-Type",
    ),
    Hostile(
        "header-content-length-30-digits",
        lambda: with_header(json_request(TEXT, b"{}"), b"content-length", b"9" * 30),
        413,
        TOO_LARGE,
        "body",
    ),
    # -- image endpoint, JSON ---------------------------------------------------------------------------------------
    Hostile("image-json-100k-open-brackets", lambda: json_request(IMAGE, b"[" * 100_000), 400, INVALID, "body"),
    Hostile(
        "image-json-top_k-5000-digits",
        lambda: json_request(IMAGE, ('{"images": ["' + b64(png()) + '"], "top_k": ' + "1" * 5000 + "}").encode()),
        400,
        INVALID,
        "top_k",
        MAX_INT_DIGITS,
    ),
    Hostile(
        "image-json-1M-items",
        lambda: json_request(IMAGE, ('{"images": [' + "1," * 1_000_000 + "1]}").encode()),
        413,
        TOO_LARGE,
        "images",
        DEFAULT_MAX_ITEMS,
    ),
    Hostile("image-json-65-images", lambda: image_json([b64(png())] * 65), 413, TOO_LARGE, "images", 64),
    Hostile("image-json-not-base64", lambda: image_json(["!!not base64!!"]), 400, INVALID, "images[0]"),
    Hostile("image-json-non-ascii-base64", lambda: image_json(["iVBORw0KGgo\u00e9\u00e9"]), 400, INVALID, "images[0]"),
    Hostile("image-json-data-url-not-base64", lambda: image_json(["data:image/png,abc"]), 400, INVALID, "images[0]"),
    Hostile("image-json-empty-image", lambda: image_json([""]), 422, UNDECODABLE, "images[0]"),
    Hostile(
        "image-json-decompression-bomb",
        lambda: image_json([b64(bomb_png())]),
        413,
        TOO_LARGE,
        "images[0]",
        DEFAULT_PIXELS,
    ),
    Hostile(
        "image-json-header-declares-10G-pixels",
        lambda: image_json([b64(png_declaring(100_000, 100_000))]),
        413,
        TOO_LARGE,
        "images[0]",
        DEFAULT_PIXELS,
    ),
    Hostile(
        "image-json-64-blank-4096-rgba",
        lambda: image_json([b64(blank_rgba_4096())] * 64),
        413,
        TOO_LARGE,
        "images",
        2 * DEFAULT_PIXELS,
    ),
    Hostile(
        "image-json-request-pixel-budget",
        lambda: image_json([b64(png((64, 64)))] * 3),
        413,
        TOO_LARGE,
        "images",
        2 * 64 * 64,
        SMALL,
    ),
    Hostile(
        "image-json-truncated-png",
        lambda: image_json([b64(png((32, 32), mode="RGB", color=7)[:-30])]),
        422,
        UNDECODABLE,
        "images[0]",
    ),
    Hostile(
        "image-json-truncated-jpeg", lambda: image_json([b64(jpeg((64, 64))[:200])]), 422, UNDECODABLE, "images[0]"
    ),
    Hostile("image-json-png-header-only", lambda: image_json([b64(png()[:33])]), 422, UNDECODABLE, "images[0]"),
    Hostile(
        "image-json-corrupt-idat",
        lambda: image_json([b64(png_declaring(16, 16)[:-20] + b"garbage" * 3)]),
        422,
        UNDECODABLE,
        "images[0]",
    ),
    Hostile("image-json-ztxt-bomb", lambda: image_json([b64(text_chunk_bomb_png())]), 422, UNDECODABLE, "images[0]"),
    Hostile("image-json-gif", lambda: image_json([b64(encoded("GIF"))]), 422, UNDECODABLE, "images[0]"),
    Hostile("image-json-bmp", lambda: image_json([b64(encoded("BMP"))]), 422, UNDECODABLE, "images[0]"),
    Hostile("image-json-tiff", lambda: image_json([b64(encoded("TIFF"))]), 422, UNDECODABLE, "images[0]"),
    Hostile(
        "image-json-svg",
        lambda: image_json([b64(b"<svg xmlns='http://www.w3.org/2000/svg'/>")]),
        422,
        UNDECODABLE,
        "images[0]",
    ),
    Hostile(
        "image-json-16bit-and-palette-pngs", lambda: image_json([b64(png(mode="I;16")), b64(png(mode="P"))]), 200, None
    ),
    # -- image endpoint, multipart ----------------------------------------------------------------------------------
    Hostile("multipart-66-files", lambda: image_files(*[png()] * 66), 413, TOO_LARGE, "images", 64),
    Hostile("multipart-files-over-small-limit", lambda: image_files(*[png()] * 4), 413, TOO_LARGE, "images", 3, SMALL),
    Hostile(
        "multipart-top_k-5000-digits",
        lambda: image_files(png(), fields=[(b"top_k", b"7" * 5000)]),
        400,
        INVALID,
        "top_k",
        1024,
    ),
    Hostile(
        "multipart-top_k-30-digits",
        lambda: image_files(png(), fields=[(b"top_k", b"7" * 30)]),
        400,
        INVALID,
        "top_k",
        MAX_INT_DIGITS,
    ),
    Hostile(
        "multipart-top_k-superscript-two",
        lambda: image_files(png(), fields=[(b"top_k", "²".encode())]),
        400,
        INVALID,
        "top_k",
    ),
    Hostile(
        "multipart-top_k-arabic-indic-digit",
        lambda: image_files(png(), fields=[(b"top_k", "٣".encode())]),
        400,
        INVALID,
        "top_k",
    ),
    Hostile("multipart-top_k-zero", lambda: image_files(png(), fields=[(b"top_k", b"0")]), 400, INVALID, "top_k", 1),
    Hostile("multipart-top_k-padded", lambda: image_files(png(), fields=[(b"top_k", b" 2 ")]), 200, None),
    Hostile(
        "multipart-scenario-2MB-of-DEL",
        lambda: image_files(png(), fields=[(b"scenario", b"\x7f" * 2_000_000)]),
        400,
        INVALID,
        "scenario",
        1024,
    ),
    Hostile(
        "multipart-scenario-invalid-utf8",
        lambda: image_files(png(), fields=[(b"scenario", b"real\xfftime")]),
        400,
        INVALID,
        "body",
    ),
    Hostile(
        "multipart-unknown-field", lambda: image_files(png(), fields=[(b"colour", b"red")]), 400, INVALID, "colour"
    ),
    Hostile(
        "multipart-100-fields",
        lambda: image_files(png(), fields=[(b"f%d" % i, b"v") for i in range(100)]),
        400,
        INVALID,
    ),
    Hostile(
        "multipart-10KB-part-header", lambda: image_files(png(), fields=[(b"n" * 10_000, b"v")]), 400, INVALID, "body"
    ),
    Hostile(
        "multipart-part-without-disposition",
        lambda: multipart_request(IMAGE, [(b"Content-Type: image/png", png())]),
        400,
        INVALID,
        "body",
    ),
    Hostile(
        "multipart-many-part-headers",
        lambda: multipart_request(IMAGE, [(file_part(png())[0] + b"\r\nX-Y: z" * 20, png())]),
        400,
        INVALID,
        "body",
    ),
    Hostile("multipart-no-closing-boundary", lambda: image_files(png(), close=False), 400, INVALID, "body"),
    Hostile("multipart-300-byte-boundary", lambda: image_files(png(), boundary=b"b" * 300), 400, INVALID, "body"),
    Hostile(
        "multipart-garbage-body",
        lambda: RawRequest("POST", IMAGE, [(b"content-type", b"multipart/form-data; boundary=x")], b"\0\xff" * 99),
        400,
        INVALID,
        "body",
    ),
    Hostile(
        "multipart-file-over-byte-limit",
        lambda: image_files(png() + b"\0" * 40_000),
        413,
        TOO_LARGE,
        "images[0]",
        30_000,
        SMALL,
    ),
    Hostile(
        "multipart-file-is-text",
        lambda: multipart_request(IMAGE, [file_part(b"hello", content_type=b"text/plain")]),
        415,
        MEDIA_TYPE,
        "images[0]",
    ),
    Hostile(
        "multipart-decompression-bomb", lambda: image_files(bomb_png()), 413, TOO_LARGE, "images[0]", DEFAULT_PIXELS
    ),
    Hostile(
        "multipart-truncated-png",
        lambda: image_files(png((32, 32), mode="RGB", color=9)[:-30]),
        422,
        UNDECODABLE,
        "images[0]",
    ),
    Hostile(
        "multipart-body-over-limit",
        lambda: image_files(*[png() + b"\0" * 25_000] * 12),
        413,
        TOO_LARGE,
        "body",
        300_000,
        SMALL,
    ),
    Hostile("multipart-jpeg-and-png", lambda: image_files(jpeg(), png()), 200, None),
    # -- paths and methods -------------------------------------------------------------------------------------------
    Hostile("path-unknown-under-v1", lambda: RawRequest("GET", "/v1/nope"), 404, "not_found"),
    Hostile("path-unknown-at-root", lambda: RawRequest("GET", "/nope"), 404, "not_found"),
    Hostile("path-10KB", lambda: RawRequest("GET", "/v1/" + "p" * 10_000), 404, "not_found"),
    Hostile("path-admin-off", lambda: RawRequest("POST", "/v1/admin/reload"), 404, "not_found"),
    Hostile("method-get-text-classify", lambda: RawRequest("GET", TEXT), 405, NOT_ALLOWED, check=allows("POST")),
    Hostile(
        "method-delete-scenarios",
        lambda: RawRequest("DELETE", "/v1/scenarios"),
        405,
        NOT_ALLOWED,
        check=allows("GET", "HEAD"),
    ),
    Hostile("method-post-livez", lambda: RawRequest("POST", "/livez"), 405, NOT_ALLOWED, check=allows("GET", "HEAD")),
    Hostile("method-put-metrics", lambda: RawRequest("PUT", "/metrics"), 405, NOT_ALLOWED, check=allows("GET", "HEAD")),
]


def assert_error(response: RawResponse, case: Hostile) -> None:
    assert len(response.body) <= MAX_ERROR_BODY_BYTES, f"{len(response.body)} bytes: the input is reflected"
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"type", "message", "field", "limit", "allowed"}
    assert error["type"] == case.error_type, error
    if case.field is not ANY:
        assert error["field"] == case.field, error
    if case.limit is not ANY:
        assert error["limit"] == case.limit, error


def test_the_matrix_is_large_and_distinct() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input(serve, service_asgi, case: Hostile) -> None:
    with serve(**case.settings) as client:
        response = exchange(client, service_asgi, case.build())
        assert response.status == case.status, response.body[:500]
        if case.error_type is None:
            assert len(response.json()["predictions"]) >= 1
        else:
            assert_error(response, case)
        if case.check is not None:
            case.check(response)
        assert exchange(client, service_asgi, RawRequest("GET", "/readyz")).status == 200
        follow_up = exchange(client, service_asgi, OK_TEXT)
        assert follow_up.status == 200, follow_up.body[:300]
        assert json.loads(follow_up.body)["predictions"][0]["label"] == "positive"
