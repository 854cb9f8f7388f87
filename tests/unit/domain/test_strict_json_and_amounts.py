"""Strict event JSON (bounded before parsing, unambiguous after) and bounded amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain import jsontext
from app.domain.batch import BodyError, split_body
from app.domain.lifecycle import parse_label
from app.domain.money import MoneyError, parse_amount


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[" * 1000 + "]" * 1000, "nested deeper than 32"),
        ('{"n": ' + "7" * 5000 + "}", "longer than 100"),
        ('{"n": 1e999999999999999999999}', "out of range"),
        ('{"n": 1e400}', "out of range"),
        ('{"n": NaN}', "not a JSON number"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": "x\\u0000"}', "NUL"),
        ('{"a": "\\ud800"}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        ('{"a": "\udcff"}', "lone surrogate or invalid UTF-8"),
        ('{"a": ', "not valid JSON"),
    ],
)
def test_strict_json_refuses_with_a_reason(text: str, why: str) -> None:
    """Deep nesting, long or out-of-range numbers, duplicates, NUL and surrogates are refused."""
    with pytest.raises(jsontext.JsonRefused, match=why):
        jsontext.loads(text)


def test_strict_json_ignores_brackets_and_digits_inside_strings() -> None:
    """Brackets and digits inside strings do not count toward depth or number length."""
    text = '{"a": "' + "[" * 500 + "9" * 500 + '", "b": 1.25, "c": "\\ud83d\\ude00"}'
    assert jsontext.loads(text) == {"a": "[" * 500 + "9" * 500, "b": Decimal("1.25"), "c": "😀"}


def test_safe_text_escapes_what_no_database_stores() -> None:
    """NUL and lone surrogates become backslash escapes; other text is unchanged."""
    assert jsontext.safe_text("a\x00b\ud800é") == "a\\x00b\\ud800é"
    assert jsontext.safe_text("plain é") == "plain é"


@pytest.mark.parametrize(
    "text", ["1e400", "-1e400", "1" + "0" * 18, "1.1234567", "NaN", "٣", "1_000", "0x10", ""]
)
def test_amounts_outside_what_the_column_holds_are_refused(text: str) -> None:
    """Exponents, 10^18 and more, a 7th decimal place and non-ASCII digits are refused."""
    with pytest.raises(MoneyError):
        parse_amount(text)


def test_the_largest_amount_the_column_holds_is_accepted() -> None:
    """999999999999999999.999999 fits NUMERIC(24, 6); trailing zeros past 6 places are fine."""
    assert parse_amount("999999999999999999.999999") == Decimal("999999999999999999.999999")
    assert parse_amount("1.1234560000") == Decimal("1.123456")


def test_a_deep_event_in_a_batch_is_delimited_without_parsing_it() -> None:
    """A batch keeps its other events even when one is nested 5,000 deep."""
    deep = "[" * 5000 + "]" * 5000
    body = '{"events": [{"a": 1}, ' + deep + ', {"b": "x,]"}]}'
    assert split_body(body).events == ['{"a": 1}', deep, '{"b": "x,]"}']


@pytest.mark.parametrize("body", ['{ junk "events": [1]}', '{"events": [1]} trailing'])
def test_junk_around_a_batch_is_not_a_batch(body: str) -> None:
    """Anything but whitespace outside the events makes a batch malformed (or one event)."""
    try:
        parts = split_body(body)
    except BodyError:
        return
    assert parts.events == [body]


@pytest.mark.parametrize("text", ["9999999999999999999999999", "²", "BX-1234567890", "1.5"])
def test_odd_exception_ids_are_a_value_error(text: str) -> None:
    """An id too long for the column, or not ASCII digits, is refused before any query."""
    with pytest.raises(ValueError, match="not an exception id"):
        parse_label(text)
