"""`service.jsonparse`: strict JSON, nesting counted before parsing, long integers kept as markers."""

from __future__ import annotations

import json

import pytest

from service.errors import InvalidRequest, echo
from service.jsonparse import MAX_INT_DIGITS, OversizedInt, nesting_depth, parse_json, without_strings


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
