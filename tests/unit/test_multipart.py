"""`service.multipart`: the in-memory multipart parser and its limits."""

from __future__ import annotations

import pytest

from service.errors import InvalidRequest, PayloadTooLarge
from service.multipart import FormLimits, parse_form

LIMITS = FormLimits(max_files=2, max_fields=3, max_file_bytes=100, max_field_bytes=10)
CONTENT_TYPE = "multipart/form-data; boundary=XyZ"


def form_body(*parts: tuple[str, bytes], close: bool = True) -> bytes:
    body = b"".join(b"--XyZ\r\n" + headers.encode() + b"\r\n\r\n" + data + b"\r\n" for headers, data in parts)
    return body + (b"--XyZ--\r\n" if close else b"")


def file_part(data: bytes, name: str = "images") -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"; filename="a.png"\r\nContent-Type: image/png', data


def text_part(name: str, value: bytes) -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"', value


def test_files_and_fields_in_order() -> None:
    form = parse_form(
        form_body(text_part("top_k", b"2"), file_part(b"\x89PNG"), file_part(b"\xff\xd8")), CONTENT_TYPE, LIMITS
    )
    assert form.fields == [("top_k", "2")]
    assert [(part.name, part.content_type, part.data) for part in form.files] == [
        ("images", "image/png", b"\x89PNG"),
        ("images", "image/png", b"\xff\xd8"),
    ]


@pytest.mark.parametrize(
    ("body", "error", "field", "limit"),
    [
        (form_body(*[file_part(b"x")] * 3), PayloadTooLarge, "images", 2),
        (form_body(file_part(b"x" * 101)), PayloadTooLarge, "images[0]", 100),
        (form_body(file_part(b"x"), file_part(b"y" * 101)), PayloadTooLarge, "images[1]", 100),
        (form_body(*[text_part(f"f{i}", b"v") for i in range(4)]), InvalidRequest, "body", 3),
        (form_body(text_part("scenario", b"s" * 11)), InvalidRequest, "scenario", 10),
        (form_body(text_part("scenario", b"\xff")), InvalidRequest, "body", None),
        (form_body(file_part(b"x"), close=False), InvalidRequest, "body", None),
        (form_body(("Content-Type: image/png", b"x")), InvalidRequest, "body", None),
        (b"\0" * 1000, InvalidRequest, "body", None),
    ],
)
def test_limits_and_malformed_bodies(body: bytes, error: type[Exception], field: str, limit: int | None) -> None:
    with pytest.raises(error) as refused:
        parse_form(body, CONTENT_TYPE, LIMITS)
    assert (refused.value.field, refused.value.limit) == (field, limit)  # type: ignore[attr-defined]


def test_content_type_without_boundary() -> None:
    with pytest.raises(InvalidRequest):
        parse_form(form_body(file_part(b"x")), "multipart/form-data", LIMITS)
