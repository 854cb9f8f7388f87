"""Strict JSON for billing events: bounded before parsing, unambiguous after.

Before the parser runs, one pass over the text bounds the nesting depth and the length of every
number token, so nothing can exhaust the recursion limit or the int-conversion limit. The
parser then refuses duplicate keys (the stored raw payload must mean one thing only), NaN and
Infinity, numbers whose exponent is out of range, and strings holding NUL or a lone surrogate
(which no database stores faithfully). Fractions parse as Decimal, never float."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 100
MAX_EXPONENT = 100  # |exponent| of a JSON number, e.g. 1e100

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[^\[\]{}]+")
_LONG_NUMBER = re.compile(f"[-+0-9.eE]{{{MAX_NUMBER_CHARS + 1},}}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
# An escape that may decode to NUL or a surrogate (a valid pair is checked, and passes, too).
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class JsonRefused(ValueError):
    """The text is not strict JSON as events must be; the message says why, in one line."""


def show(text: str, limit: int = 40) -> str:
    """A short, printable, ASCII-safe rendering of untrusted text for a message."""
    shown = repr(text[:limit])
    return shown + "…" if len(text) > limit else shown


def safe_text(text: str) -> str:
    """`text` with NUL and lone surrogates written as backslash escapes: storable anywhere."""
    if not _BAD_CHAR.search(text):
        return text
    cleaned = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return cleaned.replace("\x00", "\\x00")


def check_bounds(text: str, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than MAX_DEPTH or a number token over MAX_NUMBER_CHARS characters.

    Strings are blanked first, so brackets and digits inside them do not count. Runs in C-level
    loops: linear in the text, no recursion."""
    code = _STRING.sub('""', text)
    if _LONG_NUMBER.search(code):
        raise JsonRefused(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    brackets = _BRACKETS.sub("", code).encode("ascii")
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth:
        raise JsonRefused(f"nested deeper than {max_depth} levels")


def _number(token: str) -> Decimal:
    try:
        value = Decimal(token)
    except InvalidOperation:
        raise JsonRefused(f"number {show(token)} is out of range") from None
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or abs(exponent) > MAX_EXPONENT:
        raise JsonRefused(f"number {show(token)} is out of range (exponent over {MAX_EXPONENT})")
    return value


def _constant(token: str) -> Any:
    raise JsonRefused(f"{token} is not a JSON number")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonRefused(f"duplicate key {show(key)}: the event would be ambiguous")
            seen.add(key)
    return document


_STRICT = json.JSONDecoder(object_pairs_hook=_unique, parse_float=_number, parse_constant=_constant)
_LENIENT = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str)


def _strings(value: Any) -> Iterator[str]:
    """Every key and string value (depth is already bounded, so recursion is safe)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def loads(text: str) -> Any:
    """Parse `text` strictly (see the module docstring); JsonRefused says what is wrong."""
    check_bounds(text)
    try:
        document = _STRICT.decode(text)
    except json.JSONDecodeError as error:
        raise JsonRefused(f"not valid JSON: {error.msg} at character {error.pos}") from None
    if may_hold_bad_strings(text):
        check_strings(document)
    return document


def may_hold_bad_strings(text: str) -> bool:
    """False when no string parsed from `text` can hold NUL or a lone surrogate: the text has
    neither as a character nor an escape that could decode to one (one C-level scan, so the
    parsed document is walked only when it might be refused)."""
    return _BAD_CHAR.search(text) is not None or _RISKY_ESCAPE.search(text) is not None


def check_strings(document: Any) -> None:
    """Refuse a key or string value holding NUL or a lone surrogate."""
    for string in _strings(document):
        bad = _BAD_CHAR.search(string)
        if bad is not None:
            what = "NUL" if bad.group() == "\x00" else "a lone surrogate or invalid UTF-8"
            raise JsonRefused(f"a string holds {what}: {show(string)}")


def decode_at(text: str, index: int) -> tuple[Any, int]:
    """The strict JSON value starting exactly at `index` and the index just after it, for a
    caller that has run check_bounds on the whole text and checks strings itself
    (may_hold_bad_strings / check_strings). JsonRefused when no strict value starts there."""
    try:
        return _STRICT.raw_decode(text, index)
    except json.JSONDecodeError as error:
        raise JsonRefused(f"not valid JSON: {error.msg} at character {error.pos}") from None


def loads_lenient(text: str) -> Any:
    """Best-effort parse (last duplicate wins, numbers kept as text) of bounded text, or None.

    Used only to name a refused event (its source and event_id) in the rejection record."""
    try:
        check_bounds(text)
        return _LENIENT.decode(text)
    except ValueError:  # JsonRefused and JSONDecodeError
        return None
