"""Located nodes: every mapping, list and scalar of a policy file keeps its file:line:column.

`safe_yaml.parse_yaml` builds them; the readers (read, schema, when) consume them.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.routing.errors import ERROR, Problem


@dataclass(frozen=True, slots=True)
class Pos:
    """A place in a policy file, 1-based."""

    file: str
    line: int
    column: int

    def problem(self, message: str, hint: str | None = None, severity: str = ERROR) -> Problem:
        return Problem(self.file, self.line, self.column, message, hint, severity)

    @property
    def short(self) -> str:
        """`file:line`, the form routes carry as their `source`."""
        return f"{self.file}:{self.line}"

    def seen_from(self, other: Pos) -> str:
        """This place as named in a message about `other`: `line 12` in the same file."""
        return f"line {self.line}" if self.file == other.file else self.short


@dataclass(frozen=True, slots=True)
class YScalar:
    """A scalar as written: its text, its resolved YAML kind and whether it was quoted."""

    text: str
    kind: str  # str | int | float | bool | null | timestamp
    quoted: bool
    pos: Pos

    @property
    def what(self) -> str:
        return {"str": "text", "null": "nothing (null)", "bool": "true/false"}.get(
            self.kind, "a number" if self.kind in ("int", "float") else "a date"
        )

    @property
    def is_number(self) -> bool:
        return self.kind in ("int", "float")


@dataclass(frozen=True, slots=True)
class YMap:
    """A mapping as written, keys in file order (duplicates already reported)."""

    entries: tuple[tuple[YScalar, YNode], ...]
    pos: Pos

    def get(self, key: str) -> YNode | None:
        for k, v in self.entries:
            if k.text == key:
                return v
        return None

    def key_pos(self, key: str) -> Pos:
        for k, _ in self.entries:
            if k.text == key:
                return k.pos
        return self.pos


@dataclass(frozen=True, slots=True)
class YSeq:
    """A list as written."""

    items: tuple[YNode, ...]
    pos: Pos


YNode = YScalar | YMap | YSeq


def describe(node: YNode) -> str:
    """What a node is, in words a policy author knows."""
    if isinstance(node, YMap):
        return "a mapping (key: value)"
    if isinstance(node, YSeq):
        return "a list"
    return node.what
