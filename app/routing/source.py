"""Read YAML into located nodes: every mapping, list and scalar keeps its file:line:column.

We use ruamel's composer (not its constructor) so each scalar keeps its ORIGINAL TEXT: numbers
become Decimal from that text, never through float, and `007` stays "007" where text is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.routing.errors import Problem

_TAGS = {
    "tag:yaml.org,2002:str": "str",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "timestamp",
}
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Pos:
    """A place in a policy file, 1-based."""

    file: str
    line: int
    column: int

    def problem(self, message: str, hint: str | None = None) -> Problem:
        return Problem(self.file, self.line, self.column, message, hint)

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


def parse_yaml(text: str, file: str, problems: list[Problem]) -> YNode | None:
    """Parse one YAML document into located nodes; report syntax errors into `problems`."""
    yaml = YAML(typ="rt", pure=True)
    try:
        documents = list(yaml.compose_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = f"YAML syntax error: {exc.problem or exc.context}"
        problems.append(Problem(file, line, column, message, "check indentation and quoting"))
        return None
    documents = [doc for doc in documents if doc is not None]
    if not documents:
        problems.append(Problem(file, 1, 1, "the file is empty", "start it with `version: 1`"))
        return None
    if len(documents) > 1:
        pos = _pos(documents[1], file)
        problems.append(pos.problem("a policy file holds one YAML document", "remove `---`"))
    return _convert(documents[0], file, problems, 0)


def _pos(node: Node, file: str) -> Pos:
    mark = node.start_mark
    return Pos(file, mark.line + 1, mark.column + 1)


def _convert(node: Any, file: str, problems: list[Problem], depth: int) -> YNode | None:
    pos = _pos(node, file)
    if depth > _MAX_DEPTH:
        problems.append(pos.problem("nesting is too deep", "policies are at most a few levels"))
        return None
    if isinstance(node, ScalarNode):
        kind = _TAGS.get(str(node.tag))
        if kind is None:
            problems.append(pos.problem(f"YAML tag {node.tag} is not supported", "remove the tag"))
            return None
        return YScalar(str(node.value), kind, node.style in ("'", '"'), pos)
    if isinstance(node, SequenceNode):
        items = (_convert(item, file, problems, depth + 1) for item in node.value)
        return YSeq(tuple(item for item in items if item is not None), pos)
    if isinstance(node, MappingNode):
        return _convert_map(node, file, problems, depth, pos)
    problems.append(pos.problem("unsupported YAML node"))  # pragma: no cover - composer types
    return None


def _convert_map(
    node: MappingNode, file: str, problems: list[Problem], depth: int, pos: Pos
) -> YMap:
    entries: list[tuple[YScalar, YNode]] = []
    seen: dict[str, Pos] = {}
    for key_node, value_node in node.value:
        key_pos = _pos(key_node, file)
        if str(key_node.tag) == "tag:yaml.org,2002:merge":
            problems.append(
                key_pos.problem("merge keys (<<) are not supported", "write the keys out")
            )
            continue
        if not isinstance(key_node, ScalarNode) or str(key_node.tag) != "tag:yaml.org,2002:str":
            if isinstance(key_node, ScalarNode):
                key = YScalar(
                    str(key_node.value), _TAGS.get(str(key_node.tag), "str"), False, key_pos
                )
            else:
                problems.append(key_pos.problem("a key must be plain text"))
                continue
        else:
            key = YScalar(str(key_node.value), "str", key_node.style in ("'", '"'), key_pos)
        if key.text in seen:
            first = seen[key.text]
            problems.append(
                key_pos.problem(
                    f"duplicate key `{key.text}` (first at line {first.line})",
                    "each key may appear once in a mapping; use `all:` to combine conditions",
                )
            )
            continue
        seen[key.text] = key_pos
        value = _convert(value_node, file, problems, depth + 1)
        if value is not None:
            entries.append((key, value))
    return YMap(tuple(entries), pos)
