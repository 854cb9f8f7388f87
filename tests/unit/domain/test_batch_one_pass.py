"""The one-pass batch reader gives what the splitter and the strict parser give, or defers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import jsontext
from app.domain.batch import parse_batch, split_body
from app.domain.events import MAX_BATCH

BODIES = [
    '{"events": [{"a": 1}]}',
    ' \n{ "events" :\t[ {"a": "x,]}"} ,{"b": [1, 2.50, {"c": null}]}\r\n] } \n',
    '{"events":[{"q":"say \\"hi\\" ]"},{"u":"\\ud83d\\ude00 é"}, 3, "text", [1]]}',
    '{"events": [{"amount": "48250.00", "pct": 12.5e1, "deep": [[[[{"x": true}]]]]}]}',
]


@pytest.mark.parametrize("body", BODIES)
def test_one_pass_matches_splitter_and_strict_parser(body: str) -> None:
    """Each event's exact text is the splitter's and its document the strict parser's."""
    parsed = parse_batch(body)
    assert parsed is not None
    events, documents = parsed
    assert events == split_body(body).events
    assert documents == jsontext.loads(body)["events"]
    assert [type(d) for d in documents] == [type(d) for d in jsontext.loads(body)["events"]]


@pytest.mark.parametrize(
    "body",
    [
        '{"a": 1}',  # one event, not a batch
        '{"events": []}',  # empty: the splitter says why
        '{"events": [{"a": 1},]}',  # trailing comma
        '{"events": [{"a": 1}]} junk',
        '{"events": [{"a": 1}], "more": 2}',
        '{"\\u0065vents": [{"a": 1}]}',  # an escaped key: left to the careful path
        '{"events": [{"a": 1, "a": 2}]}',  # a refused event: judged on its own later
        '{"events": [{"a": "x\\u0000"}]}',
        '{"events": [{"a": "\\udfff"}]}',
        '{"events": [{"a": "\udcff"}]}',
        '{"events": [{"n": NaN}]}',
        '{"events": [' + "[" * 40 + "]" * 40 + "]}",
        '{"events": [' + ", ".join(["{}"] * (MAX_BATCH + 1)) + "]}",
    ],
)
def test_one_pass_defers_what_it_does_not_accept(body: str) -> None:
    """Anything but a plain batch of strict events goes to the careful path (None)."""
    assert parse_batch(body) is None


def test_strict_parser_still_refuses_risky_escapes() -> None:
    """A text without NUL or surrogate escapes skips the string walk and parses the same."""
    assert not jsontext.may_hold_bad_strings('{"a": "\\u00e9 [x]"}')
    assert jsontext.may_hold_bad_strings('{"a": "\\uD800"}')
    assert jsontext.loads('{"a": "\\u00e9", "b": 1.5}') == {"a": "é", "b": Decimal("1.5")}


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000),
    st.text(max_size=8),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_WS = st.sampled_from(["", " ", "\n", " \t\r\n "])


def _encode(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(_VALUES, min_size=1, max_size=6), _WS, _WS, _WS)
def test_one_pass_agrees_on_generated_batches(items: list[Any], a: str, b: str, c: str) -> None:
    """On generated batches and spacing, the one pass agrees with the careful path or defers."""
    body = f'{a}{{{b}"events"{a}:{c}[{b}' + f"{c},{a}".join(map(_encode, items)) + f"{c}]{a}}}{b}"
    parsed = parse_batch(body)
    try:
        careful = jsontext.loads(body)["events"]
    except jsontext.JsonRefused:
        assert parsed is None
        return
    assert parsed is not None
    assert parsed == (split_body(body).events, careful)
