"""Read a route's `when:` as written and build its condition tree, reporting every mistake."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from app.domain.money import ISO_4217
from app.routing.conditions import AllOf, AnyOf, Cond, FieldTest, NotOf, Operand
from app.routing.errors import Problem
from app.routing.fields import EVENT_TYPES, NUMBER, TEXT, did_you_mean, field_kind
from app.routing.source import Pos, YMap, YNode, YScalar, YSeq, describe

OPERATORS = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between", "matches", "exists")
_NUMERIC_OPS = ("lt", "lte", "gt", "gte", "between")
_SYMBOL_HINTS = {
    "=": "eq",
    "==": "eq",
    "!=": "ne",
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
    "regex": "matches",
    "re": "matches",
    "not in": "not_in",
    "nin": "not_in",
    "range": "between",
}
COMBINATORS = ("any", "all", "not")
# Numbers in conditions: far beyond any amount or percentage, and safe to compare exactly.
MAX_EXPONENT, MIN_EXPONENT = 17, -12


class WhenReader:
    """Turns a `when` mapping into a Cond; problems are appended, None is returned on error."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def _err(self, pos: Pos, message: str, hint: str | None = None) -> None:
        self.problems.append(pos.problem(message, hint))

    def read(self, node: YNode) -> Cond | None:
        if not isinstance(node, YMap):
            self._err(
                node.pos,
                f"`when` must be a mapping of field: condition, not {describe(node)}",
                "e.g. when: {type: invoice_dispute}",
            )
            return None
        if not node.entries:
            self._err(
                node.pos,
                "an empty condition matches every event",
                "remove `when` to write a catch-all route",
            )
            return None
        parts: list[Cond | None] = []
        for key, value in node.entries:
            if key.text in ("any", "all"):
                parts.append(self._group(key, value))
            elif key.text == "not":
                inner = self.read(value)
                parts.append(NotOf(inner) if inner is not None else None)
            else:
                parts.extend(self._field(key, value))
        if any(part is None for part in parts):
            return None
        conds = tuple(part for part in parts if part is not None)
        return conds[0] if len(conds) == 1 else AllOf(conds)

    def _group(self, key: YScalar, value: YNode) -> Cond | None:
        if not isinstance(value, YSeq) or not value.items:
            what = "an empty list" if isinstance(value, YSeq) else describe(value)
            self._err(
                value.pos,
                f"`{key.text}` needs a list of conditions, not {what}",
                f"e.g. {key.text}: [{{details.discount_pct: {{gte: 20}}}}, "
                "{invoice.amount: {gte: 50000}}]",
            )
            return None
        children = [self.read(item) for item in value.items]
        if any(child is None for child in children):
            return None
        conds = tuple(child for child in children if child is not None)
        if len(conds) == 1:
            return conds[0]
        return AnyOf(conds) if key.text == "any" else AllOf(conds)

    def _field(self, key: YScalar, value: YNode) -> list[Cond | None]:
        path = key.text
        kind, hint = field_kind(path)
        if kind is None:
            self._err(key.pos, f"unknown field `{path}`", hint)
            return [None]
        if isinstance(value, YScalar):
            return [self._test(path, kind, "eq", value, key.pos)]
        if isinstance(value, YSeq):
            self._err(
                value.pos,
                f"a list after `{path}` is ambiguous",
                f"write {path}: {{in: [...]}} to match any of several values",
            )
            return [None]
        if not value.entries:
            self._err(value.pos, f"no operator for `{path}`", f"e.g. {path}: {{gte: 20}}")
            return [None]
        return [self._test(path, kind, op.text, operand, op.pos) for op, operand in value.entries]

    def _test(self, path: str, kind: str, op: str, node: YNode, pos: Pos) -> Cond | None:
        if op not in OPERATORS:
            hint = (
                f"write `{_SYMBOL_HINTS[op]}`"
                if op in _SYMBOL_HINTS
                else did_you_mean(op, OPERATORS)
            ) or "operators: " + ", ".join(OPERATORS)
            self._err(pos, f"unknown operator `{op}`", hint)
            return None
        if op in _NUMERIC_OPS and kind == TEXT:
            self._err(
                pos,
                f"`{op}` compares numbers, but `{path}` is text",
                "use eq, in, ne, not_in or matches for text fields",
            )
            return None
        if op == "exists":
            if not (isinstance(node, YScalar) and node.kind == "bool"):
                self._err(node.pos, "`exists` takes true or false")
                return None
            return FieldTest(path, op, (Operand(node.text == "true", node.text),), None)
        if op == "matches":
            return self._regex(path, node)
        if op in ("in", "not_in"):
            return self._members(path, kind, op, node)
        if op == "between":
            return self._between(path, node)
        if not isinstance(node, YScalar):
            self._err(node.pos, f"`{op}` takes one value, not {describe(node)}")
            return None
        operand = self._numeric(node) if op in _NUMERIC_OPS else self._value(path, kind, node)
        return FieldTest(path, op, (operand,), None) if operand is not None else None

    def _members(self, path: str, kind: str, op: str, node: YNode) -> Cond | None:
        if not isinstance(node, YSeq) or not node.items:
            what = "an empty list" if isinstance(node, YSeq) else describe(node)
            self._err(
                node.pos,
                f"`{op}` needs a list of values, not {what}",
                f"e.g. {path}: {{{op}: [a, b]}}",
            )
            return None
        operands = []
        for item in node.items:
            if not isinstance(item, YScalar):
                self._err(
                    item.pos, f"a value in `{op}` must be a single value, not {describe(item)}"
                )
                continue
            operands.append(self._value(path, kind, item))
        if len(operands) != len(node.items) or any(o is None for o in operands):
            return None
        return FieldTest(path, op, tuple(o for o in operands if o is not None), None)

    def _between(self, path: str, node: YNode) -> Cond | None:
        if not (isinstance(node, YSeq) and len(node.items) == 2):
            self._err(
                node.pos,
                "`between` needs a list of two numbers [low, high]",
                f"e.g. {path}: {{between: [10, 20]}} (both ends included)",
            )
            return None
        low_node, high_node = node.items
        if not isinstance(low_node, YScalar) or not isinstance(high_node, YScalar):
            self._err(node.pos, "`between` needs two numbers")
            return None
        low, high = self._numeric(low_node), self._numeric(high_node)
        if low is None or high is None:
            return None
        assert isinstance(low.value, Decimal)
        assert isinstance(high.value, Decimal)
        if low.value > high.value:
            self._err(
                node.pos,
                f"`between` low end {low.text} is above high end {high.text}",
                "write [low, high]; this condition could never match",
            )
            return None
        return FieldTest(path, "between", (low, high), None)

    def _regex(self, path: str, node: YNode) -> Cond | None:
        if not (isinstance(node, YScalar) and node.kind == "str"):
            self._err(
                node.pos,
                "`matches` takes a regular expression as text",
                "quote it: matches: '^ACME-.*'",
            )
            return None
        try:
            pattern = re.compile(node.text)
        except re.error as exc:
            self._err(
                node.pos,
                f"bad regular expression: {exc.msg} at position {exc.pos}",
                "quote the pattern with single quotes and escape special characters",
            )
            return None
        return FieldTest(path, "matches", (Operand(node.text, node.text),), pattern)

    def _numeric(self, node: YScalar) -> Operand | None:
        number = scalar_number(node)
        if number is None:
            hint = "write digits only, no thousands separators or currency signs"
            self._err(node.pos, f"expected a number, got {node.what} {node.text!r}", hint)
            return None
        if number and not (MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT):
            self._err(
                node.pos,
                f"number {node.text!r} is out of range",
                f"conditions compare numbers below 10^{MAX_EXPONENT + 1}, "
                f"down to 10^{MIN_EXPONENT}",
            )
            return None
        return Operand(number, node.text)

    def _value(self, path: str, kind: str, node: YScalar) -> Operand | None:
        if node.kind == "null":
            self._err(
                node.pos,
                "null is not a value to compare with",
                f"to test for an absent field write {path}: {{exists: false}}",
            )
            return None
        if kind == NUMBER:
            return self._numeric(node)
        if kind == TEXT:
            return self._text(path, node)
        if node.kind == "bool":
            return Operand(node.text == "true", node.text)
        if node.is_number:
            return self._numeric(node)
        return Operand(node.text, node.text)

    def _text(self, path: str, node: YScalar) -> Operand | None:
        if node.kind == "bool":
            self._err(
                node.pos,
                f"`{path}` is text; {node.text} would never match",
                f"quote it if you mean the word: '{node.text}'",
            )
            return None
        if path == "type" and node.text not in EVENT_TYPES:
            hint = did_you_mean(node.text, EVENT_TYPES) or "event types: " + ", ".join(EVENT_TYPES)
            self._err(node.pos, f"unknown event type `{node.text}`", hint)
            return None
        if path == "invoice.currency" and node.text not in ISO_4217:
            self._err(
                node.pos,
                f"`{node.text}` is not an ISO 4217 currency code",
                "use upper-case codes such as USD, EUR, GBP",
            )
            return None
        return Operand(node.text, node.text)


def scalar_number(node: YScalar) -> Decimal | None:
    """A YAML scalar as an exact Decimal, from its original text; None if it is not a number."""
    if node.kind not in ("int", "float", "str"):
        return None
    try:
        value = Decimal(node.text.strip())
    except InvalidOperation:
        if node.kind != "int":
            return None
        try:
            value = Decimal(int(node.text, 0))
        except ValueError:
            return None
    return value if value.is_finite() else None
