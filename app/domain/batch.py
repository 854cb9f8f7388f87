"""Split a webhook body into events, keeping each event's exact bytes for the raw-event store."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from app.domain.events import MAX_BATCH

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder(parse_float=Decimal)


class BodyError(ValueError):
    """The body is not JSON, or not one event or {"events": [...]}."""


class BatchTooLarge(BodyError):
    pass


def parse_item(text: str) -> Any:
    """Parse JSON with every fractional number as Decimal, never float."""
    return _DECODER.decode(text)


def is_batch(document: Any) -> bool:
    return isinstance(document, dict) and "events" in document


def split_events(text: str) -> list[str]:
    """Return the raw text of each event: the body itself, or each item of {"events": [...]}."""
    try:
        document = parse_item(text)
    except json.JSONDecodeError as error:
        raise BodyError(f"body is not valid JSON: {error}") from None
    if not is_batch(document):
        return [text]
    if set(document) != {"events"}:
        raise BodyError('a batch is {"events": [...]} with no other keys')
    events = document["events"]
    if not isinstance(events, list) or not events:
        raise BodyError('"events" must be a non-empty list of events')
    if len(events) > MAX_BATCH:
        raise BatchTooLarge(f"a batch holds at most {MAX_BATCH} events, this one {len(events)}")
    return _array_items(text, _events_array_start(text))


def _skip(text: str, index: int) -> int:
    match = _WS.match(text, index)
    return match.end() if match else index


def _events_array_start(text: str) -> int:
    """Index of the `[` opening the value of the last "events" key (json.loads keeps the last)."""
    index, found = _skip(text, 0) + 1, -1  # past the opening brace
    while True:
        index = _skip(text, index)
        key, index = _DECODER.raw_decode(text, index)
        index = _skip(text, _skip(text, index) + 1)  # past the colon
        if key == "events":
            found = index
        _, index = _DECODER.raw_decode(text, index)
        index = _skip(text, index)
        if text[index] == "}":
            return found
        index += 1  # past the comma


def _array_items(text: str, index: int) -> list[str]:
    items: list[str] = []
    index = _skip(text, index + 1)
    while text[index] != "]":
        _, end = _DECODER.raw_decode(text, index)
        items.append(text[index:end])
        index = _skip(text, end)
        if text[index] == ",":
            index = _skip(text, index + 1)
    return items
