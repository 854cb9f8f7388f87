"""Read a policy file's bytes into located nodes, safely: whatever the bytes, it never raises.

Each problem is placed (file:line:column) in `problems`; the result is None when the file cannot
be read. Hostile input is refused before it can cost anything: invalid UTF-8 and control
characters before parsing, nesting deeper than MAX_DEPTH while parsing, and YAML anchors and
aliases altogether (policies do not need them, and expanding them is how a six-line file grows
to billions of nodes). Nodes are built from ruamel's event stream without recursion and without
its composer, so aliases are never expanded and scalars keep their ORIGINAL TEXT: numbers become
Decimal from that text, never through float, and `007` stays "007" where text is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import Scanner

from app.routing.errors import Problem
from app.routing.source import Pos, YMap, YNode, YScalar, YSeq

MAX_DEPTH = 64
_TAGS = {
    "tag:yaml.org,2002:str": "str",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "timestamp",
}
_MERGE = "tag:yaml.org,2002:merge"
# What YAML 1.2 allows in a stream (tab, newlines and printable characters); anything else is
# refused here, with its place, before the parser sees it.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_ANCHOR_HINT = "write the value out in full where it is needed"
_TOO_DEEP = (
    f"nesting is deeper than {MAX_DEPTH} levels",
    "policies need only a few levels; check the brackets",
)


class _TooDeep(Exception):
    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column)
        self.line, self.column = line, column


class _BoundedScanner(Scanner):
    """Stops at the first `[` or `{` nested deeper than MAX_DEPTH.

    The parser's depth check alone comes too late for flow collections: every open `[` is a
    possible simple key that the scanner looks ahead for (up to 1,024 characters), so a line of
    thousands of `[` costs a second of CPU before the parser sees its 65th level."""

    def fetch_flow_collection_start(self, token_class: Any, to_push: str) -> None:
        if self.flow_level >= MAX_DEPTH:
            mark = self.reader.get_mark()
            raise _TooDeep(mark.line + 1, mark.column + 1)
        super().fetch_flow_collection_start(token_class, to_push)


def parse_policy_bytes(data: bytes, file: str, problems: list[Problem]) -> YNode | None:
    """Decode and parse one policy file; None (with its problems reported) if unreadable."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _place(data, exc.start)
        problems.append(
            Problem(
                file,
                line,
                column,
                f"not UTF-8 text: byte 0x{data[exc.start]:02x} ({exc.reason})",
                "save the file as UTF-8",
            )
        )
        return None
    return parse_yaml(text, file, problems)


def parse_yaml(text: str, file: str, problems: list[Problem]) -> YNode | None:
    """Parse one YAML document into located nodes; every problem goes into `problems`."""
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line, column = _place(text, bad.start())
        problems.append(
            Problem(
                file,
                line,
                column,
                f"control character {bad.group()!r} is not allowed in a policy file",
                "remove it; policy files are plain text",
            )
        )
        return None
    yaml = YAML(typ="safe", pure=True)
    yaml.Scanner = _BoundedScanner
    builder = _Builder(file, yaml.resolver)
    try:
        for event in yaml.parse(text):
            if not builder.take(event):
                break
    except _TooDeep as exc:
        problems.append(Problem(file, exc.line, exc.column, *_TOO_DEEP))
        return None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = f"YAML syntax error: {exc.problem or exc.context}"
        problems.append(Problem(file, line, column, message, "check indentation and quoting"))
        return None
    except ReaderError as exc:  # pragma: no cover - the character check above comes first
        line, column = _place(text, exc.position)
        problems.append(Problem(file, line, column, f"unreadable YAML: {exc.reason}"))
        return None
    except (YAMLError, RecursionError, MemoryError, ValueError) as exc:  # backstop
        problems.append(Problem(file, 1, 1, f"unreadable YAML ({type(exc).__name__})"))
        return None
    problems.extend(builder.problems)
    if builder.fatal:
        return None
    if builder.documents == 0:
        problems.append(Problem(file, 1, 1, "the file is empty", "start it with `version: 1`"))
    return builder.document


def _place(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of `offset` in `text` (bytes: the column counts characters)."""
    before = text[:offset].decode("utf-8", "replace") if isinstance(text, bytes) else text[:offset]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


@dataclass
class _Open:
    """A mapping or list being built; for a mapping, `key` is the key awaiting its value."""

    pos: Pos
    is_map: bool
    items: list[YNode] = field(default_factory=list)
    entries: list[tuple[YScalar, YNode]] = field(default_factory=list)
    seen: dict[str, Pos] = field(default_factory=dict)
    key: YScalar | None = None
    skip_value: bool = False  # the key was refused: drop the value that follows
    bad_key: bool = False  # this collection is itself used as a key


class _Builder:
    """Builds located nodes from parser events, one event at a time, without recursion."""

    def __init__(self, file: str, resolver: Any) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.stack: list[_Open] = []
        self.document: YNode | None = None
        self.documents = 0
        self.fatal = False  # the file is not read (nesting, anchors, bad characters)
        self.resolver = resolver

    def _pos(self, event: Event) -> Pos:
        mark = event.start_mark
        return Pos(self.file, mark.line + 1, mark.column + 1)

    def _problem(self, pos: Pos, message: str, hint: str | None = None) -> None:
        self.problems.append(pos.problem(message, hint))

    def take(self, event: Event) -> bool:
        """Consume one event; False to stop reading the file."""
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            return True
        if self.documents > 1:
            self._problem(self._pos(event), "a policy file holds one YAML document", "remove `---`")
            return False
        if isinstance(event, NodeEvent) and event.anchor is not None:  # `&name` or `*name`
            self._problem(
                self._pos(event),
                "YAML anchors and aliases are not allowed in policies",
                _ANCHOR_HINT,
            )
            self.fatal = True
            return False
        if isinstance(event, ScalarEvent):
            self._add(self._scalar(event))
        elif isinstance(event, CollectionStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                self._problem(self._pos(event), *_TOO_DEEP)
                self.fatal = True
                return False
            parent = self.stack[-1] if self.stack else None
            as_key = (
                parent is not None
                and parent.is_map
                and parent.key is None
                and not parent.skip_value
            )
            self.stack.append(
                _Open(self._pos(event), isinstance(event, MappingStartEvent), bad_key=as_key)
            )
        elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            done = self.stack.pop()
            if done.bad_key:
                self._problem(done.pos, "a key must be plain text")
                self._set_key(None)
            else:
                node: YNode = (
                    YMap(tuple(done.entries), done.pos)
                    if done.is_map
                    else YSeq(tuple(done.items), done.pos)
                )
                self._add(node)
        return True

    def _scalar(self, event: ScalarEvent) -> YScalar | None:
        pos = self._pos(event)
        tag = event.ctag
        if tag is None or str(tag) == "!":
            tag = self.resolver.resolve(ScalarNode, event.value, event.implicit)
        kind = _TAGS.get(str(tag))
        bad = _NOT_PRINTABLE.search(str(event.value))
        if bad is not None:  # an escape in a double-quoted scalar: "\a", "\0", "\ud800"
            self._problem(
                pos,
                f"text holds the character {bad.group()!r}, which is not allowed",
                "remove the escape sequence",
            )
            self.fatal = True  # reading on would report the dropped value as missing
            return None
        if str(tag) == _MERGE:
            kind = "merge"
        elif kind is None:
            self._problem(pos, f"YAML tag {tag} is not supported", "remove the tag")
            return None
        return YScalar(str(event.value), kind, event.style in ("'", '"'), pos)

    def _add(self, node: YNode | None) -> None:
        """Place a finished node: as the document, a list item, a key or a mapping value."""
        if not self.stack:
            self.document = node
            return
        parent = self.stack[-1]
        if not parent.is_map:
            if node is not None:
                parent.items.append(node)
        elif parent.key is None and not parent.skip_value:
            self._set_key(node)
        else:
            key, skip = parent.key, parent.skip_value
            parent.key, parent.skip_value = None, False
            if key is not None and node is not None and not skip:
                parent.entries.append((key, node))

    def _set_key(self, node: YNode | None) -> None:
        parent = self.stack[-1]
        if not isinstance(node, YScalar):
            parent.skip_value = True
            return
        if node.kind == "merge":
            self._problem(node.pos, "merge keys (<<) are not supported", "write the keys out")
            parent.skip_value = True
            return
        if node.text in parent.seen:
            first = parent.seen[node.text]
            self._problem(
                node.pos,
                f"duplicate key `{node.text}` (first at line {first.line})",
                "each key may appear once in a mapping; use `all:` to combine conditions",
            )
            parent.skip_value = True
            return
        parent.seen[node.text] = node.pos
        parent.key = node
