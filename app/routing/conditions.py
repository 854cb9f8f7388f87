"""Compiled conditions: each `when` becomes a tree of nodes, built once at load.

Every node offers two views of the same rule: `predicate()` — a closure the router calls, no
parsing or regex compilation per event — and `explain(event)` — the same decision with the
reasons in words. Property tests check the two always agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.routing.fields import EVENT_TYPES, MISSING, Getter, as_number, make_getter, show

Predicate = Callable[[Mapping[str, Any]], bool]
Verdict = tuple[bool, list[str]]
ALL_TYPES = frozenset(EVENT_TYPES)
SYMBOLS = {"eq": "=", "ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥"}


@dataclass(frozen=True)
class Operand:
    """A value written in a policy: text, a Decimal number, or true/false; `text` as written."""

    value: str | Decimal | bool
    text: str

    def equals(self, value: Any) -> bool:
        """Equality rules: text equals text exactly; a number equals any numeric value."""
        if isinstance(self.value, bool):
            return value is self.value
        if isinstance(self.value, str):
            return bool(value == self.value) and isinstance(value, str)
        number = as_number(value)
        return number is not None and number == self.value


def _always(_: Mapping[str, Any]) -> bool:
    return True


class Cond:
    """A condition node."""

    def predicate(self) -> Predicate:
        raise NotImplementedError

    def explain(self, event: Mapping[str, Any]) -> Verdict:
        raise NotImplementedError

    def key(self) -> tuple[Any, ...]:
        """A canonical form: two conditions with equal keys match the same events."""
        raise NotImplementedError

    def type_set(self) -> frozenset[str] | None:
        """The event types this condition can match, or None when it does not constrain type."""
        return None

    def type_only(self) -> bool:
        """True when the condition says nothing but "type is one of `type_set()`"."""
        return False

    def without_type(self) -> Cond:
        """The condition left to test once the event's type is known to be in `type_set()`."""
        return Always() if self.type_only() else self


class Always(Cond):
    """No `when`: the route matches every event (a catch-all)."""

    def predicate(self) -> Predicate:
        return _always

    def explain(self, event: Mapping[str, Any]) -> Verdict:
        return True, ["catch-all: no `when`, matches every event"]

    def key(self) -> tuple[Any, ...]:
        return ("always",)


class FieldTest(Cond):
    """One operator applied to one field: `details.discount_pct: {gte: 20}`."""

    def __init__(
        self, path: str, op: str, operands: tuple[Operand, ...], regex: re.Pattern[str] | None
    ) -> None:
        self.path, self.op, self.operands, self.regex = path, op, operands, regex
        self.get: Getter = make_getter(path)
        self.test: Predicate = self.predicate()

    def key(self) -> tuple[Any, ...]:
        values = tuple(sorted(repr(_canonical(o.value)) for o in self.operands))
        return ("field", self.path, self.op, values)

    def type_set(self) -> frozenset[str] | None:
        if self.path != "type":
            return None
        listed = frozenset(str(o.value) for o in self.operands)
        if self.op in ("eq", "in"):
            return listed & ALL_TYPES
        if self.op in ("ne", "not_in"):
            return ALL_TYPES - listed
        return None

    def type_only(self) -> bool:
        return self.type_set() is not None

    def predicate(self) -> Predicate:
        get, op = self.get, self.op
        if op in ("eq", "ne"):
            inner = _equals(get, self.operands[0])
            return inner if op == "eq" else _negate(inner)
        if op in ("in", "not_in"):
            inner = _member(get, self.operands)
            return inner if op == "in" else _negate(inner)
        if op == "exists":
            want = self.operands[0].value is True

            def exists(event: Mapping[str, Any]) -> bool:
                return (get(event) is not MISSING) is want

            return exists
        if op == "matches":
            assert self.regex is not None
            fullmatch = self.regex.fullmatch

            def matches(event: Mapping[str, Any]) -> bool:
                text = _text(get(event))
                return text is not None and fullmatch(text) is not None

            return matches
        return _compare(get, op, [o.value for o in self.operands])

    def explain(self, event: Mapping[str, Any]) -> Verdict:
        value = self.get(event)
        ok = self.test(event)
        return ok, [self._say(value, ok)]

    def _say(self, value: Any, ok: bool) -> str:
        path, op, shown = self.path, self.op, show(value)
        first = self.operands[0].text if self.operands else ""
        listed = "[" + ", ".join(o.text for o in self.operands) + "]"
        if op == "exists":
            present = value is not MISSING
            return f"{path} is {'present' if present else 'missing'}" + (
                f" ({shown})" if present else ""
            )
        if value is MISSING:
            return f"{path} is missing" + (" (so it counts as different)" if ok else "")
        if op in ("eq", "ne"):
            same = (op == "eq") == ok
            if same:
                return f"{path} = {first}" if shown == first else f"{path} {shown} = {first}"
            operand = self.operands[0].value
            if isinstance(operand, str) and not isinstance(value, str) and as_number(value):
                return f'{path} is the number {shown}, not the text "{first}" (quoted in policy)'
            return f"{path} is {shown}, not {first}" + self._kind_note(value)
        if op in ("in", "not_in"):
            inside = (op == "in") == ok
            return f"{path} {shown} is {'' if inside else 'not '}one of {listed}"
        if op == "matches":
            if _text(value) is None:
                return f"{path} {shown} is not text"
            return f"{path} {shown} {'matches' if ok else 'does not match'} /{first}/"
        if as_number(value) is None:
            return f"{path} {shown} is not a number"
        if op == "between":
            word = "is" if ok else "is not"
            return f"{path} {shown} {word} between {first} and {self.operands[1].text}"
        return f"{path} {shown} {'' if ok else 'is not '}{SYMBOLS[op]} {first}"

    def _kind_note(self, value: Any) -> str:
        operand = self.operands[0].value
        if isinstance(operand, Decimal) and isinstance(value, str) and as_number(value) is None:
            return " (not a number)"
        return ""


def _canonical(value: str | Decimal | bool) -> object:
    if isinstance(value, Decimal):
        return ("number", value.normalize())
    return (type(value).__name__, value)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return None


def _negate(inner: Predicate) -> Predicate:
    def negated(event: Mapping[str, Any]) -> bool:
        return not inner(event)

    return negated


def _equals(get: Getter, operand: Operand) -> Predicate:
    target = operand.value
    if isinstance(target, bool):

        def eq_bool(event: Mapping[str, Any]) -> bool:
            return get(event) is target

        return eq_bool
    if isinstance(target, str):

        def eq_text(event: Mapping[str, Any]) -> bool:
            value = get(event)
            return value.__class__ is str and value == target

        return eq_text

    def eq_number(event: Mapping[str, Any]) -> bool:
        number = as_number(get(event))
        return number is not None and number == target

    return eq_number


def _member(get: Getter, operands: tuple[Operand, ...]) -> Predicate:
    texts = frozenset(o.value for o in operands if isinstance(o.value, str))
    numbers = frozenset(o.value for o in operands if isinstance(o.value, Decimal))
    flags = tuple(o.value for o in operands if isinstance(o.value, bool))

    def member(event: Mapping[str, Any]) -> bool:
        value = get(event)
        if value.__class__ is str and value in texts:
            return True
        if numbers:
            number = as_number(value)
            if number is not None and number in numbers:
                return True
        return bool(flags) and (value is True or value is False) and value in flags

    return member


def _compare(get: Getter, op: str, bounds: list[Any]) -> Predicate:
    low = bounds[0]
    if op == "between":
        high = bounds[1]

        def between(event: Mapping[str, Any]) -> bool:
            n = as_number(get(event))
            return n is not None and low <= n <= high

        return between

    def lt(event: Mapping[str, Any]) -> bool:
        n = as_number(get(event))
        return n is not None and n < low

    def lte(event: Mapping[str, Any]) -> bool:
        n = as_number(get(event))
        return n is not None and n <= low

    def gt(event: Mapping[str, Any]) -> bool:
        n = as_number(get(event))
        return n is not None and n > low

    def gte(event: Mapping[str, Any]) -> bool:
        n = as_number(get(event))
        return n is not None and n >= low

    comparisons: dict[str, Predicate] = {"lt": lt, "lte": lte, "gt": gt, "gte": gte}
    return comparisons[op]


def _joined(reasons: list[str]) -> str:
    return reasons[0] if len(reasons) == 1 else "(" + " and ".join(reasons) + ")"


class AllOf(Cond):
    """Every child must match: the keys of one `when` mapping, or `all: [...]`."""

    def __init__(self, children: tuple[Cond, ...]) -> None:
        self.children = children

    def key(self) -> tuple[Any, ...]:
        return ("all", tuple(sorted((c.key() for c in self.children), key=repr)))

    def type_set(self) -> frozenset[str] | None:
        result: frozenset[str] | None = None
        for child in self.children:
            types = child.type_set()
            if types is not None:
                result = types if result is None else result & types
        return result

    def type_only(self) -> bool:
        return all(child.type_only() for child in self.children)

    def without_type(self) -> Cond:
        rest = tuple(c for c in self.children if not c.type_only())
        if not rest:
            return Always()
        return rest[0] if len(rest) == 1 else AllOf(rest)

    def predicate(self) -> Predicate:
        tests = tuple(child.predicate() for child in self.children)
        if len(tests) == 2:
            first, second = tests

            def both(event: Mapping[str, Any]) -> bool:
                return first(event) and second(event)

            return both

        def every(event: Mapping[str, Any]) -> bool:
            return all(test(event) for test in tests)

        return every

    def explain(self, event: Mapping[str, Any]) -> Verdict:
        verdicts = [child.explain(event) for child in self.children]
        ok = all(v for v, _ in verdicts)
        return ok, [_joined(r) for v, r in verdicts if v == ok]


class AnyOf(Cond):
    """At least one child must match: `any: [...]`."""

    def __init__(self, children: tuple[Cond, ...]) -> None:
        self.children = children

    def key(self) -> tuple[Any, ...]:
        return ("any", tuple(sorted((c.key() for c in self.children), key=repr)))

    def type_set(self) -> frozenset[str] | None:
        sets = [child.type_set() for child in self.children]
        if any(s is None for s in sets):
            return None
        return frozenset().union(*(s for s in sets if s is not None))

    def type_only(self) -> bool:
        return all(child.type_only() for child in self.children)

    def predicate(self) -> Predicate:
        tests = tuple(child.predicate() for child in self.children)

        def some(event: Mapping[str, Any]) -> bool:
            return any(test(event) for test in tests)

        return some

    def explain(self, event: Mapping[str, Any]) -> Verdict:
        verdicts = [child.explain(event) for child in self.children]
        for ok, reasons in verdicts:
            if ok:
                return True, ["any: " + _joined(reasons)]
        return False, ["none of: " + " | ".join(_joined(r) for _, r in verdicts)]


class NotOf(Cond):
    """The child must not match: `not: {...}`."""

    def __init__(self, child: Cond) -> None:
        self.child = child

    def key(self) -> tuple[Any, ...]:
        return ("not", self.child.key())

    def type_set(self) -> frozenset[str] | None:
        inner = self.child.type_set()
        return ALL_TYPES - inner if inner is not None and self.child.type_only() else None

    def type_only(self) -> bool:
        return self.child.type_only()

    def predicate(self) -> Predicate:
        return _negate(self.child.predicate())

    def explain(self, event: Mapping[str, Any]) -> Verdict:
        ok, reasons = self.child.explain(event)
        return not ok, [("not: " if not ok else "not, but: ") + _joined(reasons)]
