"""Durations and located YAML: the small readers every other check relies on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.routing.durations import DurationError, format_duration, parse_duration
from app.routing.errors import Problem
from app.routing.safe_yaml import parse_yaml
from app.routing.source import YMap, YScalar, YSeq


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("5d", timedelta(days=5)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1h30m", timedelta(hours=1, minutes=30)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    """Durations with units s, m, h, d (and combinations) parse exactly."""
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8", "duration '8' has no unit; write e.g. 8h or 8m"),
        ("4 hours", "'4 hours' is not a duration; write e.g. 30m, 4h, 5d or 1d12h"),
        ("0h", "duration '0h' is zero; it must be longer than that"),
        ("1h1h", "duration '1h1h' repeats a unit; write e.g. 1d12h"),
        ("400d", "duration '400d' is longer than a year"),
        ("1w", "'1w' is not a duration; write e.g. 30m, 4h, 5d or 1d12h"),
    ],
)
def test_bad_durations(text: str, message: str) -> None:
    """Durations without a unit, zero, repeated units or over a year are refused clearly."""
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


def test_scalars_keep_original_text_kind_and_position() -> None:
    """Each scalar keeps its exact text, YAML kind, quoting and 1-based line:column."""
    problems: list[Problem] = []
    node = parse_yaml('a: 1.10\nb: "25"\nc: [0x1F, 007, true, ~]\n', "f.yml", problems)
    assert problems == []
    assert isinstance(node, YMap)
    a = node.get("a")
    assert a == YScalar("1.10", "float", False, a.pos) if isinstance(a, YScalar) else False
    b = node.get("b")
    assert isinstance(b, YScalar)
    assert (b.text, b.kind, b.quoted) == ("25", "str", True)
    c = node.get("c")
    assert isinstance(c, YSeq)
    assert [(i.text, i.kind) for i in c.items if isinstance(i, YScalar)] == [
        ("0x1F", "int"), ("007", "int"), ("true", "bool"), ("~", "null"),
    ]  # fmt: skip
    assert (c.items[1].pos.line, c.items[1].pos.column) == (3, 11)


def test_yaml_problems_are_located() -> None:
    """Duplicate keys, merge keys, several documents and tags are reported with places."""
    problems: list[Problem] = []
    parse_yaml("a: 1\na: 2\nc: {<<: {k: v}}\nd: !custom 3\n---\ne: 1\n", "f.yml", problems)
    assert [str(p) for p in sorted(problems, key=Problem.sort_key)] == [
        "f.yml:2:1: duplicate key `a` (first at line 1) (hint: each key may appear once in a "
        "mapping; use `all:` to combine conditions)",
        "f.yml:3:5: merge keys (<<) are not supported (hint: write the keys out)",
        "f.yml:4:4: YAML tag !custom is not supported (hint: remove the tag)",
        "f.yml:6:1: a policy file holds one YAML document (hint: remove `---`)",
    ]
