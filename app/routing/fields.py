"""The event fields a policy may address, how to read them, and how values compare.

Routing sees `BillingEvent.routing_view()`: plain JSON. A field that is absent or null is
*missing*. Numbers compare as Decimal: ints, Decimals and numeric-looking strings ("25",
"1234.50") are numbers; booleans never are.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final

from app.domain.events import ExceptionType

TEXT: Final = "text"
NUMBER: Final = "number"
ANY: Final = "any"

KNOWN_FIELDS: Final[dict[str, str]] = {
    "event_id": TEXT,
    "source": TEXT,
    "type": TEXT,
    "occurred_at": TEXT,
    "reason": TEXT,
    "requested_by.email": TEXT,
    "requested_by.slack_user_id": TEXT,
    "customer.id": TEXT,
    "customer.name": TEXT,
    "customer.tier": TEXT,
    "contract.id": TEXT,
    "contract.number": TEXT,
    "invoice.key": TEXT,
    "invoice.number": TEXT,
    "invoice.currency": TEXT,
    "invoice.amount": NUMBER,
}
EVENT_TYPES: Final = tuple(member.value for member in ExceptionType)
_DETAIL = re.compile(r"^details(?:\.[A-Za-z0-9_-]+)+$")
_PLAIN = re.compile(r"^[A-Za-z0-9_.@:+/-]+$")


class _Missing:
    """Marker for a field that is absent or null."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
Getter = Callable[[Mapping[str, Any]], Any]


def field_kind(path: str) -> tuple[str | None, str | None]:
    """The kind of a field path (text, number, any), or None and a hint when it is unknown."""
    if path in KNOWN_FIELDS:
        return KNOWN_FIELDS[path], None
    if _DETAIL.match(path):
        return ANY, None
    if path == "details" or path.startswith("details."):
        return None, "address a value inside details as details.<name>, e.g. details.discount_pct"
    parents = {known.split(".")[0] for known in KNOWN_FIELDS if "." in known}
    if path in parents:
        return None, f"{path} is an object; address a field inside it, e.g. {_first_child(path)}"
    return None, did_you_mean(path, [*KNOWN_FIELDS, "details.<name>"])


def _first_child(parent: str) -> str:
    return next(known for known in KNOWN_FIELDS if known.startswith(parent + "."))


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """A `did you mean …?` hint when one of `choices` is close to `word`."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def make_getter(path: str) -> Getter:
    """A function reading the field at a dotted path; MISSING when absent or null."""
    parts = tuple(path.split("."))
    if len(parts) == 1:
        (key,) = parts

        def get1(event: Mapping[str, Any]) -> Any:
            value = event.get(key)
            return MISSING if value is None else value

        return get1
    if len(parts) == 2:
        first, second = parts

        def get2(event: Mapping[str, Any]) -> Any:
            inner = event.get(first)
            if type(inner) is dict or isinstance(inner, Mapping):
                value = inner.get(second)
                return MISSING if value is None else value
            return MISSING

        return get2

    def get_n(event: Mapping[str, Any]) -> Any:
        value: Any = event
        for part in parts:
            if not (type(value) is dict or isinstance(value, Mapping)):
                return MISSING
            value = value.get(part)
            if value is None:
                return MISSING
        return value

    return get_n


@lru_cache(maxsize=8192)
def _text_number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def as_number(value: Any) -> int | Decimal | None:
    """The value as a number if it is one (int, finite Decimal, numeric string), else None."""
    kind = value.__class__
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        return _text_number(value)
    if kind is Decimal:
        return value if value.is_finite() else None
    if kind is float:
        return _text_number(repr(value))
    if isinstance(value, int) and kind is not bool:
        return int(value)
    return None


def show(value: Any) -> str:
    """An event value as explain prints it: plain words bare, other text quoted."""
    if value is MISSING:
        return "(missing)"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return value if _PLAIN.match(value) else _quote(value)
    if isinstance(value, int | Decimal):
        return str(value)
    return _quote(repr(value)) if not isinstance(value, dict | list) else "(an object)"


def _quote(text: str) -> str:
    short = text if len(text) <= 60 else text[:57] + "..."
    return '"' + short.replace('"', '\\"') + '"'
