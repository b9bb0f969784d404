"""`service.inputs` without a server: request bodies to validated items, each refusal naming its field and limit,
the cheap checks first. The same rules over HTTP: tests/http/test_validation.py and test_hostile_inputs.py."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import pytest
from PIL import Image
from starlette.requests import Request

from service.budget import PixelBudget, PixelLease, shared_budget
from service.config import ServiceConfig
from service.errors import InvalidRequest, PayloadTooLarge, ServiceError, UndecodableInput, UnsupportedMediaType
from service.inputs import (
    ESCAPED_BYTES_PER_CHAR,
    INLINE_DECODE_IMAGES,
    decode_images,
    form_int,
    parse_image_request,
    read_body,
    read_json_images,
    read_multipart_images,
    read_text_payload,
    text_body_limit,
    tiny_image_headers,
)
from service.jsonparse import MAX_INT_DIGITS
from service.middleware import CLEANUPS
from service.schemas import ClassifyOptions

CONFIG = ServiceConfig(max_items=3, max_text_chars=10, max_image_bytes=1000, max_image_pixels=400)


def png(size: tuple[int, int] = (8, 8), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 200).save(buffer, format=fmt)
    return buffer.getvalue()


def refusal(error: ServiceError) -> tuple[type[ServiceError], str | None, Any]:
    return type(error), error.field, error.limit


# --- texts -----------------------------------------------------------------------------------------------------


def test_text_payload_gives_texts_and_options() -> None:
    parsed = read_text_payload(b'{"texts": ["a", "b"], "scenario": "batch", "top_k": 2}', CONFIG)
    assert parsed.texts == ["a", "b"] and parsed.options == ClassifyOptions(scenario="batch", top_k=2)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], (InvalidRequest, None, None)),
        ({"texts": []}, (InvalidRequest, "texts", 1)),
        ({"texts": ["a"] * 4}, (PayloadTooLarge, "texts", 3)),
        ({"texts": ["a", "x" * 11]}, (PayloadTooLarge, "texts[1]", 10)),
        ({"texts": ["a", "\ud800"]}, (InvalidRequest, "texts[1]", None)),
        ({"texts": ["a", 1]}, (InvalidRequest, "texts[1]", None)),
        ({"texts": ["a"], "top_k": 0}, (InvalidRequest, "top_k", 1)),
        ({"texts": ["a"], "scenario": "s" * 65}, (InvalidRequest, "scenario", 64)),
        ({"texts": ["a"], "extra": 1}, (InvalidRequest, "extra", None)),
    ],
)
def test_text_refusals_name_field_and_limit(document: Any, expected: tuple[type, str | None, Any]) -> None:
    with pytest.raises(ServiceError) as refused:
        read_text_payload(json.dumps(document).encode(), CONFIG)
    assert refusal(refused.value) == expected


def test_an_oversized_integer_is_refused_with_the_digit_limit() -> None:
    with pytest.raises(InvalidRequest) as refused:
        read_text_payload(b'{"texts": ["a"], "top_k": ' + b"9" * 40 + b"}", CONFIG)
    assert refusal(refused.value) == (InvalidRequest, "top_k", MAX_INT_DIGITS)
    assert "40 digits" in refused.value.message


def test_the_count_is_refused_before_any_element_is_validated() -> None:
    """100 000 wrong elements cost one count check, not 100 000 validation errors."""
    with pytest.raises(PayloadTooLarge) as refused:
        read_text_payload(b'{"texts": [' + b",".join([b"1"] * 100_000) + b"]}", CONFIG)
    assert refusal(refused.value) == (PayloadTooLarge, "texts", 3)


def test_the_text_body_limit_fits_the_largest_valid_request() -> None:
    limit = text_body_limit(CONFIG)
    assert limit == 3 * 10 * ESCAPED_BYTES_PER_CHAR + 64 * 1024
    largest = json.dumps({"texts": ["\U0001f600" * 10] * 3, "scenario": "s" * 64, "top_k": 10**17}).encode()
    assert len(largest) <= limit and len(read_text_payload(largest, CONFIG).texts) == 3
    assert text_body_limit(ServiceConfig(max_body_bytes=1000)) == 1000


# --- images as JSON and as multipart -----------------------------------------------------------------------------


def test_json_images_accept_plain_data_url_and_wrapped_base64() -> None:
    raw = png()
    encoded = base64.b64encode(raw).decode()
    wrapped = "\r\n".join(encoded[i : i + 20] for i in range(0, len(encoded), 20))
    images = [encoded, "data:image/png;base64," + encoded, wrapped]
    blobs, options = read_json_images(json.dumps({"images": images, "top_k": 1}).encode(), CONFIG)
    assert blobs == [raw] * 3 and options == ClassifyOptions(top_k=1)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("not base64!", (InvalidRequest, "images[0]", None)),
        ("data:image/png," + base64.b64encode(b"x").decode(), (InvalidRequest, "images[0]", None)),
        (base64.b64encode(b"x" * 1001).decode(), (PayloadTooLarge, "images[0]", 1000)),
        ("A" * 10_000_000, (PayloadTooLarge, "images[0]", 1000)),  # refused from its length, before decoding
    ],
)
def test_json_image_refusals(image: str, expected: tuple[type, str | None, Any]) -> None:
    with pytest.raises(ServiceError) as refused:
        read_json_images(json.dumps({"images": [image]}).encode(), CONFIG)
    assert refusal(refused.value) == expected


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, str]:
    """(name, content type or None for a text field, data) -> (body, Content-Type)."""
    chunks = []
    for name, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + ('; filename="f"' if content_type else "")
        head = f"--B\r\nContent-Disposition: {disposition}\r\n" + (
            f"Content-Type: {content_type}\r\n" if content_type else ""
        )
        chunks.append(head.encode() + b"\r\n" + data + b"\r\n")
    return b"".join(chunks) + b"--B--\r\n", "multipart/form-data; boundary=B"


def test_multipart_images_in_order_with_options() -> None:
    body, content_type = multipart(
        ("images", "image/png", b"one"), ("top_k", None, b" 2 "), ("x", "application/octet-stream", b"two")
    )
    blobs, options = read_multipart_images(body, content_type, CONFIG)
    assert blobs == [b"one", b"two"] and options == ClassifyOptions(top_k=2)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([("scenario", None, b"a")], (InvalidRequest, "images", 1)),
        ([("images", "text/plain", b"x")], (UnsupportedMediaType, "images[0]", None)),
        ([("images", "image/png", b"x"), ("colour", None, b"red")], (InvalidRequest, "colour", None)),
        ([("top_k", None, b"1"), ("top_k", None, b"2")], (InvalidRequest, "top_k", None)),
        ([("images", "image/png", b"x"), ("top_k", None, b"0")], (InvalidRequest, "top_k", 1)),
        ([("images", "image/png", b"x" * 1001)], (PayloadTooLarge, "images[0]", 1000)),
    ],
)
def test_multipart_refusals(parts: list[tuple[str, str | None, bytes]], expected: tuple[type, str, Any]) -> None:
    with pytest.raises(ServiceError) as refused:
        read_multipart_images(*multipart(*parts), CONFIG)
    assert refusal(refused.value) == expected


@pytest.mark.parametrize(("text", "value"), [("3", 3), (" -2 ", -2), ("9" * MAX_INT_DIGITS, int("9" * MAX_INT_DIGITS))])
def test_form_integers(text: str, value: int) -> None:
    assert form_int(text, "top_k") == value


@pytest.mark.parametrize("text", ["", "1.0", "1e3", "+1", "\u0663", "\u00b2", "9" * (MAX_INT_DIGITS + 1)])
def test_form_integers_are_ascii_decimals_of_bounded_length(text: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        form_int(text, "top_k")
    assert refused.value.field == "top_k"


# --- decoding ----------------------------------------------------------------------------------------------------


def test_images_decode_fully_and_their_pixels_are_leased() -> None:
    lease = PixelLease(PixelBudget(10_000), 1000)
    images = decode_images([png((8, 8)), png((10, 5), "JPEG")], CONFIG, lease)
    assert [(image.format, image.size) for image in images] == [("PNG", (8, 8)), ("JPEG", (10, 5))]
    assert lease.taken == 8 * 8 + 10 * 5


@pytest.mark.parametrize(
    ("blob", "expected", "leased"),
    [
        (b"", (UndecodableInput, "images[0]", None), 0),
        (b"GIF89a" + b"\0" * 20, (UndecodableInput, "images[0]", None), 0),
        (png(fmt="GIF"), (UndecodableInput, "images[0]", None), 0),
        (png((21, 20)), (PayloadTooLarge, "images[0]", 400), 0),  # the image's own limit, read from its header
        (png((16, 16))[:-30], (UndecodableInput, "images[0]", None), 16 * 16),  # header read, pixels cut short
    ],
)
def test_undecodable_and_oversized_images(blob: bytes, expected: tuple[type, str, Any], leased: int) -> None:
    lease = PixelLease(PixelBudget(10_000), 10_000)
    with pytest.raises(ServiceError) as refused:
        decode_images([blob], CONFIG, lease)
    assert refusal(refused.value) == expected
    assert lease.taken == leased


def test_the_request_pixel_limit_is_checked_before_decoding_the_next_image() -> None:
    lease = PixelLease(PixelBudget(10_000), 150)
    with pytest.raises(PayloadTooLarge) as refused:
        decode_images([png((10, 10)), png((10, 10))], CONFIG, lease)
    assert refusal(refused.value) == (PayloadTooLarge, "images", 150) and lease.taken == 100


@pytest.mark.parametrize(
    ("blobs", "on_loop"),
    [
        ([png((64, 64))], True),
        ([png((8, 8), "JPEG")] * INLINE_DECODE_IMAGES, True),
        ([png((8, 8))] * (INLINE_DECODE_IMAGES + 1), False),  # too many to peek at on the loop
        ([png((64, 64)), png((1, 1))], False),  # more pixels in all than the inline bound
        ([png((65, 64))], False),
        ([png((8, 8)) + b"\0" * 20_000], False),  # too many bytes, whatever the header says
        ([b"not an image" * 2000], False),  # too many bytes: the decode pool reads them
    ],
)
def test_only_a_few_tiny_images_decode_on_the_event_loop(blobs: list[bytes], on_loop: bool) -> None:
    headers = tiny_image_headers(blobs, CONFIG.model_copy(update={"max_image_pixels": 100_000}))
    assert (headers is not None) is on_loop
    if headers is not None:  # opened, not decoded: the pixels wait for the lease
        assert [image.size for image in headers] == [Image.open(io.BytesIO(raw)).size for raw in blobs]


@pytest.mark.parametrize("blob", [b"not an image", png((8, 8))[:20], b""])
def test_a_tiny_request_with_an_unreadable_header_is_refused_on_the_loop(blob: bytes) -> None:
    with pytest.raises(UndecodableInput) as refused:
        tiny_image_headers([png((8, 8)), blob], CONFIG)
    assert refused.value.field == "images[1]"


def test_an_image_request_decodes_tiny_images_on_the_loop_and_others_on_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pooled: list[int] = []

    async def decode_pool(function: Any, blobs: list[bytes], *args: Any) -> Any:
        pooled.append(len(blobs))
        return function(blobs, *args)

    monkeypatch.setattr("service.inputs.decode_off_loop", decode_pool)
    config = CONFIG.model_copy(update={"max_image_bytes": 100_000, "max_image_pixels": 100_000})
    for size in [(8, 8), (100, 100)]:
        body = json.dumps({"images": [base64.b64encode(png(size)).decode()]}).encode()
        incoming, _ = request({"Content-Type": "application/json"}, [body])
        assert [image.size for image in asyncio.run(parse_image_request(incoming, config)).images] == [size]
        for cleanup in incoming.scope[CLEANUPS]:
            cleanup()
    assert pooled == [1]  # the 100x100 image only


# --- the request envelope ----------------------------------------------------------------------------------------


def request(headers: dict[str, str], chunks: list[bytes]) -> tuple[Request, list[bytes]]:
    """A Starlette request whose body arrives in `chunks`; the returned list records the chunks read."""
    read: list[bytes] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks[len(read)]
        read.append(chunk)
        return {"type": "http.request", "body": chunk, "more_body": len(read) < len(chunks)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/image/classify",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        CLEANUPS: [],
    }
    return Request(scope, receive), read


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    incoming, read = request({"Content-Length": "101"}, [b"x" * 101])
    with pytest.raises(PayloadTooLarge) as refused:
        asyncio.run(read_body(incoming, 100))
    assert refusal(refused.value) == (PayloadTooLarge, "body", 100) and read == []


def test_a_streamed_body_is_refused_at_the_chunk_that_passes_the_limit() -> None:
    incoming, read = request({}, [b"x" * 60, b"x" * 60, b"x" * 60])
    with pytest.raises(PayloadTooLarge):
        asyncio.run(read_body(incoming, 100))
    assert len(read) == 2


def test_image_request_refuses_a_wrong_media_type_before_reading() -> None:
    incoming, read = request({"Content-Type": "text/plain"}, [b"x"])
    with pytest.raises(UnsupportedMediaType) as refused:
        asyncio.run(parse_image_request(incoming, CONFIG))
    assert refused.value.allowed == ["application/json", "multipart/form-data"] and read == []


def test_image_request_holds_its_pixels_until_the_request_ends() -> None:
    config = CONFIG.model_copy(update={"max_inflight_pixels": 123_457})  # a budget no other test shares
    body = json.dumps({"images": [base64.b64encode(png()).decode()], "scenario": "batch"}).encode()
    incoming, _ = request({"Content-Type": "application/json"}, [body])
    parsed = asyncio.run(parse_image_request(incoming, config))
    assert [image.size for image in parsed.images] == [(8, 8)] and parsed.options.scenario == "batch"
    budget = shared_budget(config.max_inflight_pixels)
    assert budget.held == 8 * 8
    for cleanup in incoming.scope[CLEANUPS]:  # what RequestCleanup runs once the response has been sent
        cleanup()
    assert budget.held == 0
