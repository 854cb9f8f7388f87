"""Block Kit limits: check blocks the way Slack rejects them, fit them so Slack accepts them.

One walker visits every limited value and yields an `_Issue`. Checking collects the issues'
Slack-style error strings; fitting applies each issue's repair to a deep copy as it is found, so
the walk continues over the repaired value. Limits: FACTS.md section 4 (node-slack-sdk types);
they agree with the Slack emulator's own table (app/sandbox/slack_emulator/block_rules.py).
Error wording follows Slack's `invalid_blocks` answers; the wording for duplicate ids, unknown
block types, missing fields and too few items is a guess, the pointers are exact.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

ELLIPSIS = "…"
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
# Slack answers msg_blocks_too_long around 13,000 characters of block JSON (observed, not
# documented: FACTS.md section 4; the emulator's block_rules uses 13,000). The app keeps a margin.
MAX_MESSAGE_CHARS = 12_000
KNOWN_BLOCK_TYPES = frozenset(
    {"section", "header", "context", "actions", "divider", "input", "image", "rich_text"}
    | {"markdown", "video", "file"}
)
VIEW_TYPES = frozenset({"modal", "home"})


@dataclass(frozen=True)
class _Issue:
    pointer: str
    message: str
    fix: Callable[[], str] | None  # repairs the value in place, returns the warning

    def error(self) -> str:
        return f"{self.message} [json-pointer:{self.pointer}]"


def check_message(blocks: list[Json], text: str | None = None) -> list[str]:
    """Slack-style errors for a message's blocks (and its text); [] when Slack would accept it."""
    errors = [issue.error() for issue in _walk_blocks({"blocks": blocks}, "", MAX_MESSAGE_BLOCKS)]
    if not errors and message_size(blocks) > MAX_MESSAGE_CHARS:
        errors.append(
            f"msg_blocks_too_long: over {MAX_MESSAGE_CHARS} characters [json-pointer:/blocks]"
        )
    if text is not None and not isinstance(text, str):
        errors.append("must be a string [json-pointer:/text]")
    return errors


def check_view(view: Json) -> list[str]:
    """Slack-style errors for a modal or Home tab view; [] when Slack would accept it."""
    return [issue.error() for issue in _walk_view(view)]


def fit_message(blocks: list[Json]) -> tuple[list[Json], list[str]]:
    """A copy of `blocks` that Slack accepts, and one warning per change. Never mutates input."""
    holder: Json = {"blocks": _fresh(blocks)}
    warnings = _repair(_walk_blocks(holder, "", MAX_MESSAGE_BLOCKS))
    warnings.extend(_shrink(holder["blocks"]))
    return holder["blocks"], warnings


def message_size(blocks: list[Json]) -> int:
    """The size of `blocks` as compact JSON: what the aggregate limit is measured on."""
    return len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":")))


def _shrink(blocks: list[Json]) -> list[str]:
    """Cut the longest strings until the message is under MAX_MESSAGE_CHARS (then, if still too
    big, drop blocks from the end, keeping the last actions block); one warning per change."""
    warnings: list[str] = []
    while (excess := message_size(blocks) - MAX_MESSAGE_CHARS) > 0:
        owners = [(o, k) for o, k in _strings(blocks) if len(o[k]) > 40]
        if not owners:
            lists = [items for items in _lists(blocks) if len(items) > 1]
            if not lists:
                break
            biggest = max(lists, key=message_size)
            pointer = "/blocks" if biggest is blocks else "a list in /blocks"
            warnings.append(_cut(biggest, pointer, len(biggest) // 2, biggest is blocks)())
            continue
        owner, key = max(owners, key=lambda pair: len(pair[0][pair[1]]))
        before = len(owner[key])
        keep = max(40, min(before - excess - 8, before // 2 + 1))
        owner[key] = _clip(owner[key], keep)
        warnings.append(f"shortened a {key} from {before} to {keep} characters (message size)")
    return warnings


def _lists(value: Any) -> Iterator[list[Any]]:
    """`value` itself if a list, and every list inside it."""
    if isinstance(value, list):
        yield value
        for item in value:
            yield from _lists(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _lists(item)


_FIXED_KEYS = frozenset({"type", "action_id", "block_id", "style", "callback_id"})


def _strings(value: Any) -> Iterator[tuple[Json, str]]:
    """Every (dict, key) holding a free-text string inside `value` (not ids or types)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key not in _FIXED_KEYS:
                yield value, key
            else:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def fit_view(view: Json) -> tuple[Json, list[str]]:
    """A copy of `view` within every limit, and one warning per change. Never mutates input."""
    fitted = _fresh(view)
    return fitted, _repair(_walk_view(fitted))


def _repair(issues: Iterator[_Issue]) -> list[str]:
    """Apply each fixable issue as soon as the walker yields it, so the walk sees the fix."""
    return [issue.fix() for issue in issues if issue.fix is not None]


def _fresh(value: Any) -> Any:
    """A deep copy that never shares an object twice (deepcopy would keep repeated blocks aliased,
    so repairing one would repair "both")."""
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fresh(item) for item in value]
    return value


# --- repairs -------------------------------------------------------------------------------


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


def _set_text(owner: Json, key: str, pointer: str, limit: int, why: str) -> Callable[[], str]:
    def fix() -> str:
        old = owner[key]
        new = _clip(str(old), limit) or ELLIPSIS
        owner[key] = new
        return f"{why} {pointer}: {len(str(old))} -> {len(new)} characters"

    return fix


def _cut(items: list[Any], pointer: str, limit: int, keep_last_actions: bool) -> Callable[[], str]:
    def fix() -> str:
        before = len(items)
        kept = items[:limit]
        note = ""
        last_actions = _last_actions_index(items) if keep_last_actions else None
        if last_actions is not None and last_actions >= limit:
            kept = [*items[: limit - 1], items[last_actions]]
            note = " (kept the last actions block)"
        items[:] = kept
        return f"cut {pointer} from {before} to {len(kept)} items{note}"

    return fix


def _last_actions_index(items: list[Any]) -> int | None:
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if isinstance(item, dict) and item.get("type") == "actions":
            return index
    return None


def _drop(items: list[Any], item: Any, pointer: str) -> Callable[[str], str]:
    def fix(why: str) -> str:
        items[:] = [other for other in items if other is not item]
        return f"removed {pointer}: {why}"

    return fix


def _pop(owner: Json, key: str, pointer: str) -> Callable[[str], str]:
    def fix(why: str) -> str:
        owner.pop(key, None)
        return f"removed {pointer}: {why}"

    return fix


def _rename(owner: Json, key: str, pointer: str, taken: set[str]) -> Callable[[], str]:
    def fix() -> str:
        old = str(owner[key])
        number = 2
        while (new := f"{old[:240]}~{number}") in taken:
            number += 1
        owner[key] = new
        taken.add(new)
        return f"renamed duplicate {pointer} {old!r} to {new!r}"

    return fix


def _put(owner: Json, key: str, value: Any, pointer: str) -> Callable[[], str]:
    def fix() -> str:
        owner[key] = value
        return f"added missing {pointer}"

    return fix


# --- walkers -------------------------------------------------------------------------------


def _text(owner: Json, key: str, at: str, limit: int, minimum: int = 0) -> Iterator[_Issue]:
    """A string field `owner[key]`, if present, of `minimum`..`limit` characters."""
    if key not in owner:
        return
    pointer = f"{at}/{key}"
    value = owner[key]
    if not isinstance(value, str):
        yield _Issue(
            pointer, "must be a string", _set_text(owner, key, pointer, limit, "stringified")
        )
    elif len(value) > limit:
        fix = _set_text(owner, key, pointer, limit, "truncated")
        yield _Issue(pointer, f"must be less than {limit + 1} characters", fix)
    elif len(value) < minimum:
        fix = _set_text(owner, key, pointer, limit, "filled empty")
        yield _Issue(pointer, f"must be more than {minimum - 1} characters", fix)


def _text_object(
    owner: Json, key: str, at: str, limit: int, minimum: int = 0, *, plain: bool = False
) -> Iterator[_Issue]:
    """A text object `owner[key]` ({type, text}), if present, whose text fits the limits;
    `plain`: Slack takes only plain_text there (headers, buttons, titles, labels)."""
    if key not in owner:
        return
    value = owner[key]
    if isinstance(value, dict):
        if plain and value.get("type") != "plain_text":
            pointer = f"{at}/{key}/type"
            fix = _put(value, "type", "plain_text", pointer)
            yield _Issue(pointer, "must be one of [plain_text]", fix)
        yield from _text(value, "text", f"{at}/{key}", limit, minimum)
    else:
        yield _Issue(f"{at}/{key}", "must be an object", None)


def _items(
    owner: Json, key: str, at: str, limit: int, *, keep_last_actions: bool = False
) -> Iterator[tuple[int, Any, str]]:
    """Check that `owner[key]`, if present, is a list of at most `limit`; then walk its items.

    Yields the over-limit issue first (as an `_Issue`) and the items afterwards, so a fit cuts
    the list before its items are visited.
    """
    if key not in owner:
        return
    pointer = f"{at}/{key}"
    items = owner[key]
    if not isinstance(items, list):
        yield -1, _Issue(pointer, "must be an array", None), pointer
        return
    if len(items) > limit:
        fix = _cut(items, pointer, limit, keep_last_actions)
        yield -1, _Issue(pointer, f"no more than {limit} items allowed", fix), pointer
    for index, item in enumerate(list(items)):
        yield index, item, f"{pointer}/{index}"


def _walk_blocks(owner: Json, at: str, limit: int) -> Iterator[_Issue]:
    block_ids: set[str] = set()
    for index, block, pointer in _items(owner, "blocks", at, limit, keep_last_actions=True):
        if index < 0:
            yield block
            continue
        yield from _block(block, pointer, block_ids, _drop(owner["blocks"], block, pointer))


def _block(
    block: Any, at: str, block_ids: set[str], remove: Callable[[str], str]
) -> Iterator[_Issue]:
    if not isinstance(block, dict):
        yield _Issue(at, "must be an object", None)
        return
    kind = block.get("type")
    if kind not in KNOWN_BLOCK_TYPES:
        yield _Issue(f"{at}/type", f"unsupported block type {kind!r}", None)
        return
    yield from _text(block, "block_id", at, 255)
    block_id = block.get("block_id")
    if isinstance(block_id, str):
        if block_id in block_ids:
            pointer = f"{at}/block_id"
            fix = _rename(block, "block_id", pointer, block_ids)
            yield _Issue(pointer, f"duplicate block_id {block_id!r}", fix)
        else:
            block_ids.add(block_id)
    if kind == "section":
        if "text" not in block and "fields" not in block:
            fix = functools.partial(remove, "a section with neither text nor fields")
            yield _Issue(at, "must provide either text or fields", fix)
            return
        yield from _text_object(block, "text", at, 3000, 1)
        for index, field, pointer in _items(block, "fields", at, 10):
            if index < 0:
                yield field
            elif isinstance(field, dict):
                yield from _text(field, "text", pointer, 2000)
        if "accessory" in block:
            pointer = f"{at}/accessory"
            yield from _element(
                block["accessory"], pointer, None, _pop(block, "accessory", pointer)
            )
    elif kind == "header":
        yield from _text_object(block, "text", at, 150, 1, plain=True)
    elif kind in ("context", "actions"):
        if not block.get("elements"):
            fix = functools.partial(remove, f"a {kind} block without elements")
            yield _Issue(f"{at}/elements", "must provide at least 1 items", fix)
            return
        yield from _elements(block, at, 10 if kind == "context" else 25)
        if not block.get("elements"):  # its only element was removed as unfixable
            fix = functools.partial(remove, f"a {kind} block left without elements")
            yield _Issue(f"{at}/elements", "must provide at least 1 items", fix)
    elif kind == "image":
        if "image_url" not in block and "slack_file" not in block:
            fix = functools.partial(remove, "an image without image_url")
            yield _Issue(f"{at}/image_url", "missing required field: image_url", fix)
            return
        if "alt_text" not in block:
            fix = _put(block, "alt_text", "image", f"{at}/alt_text")
            yield _Issue(f"{at}/alt_text", "missing required field: alt_text", fix)
        yield from _text(block, "alt_text", at, 2000, 1)
    elif kind == "input":
        yield from _text_object(block, "label", at, 2000, 1, plain=True)
        yield from _text_object(block, "hint", at, 2000, plain=True)
        if "element" in block:
            pointer = f"{at}/element"
            yield from _element(block["element"], pointer, None, _pop(block, "element", pointer))


def _elements(block: Json, at: str, limit: int) -> Iterator[_Issue]:
    action_ids: set[str] = set()
    elements = block.get("elements")
    for index, element, pointer in _items(block, "elements", at, limit):
        if index < 0:
            yield element
            continue
        if isinstance(elements, list):
            remove = _drop(elements, element, pointer)
            yield from _element(element, pointer, action_ids, remove)


def _element(
    element: Any, at: str, action_ids: set[str] | None, remove: Callable[[str], str]
) -> Iterator[_Issue]:
    """An interactive element, or a context text/image element; `action_ids` unique per block.

    `remove` takes the element out of its block (the only repair for an empty overflow).
    """
    if not isinstance(element, dict):
        yield _Issue(at, "must be an object", None)
        return
    if element.get("type") in ("mrkdwn", "plain_text"):  # a context block's text element
        yield from _text(element, "text", at, 3000, 1)
        return
    if element.get("type") == "image":
        yield from _text(element, "alt_text", at, 2000, 1)
        return
    yield from _text(element, "action_id", at, 255)
    action_id = element.get("action_id")
    if action_ids is not None and isinstance(action_id, str):
        if action_id in action_ids:
            pointer = f"{at}/action_id"
            fix = _rename(element, "action_id", pointer, action_ids)
            yield _Issue(pointer, f"duplicate action_id {action_id!r}", fix)
        else:
            action_ids.add(action_id)
    yield from _text_object(element, "placeholder", at, 150, plain=True)
    if element.get("type") == "button":
        yield from _text_object(element, "text", at, 75, 1, plain=True)
        yield from _text(element, "value", at, 2000)
        yield from _text(element, "url", at, 3000)
    if isinstance(element.get("confirm"), dict):
        confirm, pointer = element["confirm"], f"{at}/confirm"
        yield from _text_object(confirm, "title", pointer, 100, plain=True)
        yield from _text_object(confirm, "text", pointer, 300)
        yield from _text_object(confirm, "confirm", pointer, 30, plain=True)
        yield from _text_object(confirm, "deny", pointer, 30, plain=True)
    yield from _options(element, at, remove)


def _options(element: Json, at: str, remove: Callable[[str], str]) -> Iterator[_Issue]:
    overflow = element.get("type") == "overflow"
    options = element.get("options")
    listed = overflow or "options" in element  # a static select or overflow lists its options
    if listed and (not isinstance(options, list) or not options):
        fix = functools.partial(remove, f"{element.get('type')} without options")
        yield _Issue(f"{at}/options", "must provide at least 1 items", fix)
        return
    for index, option, pointer in _items(element, "options", at, 5 if overflow else 100):
        if index < 0:
            yield option
        elif isinstance(option, dict):
            yield from _text_object(option, "text", pointer, 75, 1)
            yield from _text(option, "value", pointer, 150)
            yield from _text_object(option, "description", pointer, 75, plain=True)
    if isinstance(element.get("initial_option"), dict):
        yield from _text_object(element["initial_option"], "text", f"{at}/initial_option", 75, 1)


def _walk_view(view: Any) -> Iterator[_Issue]:
    if not isinstance(view, dict):
        yield _Issue("", "must be an object", None)
        return
    kind = view.get("type")
    if kind not in VIEW_TYPES:
        yield _Issue("/type", f"must be one of {sorted(VIEW_TYPES)}", None)
    if kind == "modal":
        if "title" not in view:
            yield _Issue("/title", "missing required field: title", None)
        for key in ("title", "submit", "close"):
            yield from _text_object(view, key, "", 24, 1, plain=True)
        blocks = view.get("blocks")
        inputs = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if inputs and "submit" not in view:
            submit = {"type": "plain_text", "text": "Submit"}
            fix = _put(view, "submit", submit, "/submit")
            yield _Issue("/submit", "must provide submit when the view has input blocks", fix)
    yield from _text(view, "private_metadata", "", 3000)
    yield from _text(view, "callback_id", "", 255)
    yield from _text(view, "external_id", "", 255)
    if "blocks" not in view:
        yield _Issue(
            "/blocks", "missing required field: blocks", _put(view, "blocks", [], "/blocks")
        )
    if "blocks" in view:
        yield from _walk_blocks(view, "", MAX_VIEW_BLOCKS)
