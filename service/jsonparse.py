"""Strict, bounded JSON parsing of untrusted request bodies.

`json.loads` alone is not safe on a hostile body: it recurses once per nesting level (100,000 `[` raise
RecursionError), converts integers of any length (a 5,000-digit number raises ValueError past Python's
int-digits limit, and a shorter one still costs quadratic time), accepts `NaN`/`Infinity`, silently keeps the
last of duplicate keys, and guesses UTF-16/32 from the first bytes. `parse_json` refuses each of these with an
`InvalidRequest` (400) that names the limit, before any of it reaches the schema:

- the body must be UTF-8 (RFC 8259), without a byte-order mark;
- nesting deeper than `max_depth` is refused from a scan of the raw bytes, before the parser recurses;
- integers keep at most `max_int_digits` digits: a longer one becomes an `OversizedInt` marker, which schema
  validation then rejects with the field it was found in;
- `NaN`, `Infinity`, `-Infinity` and duplicate keys in one object are refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from service.errors import InvalidRequest, echo

MAX_DEPTH = 16
"""Arrays and objects inside one another; the API's bodies need 2 (an object holding a list)."""
MAX_INT_DIGITS = 18
"""Digits of an integer literal (an int64 has at most 19); anything longer is refused, never converted."""

# A JSON string: a quote, then runs of anything but quote or backslash, or an escape pair, then a quote.
# Possessive quantifiers: linear time, no backtracking on a long string.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
_DEPTH_STEP = np.zeros(256, dtype=np.int8)
_DEPTH_STEP[list(b"[{")] = 1
_DEPTH_STEP[list(b"]}")] = -1
_OPENING = frozenset(b"[{")
SHORT_BRACKETS = 64


@dataclass(frozen=True)
class OversizedInt:
    """An integer literal with more than MAX_INT_DIGITS digits, kept as its digit count, never converted."""

    digits: int


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def without_strings(body: bytes) -> bytes:
    """The JSON text with its strings cut out: what remains is structure, numbers and literals.

    Exact for valid JSON (outside strings, every quote opens a string); for invalid JSON it may keep brackets or
    digits the parser would never reach, which only makes the checks on it stricter."""
    return _STRING.sub(b"", body)


def nesting_depth(skeleton: bytes) -> int:
    """The deepest nesting of arrays and objects in `without_strings(body)`. C speed: everything but brackets
    is dropped by `bytes.translate`, the running depth summed by numpy."""
    brackets = skeleton.translate(None, _NOT_BRACKET)
    if len(brackets) <= SHORT_BRACKETS:  # a typical request ({"texts": [...]}): a loop beats numpy's set-up
        return _short_depth(brackets)
    steps = _DEPTH_STEP[np.frombuffer(brackets, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max())


def _short_depth(brackets: bytes) -> int:
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in _OPENING else -1
        deepest = max(deepest, depth)
    return deepest


def _parse_int(text: str, max_digits: int) -> int | OversizedInt:
    digits = len(text) - text.startswith("-")
    return int(text) if digits <= max_digits else OversizedInt(digits)


def _refuse_constant(name: str) -> NoReturn:
    raise InvalidRequest(f"request body: {name} is not a JSON number", field="body")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def decode_utf8(body: bytes) -> str:
    if body.startswith(b"\xef\xbb\xbf"):
        raise InvalidRequest("request body starts with a byte-order mark; send UTF-8 without one", field="body")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"request body is not UTF-8 (invalid byte at offset {exc.start})", field="body") from None


def parse_json(body: bytes, *, max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS) -> Any:
    """The JSON value of `body`, refusing what the module docstring lists. CPU-bound: call it off the event loop."""
    text = decode_utf8(body)
    skeleton = without_strings(body)
    depth = nesting_depth(skeleton)
    if depth > max_depth:
        raise InvalidRequest(
            f"request body nests arrays/objects {depth} deep; at most {max_depth}", field="body", limit=max_depth
        )
    # The C parser converts integers fastest; the checking hook runs only when a long digit run exists.
    has_long_number = re.search(rb"[0-9]{%d}" % (max_int_digits + 1), skeleton) is not None
    try:
        return json.loads(
            text,
            parse_int=(lambda literal: _parse_int(literal, max_int_digits)) if has_long_number else None,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="body"
        ) from None
    except _DuplicateKey as exc:
        key = echo(exc.key)
        raise InvalidRequest(f"request body repeats the key '{key}' in one object", field=key) from None
    except RecursionError:  # the depth scan makes this unreachable; kept so that it could never be a 500
        raise InvalidRequest(
            f"request body nests too deeply; at most {max_depth}", field="body", limit=max_depth
        ) from None
