"""Split a webhook body into events, keeping each event's exact text for the raw-event store.

A body is a batch when it is an object with an "events" key; anything else is one event, kept
whatever it holds (intake refuses and stores it when it is not a valid event). A batch is
delimited without parsing its events (one linear pass, no recursion), so a poisoned event is
refused on its own while the others in its batch go through."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from app.domain import jsontext
from app.domain.events import MAX_BATCH

_WS = re.compile(r"[ \t\n\r]*")
_OPENING = re.compile(r'[ \t\n\r]*\{[ \t\n\r]*"events"[ \t\n\r]*:[ \t\n\r]*\[[ \t\n\r]*')
_CLOSING = re.compile(r"[ \t\n\r]*\}[ \t\n\r]*")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]', re.DOTALL)


class BodyError(ValueError):
    """The body is a batch ({"events": [...]}) that cannot be delimited into events."""


class BatchTooLarge(BodyError):
    pass


@dataclass(frozen=True)
class Body:
    events: list[str]
    batch: bool


def parse_item(text: str) -> Any:
    """Parse one event strictly (bounded, no duplicate keys, fractions as Decimal)."""
    return jsontext.loads(text)


def is_batch(document: Any) -> bool:
    return isinstance(document, dict) and "events" in document


def split_events(text: str) -> list[str]:
    """Return the raw text of each event: the body itself, or each item of {"events": [...]}."""
    return split_body(text).events


def split_body(text: str) -> Body:
    """The events of `text` and whether it was a batch; BodyError for a malformed batch."""
    shallow = list(_shallow_tokens(text))
    members = _members(text, shallow)
    if members is None or "events" not in (member.key for member in members):
        return Body([text], batch=False)
    if len(members) != 1:
        raise BodyError('a batch is {"events": [...]} with no other (or repeated) keys')
    items = _items(text, shallow, members[0])
    if not items:
        raise BodyError('"events" must be a non-empty list of events')
    if len(items) > MAX_BATCH:
        raise BatchTooLarge(f"a batch holds at most {MAX_BATCH} events, this one {len(items)}")
    _check_envelope(text, items)
    return Body([text[start:end] for start, end in items], batch=True)


def parse_batch(text: str) -> tuple[list[str], list[Any]] | None:
    """Each event's exact text and strict document, in one pass of the C parser, when `text`
    is a plain batch `{"events": [...]}` whose every event is strict JSON; None otherwise
    (not a batch, a malformed or oversized one, a refused event: then split_body and
    jsontext.loads judge it, and say why). Gives exactly what they give for such a text."""
    opening = _OPENING.match(text)
    if opening is None:
        return None
    try:
        jsontext.check_bounds(text)
    except jsontext.JsonRefused:
        return None
    check = jsontext.may_hold_bad_strings(text)
    events: list[str] = []
    documents: list[Any] = []
    index = opening.end()
    while len(events) < MAX_BATCH:
        try:
            document, end = jsontext.decode_at(text, index)
            if check:
                jsontext.check_strings(document)
        except jsontext.JsonRefused:
            return None
        events.append(text[index:end])
        documents.append(document)
        index = _skip(text, end)
        separator = text[index : index + 1]
        if separator == "]":
            closing = _CLOSING.match(text, index + 1)
            return (events, documents) if closing and closing.end() == len(text) else None
        if separator != ",":
            return None
        index = _skip(text, index + 1)
    return None


def _shallow_tokens(text: str) -> Iterator[tuple[int, str, int]]:
    """(position, token, depth) of each string or punctuation at depth 0..2, depth being that
    of the container the token sits in (an opener counts at its outer depth)."""
    depth = 0
    for match in _TOKEN.finditer(text):
        text_token = match.group()
        if text_token in ("]", "}"):
            depth -= 1
        if depth <= 2:
            yield match.start(), text_token, depth
        if text_token in ("[", "{"):
            depth += 1


def _skip(text: str, index: int) -> int:
    match = _WS.match(text, index)
    return match.end() if match else index


def _members(text: str, shallow: list[tuple[int, str, int]]) -> list[_Member] | None:
    """The top object's members, or None when the body is not one well-delimited JSON object
    (then it is a single event, not a batch)."""
    if not shallow or shallow[0][1] != "{" or shallow[0][0] != _skip(text, 0):
        return None
    top = [(p, t) for p, t, d in shallow[1:] if d <= 1]
    last, closer = top[-1] if top else (0, "")
    if closer != "}" or _skip(text, last + 1) != len(text):
        return None
    top.pop()
    if any(d == 0 for _, _, d in shallow[1:-1]) or any(p > last for p, _, _ in shallow):
        return None
    members: list[_Member] = []
    index = 0
    while index < len(top):
        if index + 1 >= len(top) or top[index][1][0] != '"' or top[index + 1][1] != ":":
            return None
        try:
            key = json.loads(top[index][1])
        except ValueError:
            return None
        start = _skip(text, top[index + 1][0] + 1)
        index += 2
        value: list[tuple[int, str]] = []
        while index < len(top) and top[index][1] != ",":
            value.append(top[index])
            index += 1
        members.append(_Member(key, start, top[index][0] if index < len(top) else last, value))
        index += 1
        if index == len(top) and top[-1][1] == ",":
            return None  # a trailing comma
    return members


@dataclass(frozen=True)
class _Member:
    key: str
    start: int
    end: int
    tokens: list[tuple[int, str]]


def _items(
    text: str, shallow: list[tuple[int, str, int]], member: _Member
) -> list[tuple[int, int]]:
    """The span of each item of the array that is `member`'s value."""
    close = len(text[: member.end].rstrip(" \t\n\r")) - 1
    if [t for _, t in member.tokens] != ["[", "]"] or (member.start, close) != tuple(
        p for p, _ in member.tokens
    ):
        raise BodyError('"events" must be a non-empty list of events')
    if _skip(text, member.start + 1) == close:
        return []
    inner = [p for p, t, d in shallow if member.start < p < close and d == 2 and t == ","]
    bounds = [member.start, *inner, close]
    items = [_strip(a + 1, b, text) for a, b in pairwise(bounds)]
    if any(a == b for a, b in items):
        raise BodyError("the events list has an empty item")
    return items


def _strip(start: int, end: int, text: str) -> tuple[int, int]:
    start = _skip(text, start)
    return start, max(start, len(text[:end].rstrip(" \t\n\r")))


def _check_envelope(text: str, items: list[tuple[int, int]]) -> None:
    """With each event replaced by 0, the body must be exactly {"events": [0, ...]} as JSON:
    nothing but the envelope and whitespace outside the events."""
    pieces, last = [], 0
    for start, end in items:
        pieces += [text[last:start], "0"]
        last = end
    pieces.append(text[last:])
    try:
        skeleton = json.loads("".join(pieces))
    except ValueError:
        raise BodyError('a batch must be a JSON object {"events": [...]}') from None
    if skeleton != {"events": [0] * len(items)}:
        raise BodyError('a batch must be a JSON object {"events": [...]}')
