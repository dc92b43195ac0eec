"""JSON request bodies: refused with a 400 naming the field before any parser trips on them.

Three things in valid JSON text still break a request after parsing: nesting deep enough
to exhaust a recursive parser, an integer of more digits than Python converts
(`sys.get_int_max_str_digits()`, 4,300: `json.loads` raises a bare ValueError), and a lone
UTF-16 surrogate escape (`"\\ud800"`), which parses into a str that no UTF-8 encoder (Postgres,
Redis, our envelope) accepts. The middleware checks every JSON body for all three
(`refuse_unreadable_json`); views that read their own body (contact imports) call
`load_json_object`.

The checks are cheap scans of the text; only a body they flag is parsed (with big integers
kept as text) to find the field, so well-formed bodies cost one regex pass.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from umbrella.core.errors import ValidationFailed

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_JSON_CONTAINER = re.compile(rb"\s*[\[{]")
# A high surrogate escape not followed by a low one, or a low one not preceded by a high one.
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
# Python's own default, kept when an interpreter runs without a limit.
DEFAULT_MAX_INT_DIGITS = 4_300


def json_too_deep(raw: bytes, max_depth: int) -> bool:
    """True when JSON text nests arrays and objects deeper than `max_depth`, without parsing it.

    Strings are cut out first (brackets inside them do not nest), then brackets are counted.
    """
    return _too_deep(_JSON_STRING.sub(b"", raw), max_depth)


def _too_deep(outside_strings: bytes, max_depth: int) -> bool:
    depth = 0
    for byte in outside_strings.translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def refuse_unreadable_json(raw: bytes, *, max_depth: int) -> None:
    """Raise `ValidationFailed` for JSON text nested past `max_depth` (field `body`), or holding
    a huge integer or a lone surrogate (its field); the strings are cut out once for both."""
    outside_strings = _JSON_STRING.sub(b"", raw)
    if _JSON_CONTAINER.match(raw) and _too_deep(outside_strings, max_depth):
        raise ValidationFailed(
            f"The JSON body is nested too deeply: at most {max_depth} levels.", field="body"
        )
    _refuse_unreadable_values(raw, outside_strings)


def max_int_digits() -> int:
    """The most digits an integer in a body may have: what `int()` converts here."""
    return sys.get_int_max_str_digits() or DEFAULT_MAX_INT_DIGITS


class _HugeInt:
    """Stands in for an integer too long to convert, so its place can be named."""


_HUGE = _HugeInt()


@functools.cache
def _digits_past(limit: int) -> re.Pattern[bytes]:
    return re.compile(rb"\d{%d,}" % (limit + 1))


def _refuse_unreadable_values(raw: bytes, outside_strings: bytes) -> None:
    """Raise `ValidationFailed` on the first huge integer or lone surrogate in JSON text.

    Text that is not JSON is left alone: whoever reads it as JSON says so.
    """
    limit = max_int_digits()
    if not _LONE_SURROGATE.search(raw) and not _digits_past(limit).search(outside_strings):
        return
    try:
        data = json.loads(raw, parse_int=lambda text: _HUGE if len(text) > limit else int(text))
    except ValueError:
        return
    for path, value in _walk(data, ()):
        if value is _HUGE:
            raise ValidationFailed(
                f"Numbers may have at most {limit:,} digits.", field=_field(path)
            )
        if isinstance(value, str) and not _encodable(value):
            raise ValidationFailed(
                "This text is not valid Unicode: it holds a lone surrogate (like \\ud800).",
                field=_field(path),
            )


def load_json_object(raw: bytes, *, max_depth: int) -> dict[str, Any]:
    """A JSON object body, or `ValidationFailed` naming the field (`body` for the whole)."""
    refuse_unreadable_json(raw, max_depth=max_depth)
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValidationFailed("The request body is not valid JSON.", field="body") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.", field="body")
    return data


def _walk(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every value under `value` with its path; an object's keys count as values at their path."""
    stack: list[tuple[tuple[str, ...], Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                yield (*where, key), key
                children.append(((*where, key), child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([((*where, str(i)), child) for i, child in enumerate(item)]))
        else:
            yield where, item


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _field(path: tuple[str, ...]) -> str:
    # A key may itself hold the surrogate: the name must still be text our envelope can write.
    name = ".".join(path) or "body"
    return name.encode("utf-8", "backslashreplace").decode()
