"""The pure parts of input hardening: strict JSON, in-memory multipart, pixel budgets, echoing client values."""

from __future__ import annotations

import json
import threading

import pytest

from service.budget import LeaseClosed, PixelBudget, PixelLease
from service.errors import ImageBudgetExhausted, InvalidRequest, PayloadTooLarge, echo
from service.jsonparse import MAX_INT_DIGITS, OversizedInt, nesting_depth, parse_json, without_strings
from service.multipart import FormLimits, parse_form

# --- JSON ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b'"a"', 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["[[[[", "]]]]"]', 1),  # brackets inside strings do not count
        (b'["\\"[[[", "\\\\", [["x"]]]', 3),  # escaped quote and escaped backslash
        (b'{"k": "\\u005b\\u005b"}', 1),
        (b"[" * 5000 + b"]" * 5000, 5000),
    ],
)
def test_nesting_depth_counts_outside_strings(text: bytes, depth: int) -> None:
    assert nesting_depth(without_strings(text)) == depth


def test_nesting_depth_matches_the_parser_on_generated_documents() -> None:
    def depth_of(value: object) -> int:
        if isinstance(value, list):
            return 1 + max((depth_of(item) for item in value), default=0)
        if isinstance(value, dict):
            return 1 + max((depth_of(item) for item in value.values()), default=0)
        return 0

    documents = [
        {"texts": ['a"]b', "[{", "\\"], "n": [[1], {"x": ["}"]}]},
        [[[['\\"', "]"]]], {"a": {"b": {"c": "{{{"}}}],
        {'"key[': [{"": []}]},
    ]
    for document in documents:
        encoded = json.dumps(document).encode()
        assert nesting_depth(without_strings(encoded)) == depth_of(document), encoded


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        (b"[" * 100_000, 16),
        (b'{"a": ' + b"[" * 17 + b"]" * 17 + b"}", 16),
    ],
)
def test_deep_nesting_is_refused_before_parsing(body: bytes, limit: int) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_json(body)
    assert (refused.value.field, refused.value.limit) == ("body", limit)


def test_depth_limit_is_a_parameter() -> None:
    assert parse_json(b"[[1]]", max_depth=2) == [[1]]
    with pytest.raises(InvalidRequest):
        parse_json(b"[[[1]]]", max_depth=2)


def test_long_integers_are_kept_as_markers_never_converted() -> None:
    value = parse_json(b'{"a": ' + b"9" * 5000 + b', "b": -' + b"1" * 19 + b', "c": ' + b"1" * MAX_INT_DIGITS + b"}")
    assert value == {"a": OversizedInt(5000), "b": OversizedInt(19), "c": int("1" * MAX_INT_DIGITS)}


def test_long_digit_runs_in_strings_and_floats_are_not_integers() -> None:
    assert parse_json(b'{"s": "' + b"9" * 50 + b'", "f": 1.' + b"0" * 40 + b"}") == {"s": "9" * 50, "f": 1.0}


@pytest.mark.parametrize(
    "body",
    [
        b"NaN",
        b"[Infinity]",
        b'{"a": -Infinity}',
        b'{"a": 1, "a": 2}',
        b"\xef\xbb\xbf{}",
        '{"a": 1}'.encode("utf-16"),
        b'["\xff"]',
        b'["\xed\xa0\x80"]',  # a surrogate encoded as UTF-8 bytes: not UTF-8
        b"",
        b"{",
        b"[1,]",
    ],
)
def test_what_json_loads_would_accept_or_crash_on_is_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_json(body)


def test_duplicate_key_is_named_and_cut() -> None:
    key = "k" * 100
    with pytest.raises(InvalidRequest) as refused:
        parse_json(json.dumps({key: 1}).encode()[:-1] + f', "{key}": 2}}'.encode())
    assert refused.value.field == echo(key)
    assert len(refused.value.field) < 70


# --- echo ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "echoed"),
    [
        ("realtime", "realtime"),
        ("\x7f\x00\x1b", "\\x7f\\x00\\x1b"),
        ("caf\u00e9 \ud800", "caf\\xe9 \\ud800"),
        ("a" * 45, "a" * 40 + "...(+5 characters)"),
    ],
)
def test_echo_cuts_and_escapes(value: str, echoed: str) -> None:
    assert echo(value) == echoed
    assert echo(value).isascii() and echo(value).isprintable()


# --- multipart ----------------------------------------------------------------------------------------------------

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


# --- pixel budgets ------------------------------------------------------------------------------------------------


def test_lease_checks_the_request_limit_then_the_shared_budget() -> None:
    budget = PixelBudget(100)
    first, second = PixelLease(budget, 60), PixelLease(budget, 60)
    first.take(50, "images[0]")
    with pytest.raises(PayloadTooLarge) as too_many:
        first.take(11, "images[1]")
    assert (too_many.value.field, too_many.value.limit) == ("images", 60)
    second.take(50, "images[0]")
    with pytest.raises(ImageBudgetExhausted) as busy:
        second.take(1, "images[1]")
    assert (busy.value.status, busy.value.limit) == (503, 100)
    first.release()
    second.take(10, "images[1]")
    second.release()
    assert budget.held == 0


def test_a_released_lease_takes_nothing_more() -> None:
    budget = PixelBudget(100)
    lease = PixelLease(budget, 100)
    lease.take(10, "images[0]")
    lease.release()
    with pytest.raises(LeaseClosed):
        lease.take(10, "images[1]")
    assert budget.held == 0


def test_budget_is_consistent_under_threads() -> None:
    budget = PixelBudget(1000)

    def churn() -> None:
        for _ in range(2000):
            if budget.try_take(7):
                budget.give_back(7)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert budget.held == 0
