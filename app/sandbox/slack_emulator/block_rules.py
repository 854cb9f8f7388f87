"""Block Kit as Slack validates it: the emulator's own rules, written from Slack's documentation.

Nothing here comes from Countersign (it must not: a gap shared with the app's own checker would be
invisible to every test). Each limit in `LIMITS` names the page it comes from. Two layers:
1. the walker below, with Slack-style errors naming a JSON pointer, worded as Slack words its
   `invalid_blocks` answers ("must be less than 3001 characters [json-pointer:/blocks/0/text]");
2. slack_sdk's own models (`Block.parse(...).validate_json()`, `View(...).validate_json()`),
   Slack's published code, as a second opinion on structure.
An over-large message is not `invalid_blocks` but `msg_blocks_too_long` (see `TOO_LONG`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

Json = dict[str, Any]
_REF = "https://docs.slack.dev/reference/block-kit"


@dataclass(frozen=True)
class Limit:
    value: int
    source: str


# fmt: off
LIMITS: dict[str, Limit] = {
    "message_blocks":      Limit(50,   f"{_REF}/blocks"),  # "up to 50 blocks in each message"
    "view_blocks":         Limit(100,  f"{_REF}/blocks"),  # "up to 100 blocks in modals or Home"
    "block_id":            Limit(255,  f"{_REF}/blocks"),  # every block: "Maximum length 255"
    "text_object":         Limit(3000, f"{_REF}/composition-objects/text-object"),
    "header_text":         Limit(150,  f"{_REF}/blocks/header-block"),
    "section_text":        Limit(3000, f"{_REF}/blocks/section-block"),
    "section_fields":      Limit(10,   f"{_REF}/blocks/section-block"),
    "section_field_text":  Limit(2000, f"{_REF}/blocks/section-block"),
    "context_elements":    Limit(10,   f"{_REF}/blocks/context-block"),
    "actions_elements":    Limit(25,   f"{_REF}/blocks/actions-block"),
    "button_text":         Limit(75,   f"{_REF}/block-elements/button-element"),
    "button_value":        Limit(2000, f"{_REF}/block-elements/button-element"),
    "button_url":          Limit(3000, f"{_REF}/block-elements/button-element"),
    "action_id":           Limit(255,  f"{_REF}/block-elements"),
    "placeholder":         Limit(150,  f"{_REF}/block-elements"),
    "confirm_title":       Limit(100,  f"{_REF}/composition-objects/confirmation-dialog-object"),
    "confirm_text":        Limit(300,  f"{_REF}/composition-objects/confirmation-dialog-object"),
    "confirm_button":      Limit(30,   f"{_REF}/composition-objects/confirmation-dialog-object"),
    "option_text":         Limit(75,   f"{_REF}/composition-objects/option-object"),
    "option_value":        Limit(150,  f"{_REF}/composition-objects/option-object"),
    "option_description":  Limit(75,   f"{_REF}/composition-objects/option-object"),
    "select_options":      Limit(100,  f"{_REF}/block-elements/select-menu-element"),
    "overflow_options":    Limit(5,    f"{_REF}/block-elements/overflow-menu-element"),
    "image_alt_text":      Limit(2000, f"{_REF}/blocks/image-block"),
    "image_url":           Limit(3000, f"{_REF}/blocks/image-block"),
    "image_title":         Limit(2000, f"{_REF}/blocks/image-block"),
    "input_label":         Limit(2000, f"{_REF}/blocks/input-block"),
    "input_hint":          Limit(2000, f"{_REF}/blocks/input-block"),
    "markdown_total":      Limit(12000, f"{_REF}/blocks/markdown-block"),  # cumulative per payload
    "video_title":         Limit(200,  f"{_REF}/blocks/video-block"),
    "video_description":   Limit(200,  f"{_REF}/blocks/video-block"),
    "video_author_name":   Limit(50,   f"{_REF}/blocks/video-block"),
    "view_title":          Limit(24,   "https://docs.slack.dev/reference/views/modal-views"),
    "view_button":         Limit(24,   "https://docs.slack.dev/reference/views/modal-views"),
    "private_metadata":    Limit(3000, "https://docs.slack.dev/reference/views/modal-views"),
    "callback_id":         Limit(255,  "https://docs.slack.dev/reference/views/modal-views"),
    "external_id":         Limit(255,  "https://docs.slack.dev/reference/views/modal-views"),
    # Not a documented number: chat.postMessage lists `msg_blocks_too_long` ("blocks too long")
    # (https://docs.slack.dev/reference/methods/chat.postMessage); real Slack was observed to
    # answer it around 13k characters of block JSON (/work/shared/reference/slack/FACTS.md §4).
    # Measured here as the compact JSON of `blocks` (separators "," ":", unicode kept).
    "message_blocks_chars": Limit(13000, "https://docs.slack.dev/reference/methods/chat.postMessage"),
}
# fmt: on

TOO_LONG = "msg_blocks_too_long"
BLOCK_TYPES = frozenset(
    {"section", "header", "context", "actions", "divider", "input", "image", "rich_text"}
    | {"file", "video", "markdown"}
)
VIEW_TYPES = frozenset({"modal", "home"})
_TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
_SELECTS = frozenset(
    {"static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow"}
)


def message_size(blocks: list[Any]) -> int:
    """The aggregate size Slack's `msg_blocks_too_long` is measured against here."""
    return len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":")))


def check_message(blocks: list[Any]) -> list[str]:
    """Errors for a message's blocks, [] when Slack would take them; [TOO_LONG] when too big."""
    errors = list(_blocks(blocks, "/blocks", LIMITS["message_blocks"].value))
    if not errors and message_size(blocks) > LIMITS["message_blocks_chars"].value:
        return [TOO_LONG]
    return errors


def check_view(view: Any) -> list[str]:
    """Errors for a modal or Home view, each naming its JSON pointer; [] when valid."""
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/]"]
    errors = list(_view(view))
    # slack_sdk's View insists on 1..100 blocks; Slack itself takes an empty Home view (a
    # cleared tab), so the model's opinion is asked only when there are blocks.
    if not errors and view.get("blocks"):
        try:
            View(**view).validate_json()
        except (SlackObjectFormationError, TypeError, KeyError) as refusal:
            errors.append(f"{refusal} [json-pointer:/]")
    return errors


# --- the walker ---------------------------------------------------------------------------


def _err(pointer: str, message: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _string(value: Any, at: str, limit: str, *, required: bool = False) -> Iterator[str]:
    if value is None:
        if required:
            yield _err(at, "missing required field")
        return
    if not isinstance(value, str):
        yield _err(at, "must be a string")
    elif len(value) > LIMITS[limit].value:
        yield _err(at, f"must be less than {LIMITS[limit].value + 1} characters")
    elif required and not value:
        yield _err(at, "must be more than 0 characters")


def _text_object(
    owner: Json, key: str, at: str, limit: str, *, required: bool = False, plain: bool = False
) -> Iterator[str]:
    value, pointer = owner.get(key), f"{at}/{key}"
    if value is None:
        if required:
            yield _err(pointer, "missing required field")
        return
    yield from _text_value(value, pointer, limit, plain=plain)


def _text_value(value: Any, pointer: str, limit: str, *, plain: bool = False) -> Iterator[str]:
    """A text object ({type, text}) at `pointer`: its type, and 1..limit characters of text."""
    if not isinstance(value, dict):
        yield _err(pointer, "must be an object")
        return
    kind = value.get("type")
    if kind not in _TEXT_TYPES or (plain and kind != "plain_text"):
        allowed = "plain_text" if plain else "plain_text, mrkdwn"
        yield _err(f"{pointer}/type", f"must be one of [{allowed}]")
    cap = min(LIMITS[limit].value, LIMITS["text_object"].value)
    text = value.get("text")
    if not isinstance(text, str):
        yield _err(f"{pointer}/text", "must be a string")
    elif len(text) > cap:
        yield _err(f"{pointer}/text", f"must be less than {cap + 1} characters")
    elif not text:
        yield _err(f"{pointer}/text", "must be more than 0 characters")


def _list(
    owner: Json, key: str, at: str, limit: int, *, minimum: int = 0
) -> Iterator[tuple[int, Any, str]]:
    """(-1, error, pointer) for a wrong list, then (index, item, pointer) per item."""
    value, pointer = owner.get(key), f"{at}/{key}"
    if value is None:
        if minimum:
            yield -1, _err(pointer, "missing required field"), pointer
        return
    if not isinstance(value, list):
        yield -1, _err(pointer, "must be an array"), pointer
        return
    if len(value) > limit:
        yield -1, _err(pointer, f"no more than {limit} items allowed"), pointer
    if len(value) < minimum:
        yield -1, _err(pointer, f"must provide at least {minimum} items"), pointer
    for index, item in enumerate(value):
        yield index, item, f"{pointer}/{index}"


def _blocks(blocks: Any, at: str, limit: int) -> Iterator[str]:
    holder = {"blocks": blocks}
    block_ids: set[str] = set()
    markdown_total = 0
    for index, block, pointer in _list(holder, "blocks", at.rsplit("/", 1)[0], limit):
        if index < 0:
            yield block
            continue
        if not isinstance(block, dict):
            yield _err(pointer, "must be an object")
            continue
        found = list(_block(block, pointer, block_ids))
        yield from found
        if block.get("type") == "markdown" and isinstance(block.get("text"), str):
            markdown_total += len(block["text"])
            if markdown_total > LIMITS["markdown_total"].value:
                limit_chars = LIMITS["markdown_total"].value
                yield _err(f"{pointer}/text", f"markdown blocks over {limit_chars} characters")
        if not found:
            yield from _sdk_block(block, pointer)


def _sdk_block(block: Json, at: str) -> Iterator[str]:
    """slack_sdk's own model of the block: a second, independent reading of the structure."""
    try:
        model = Block.parse(block)
        if model is None:
            yield _err(f"{at}/type", "unsupported type")
        else:
            model.validate_json()
    except (SlackObjectFormationError, TypeError, KeyError, ValueError) as refusal:
        yield _err(at, str(refusal))


def _block(block: Json, at: str, block_ids: set[str]) -> Iterator[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        yield _err(f"{at}/type", "unsupported type")
        return
    yield from _string(block.get("block_id"), f"{at}/block_id", "block_id")
    block_id = block.get("block_id")
    if isinstance(block_id, str):
        if block_id in block_ids:
            yield _err(f"{at}/block_id", "duplicate block_id")
        block_ids.add(block_id)
    yield from _BLOCK_RULES[kind](block, at)


def _section(block: Json, at: str) -> Iterator[str]:
    if "text" not in block and "fields" not in block:
        yield _err(at, "must provide either text or fields")
    yield from _text_object(block, "text", at, "section_text")
    for index, field, pointer in _list(block, "fields", at, LIMITS["section_fields"].value):
        if index < 0:
            yield field
        elif isinstance(field, dict):
            yield from _text_value(field, pointer, "section_field_text")
        else:
            yield _err(pointer, "must be an object")
    if "accessory" in block:
        yield from _element(block["accessory"], f"{at}/accessory")


def _header(block: Json, at: str) -> Iterator[str]:
    yield from _text_object(block, "text", at, "header_text", required=True, plain=True)


def _context(block: Json, at: str) -> Iterator[str]:
    limit = LIMITS["context_elements"].value
    for index, element, pointer in _list(block, "elements", at, limit, minimum=1):
        if index < 0:
            yield element
        elif isinstance(element, dict) and element.get("type") == "image":
            yield from _image(element, pointer)
        elif isinstance(element, dict):
            yield from _text_value(element, pointer, "text_object")
        else:
            yield _err(pointer, "must be an object")


def _actions(block: Json, at: str) -> Iterator[str]:
    limit = LIMITS["actions_elements"].value
    for index, element, pointer in _list(block, "elements", at, limit, minimum=1):
        if index < 0:
            yield element
        else:
            yield from _element(element, pointer)


def _image(block: Json, at: str) -> Iterator[str]:
    if "image_url" not in block and "slack_file" not in block:
        yield _err(f"{at}/image_url", "missing required field")
    yield from _string(block.get("image_url"), f"{at}/image_url", "image_url")
    yield from _string(block.get("alt_text"), f"{at}/alt_text", "image_alt_text", required=True)
    yield from _text_object(block, "title", at, "image_title", plain=True)


def _input(block: Json, at: str) -> Iterator[str]:
    yield from _text_object(block, "label", at, "input_label", required=True, plain=True)
    yield from _text_object(block, "hint", at, "input_hint", plain=True)
    if "element" not in block:
        yield _err(f"{at}/element", "missing required field")
    else:
        yield from _element(block["element"], f"{at}/element")


def _markdown(block: Json, at: str) -> Iterator[str]:
    yield from _string(block.get("text"), f"{at}/text", "markdown_total", required=True)


def _video(block: Json, at: str) -> Iterator[str]:
    for key in ("video_url", "thumbnail_url"):
        yield from _string(block.get(key), f"{at}/{key}", "image_url", required=True)
    yield from _string(block.get("alt_text"), f"{at}/alt_text", "image_alt_text", required=True)
    yield from _text_object(block, "title", at, "video_title", required=True, plain=True)
    yield from _text_object(block, "description", at, "video_description", plain=True)
    yield from _string(block.get("author_name"), f"{at}/author_name", "video_author_name")


def _file(block: Json, at: str) -> Iterator[str]:
    yield from _string(block.get("external_id"), f"{at}/external_id", "external_id", required=True)
    if block.get("source") != "remote":
        yield _err(f"{at}/source", "must be remote")


def _rich_text(block: Json, at: str) -> Iterator[str]:
    for index, element, pointer in _list(block, "elements", at, 10_000, minimum=1):
        if index < 0:
            yield element
        elif not isinstance(element, dict) or "type" not in element:
            yield _err(pointer, "must be an object with a type")


def _divider(block: Json, at: str) -> Iterator[str]:
    yield from ()


_BLOCK_RULES = {
    "section": _section,
    "header": _header,
    "context": _context,
    "actions": _actions,
    "divider": _divider,
    "input": _input,
    "image": _image,
    "rich_text": _rich_text,
    "markdown": _markdown,
    "video": _video,
    "file": _file,
}


def _element(element: Any, at: str) -> Iterator[str]:
    if not isinstance(element, dict):
        yield _err(at, "must be an object")
        return
    kind = element.get("type")
    if kind == "image":
        yield from _image(element, at)
        return
    yield from _string(element.get("action_id"), f"{at}/action_id", "action_id")
    yield from _text_object(element, "placeholder", at, "placeholder", plain=True)
    if kind == "button":
        yield from _text_object(element, "text", at, "button_text", required=True, plain=True)
        yield from _string(element.get("value"), f"{at}/value", "button_value")
        yield from _string(element.get("url"), f"{at}/url", "button_url")
    if "confirm" in element:
        yield from _confirm(element["confirm"], f"{at}/confirm")
    if kind in _SELECTS:
        overflow = kind == "overflow"
        limit = LIMITS["overflow_options" if overflow else "select_options"].value
        for index, option, pointer in _list(element, "options", at, limit, minimum=1):
            if index < 0:
                yield option
            else:
                yield from _option(
                    option, pointer, plain=kind not in ("checkboxes", "radio_buttons")
                )


def _option(option: Any, at: str, *, plain: bool) -> Iterator[str]:
    if not isinstance(option, dict):
        yield _err(at, "must be an object")
        return
    yield from _text_object(option, "text", at, "option_text", required=True, plain=plain)
    yield from _string(option.get("value"), f"{at}/value", "option_value", required=True)
    yield from _text_object(option, "description", at, "option_description", plain=True)


def _confirm(confirm: Any, at: str) -> Iterator[str]:
    if not isinstance(confirm, dict):
        yield _err(at, "must be an object")
        return
    yield from _text_object(confirm, "title", at, "confirm_title", required=True, plain=True)
    yield from _text_object(confirm, "text", at, "confirm_text", required=True)
    yield from _text_object(confirm, "confirm", at, "confirm_button", required=True, plain=True)
    yield from _text_object(confirm, "deny", at, "confirm_button", required=True, plain=True)


def _view(view: Json) -> Iterator[str]:
    kind = view.get("type")
    if kind not in VIEW_TYPES:
        yield _err("/type", "must be one of [modal, home]")
        return
    if kind == "modal":
        yield from _text_object(view, "title", "", "view_title", required=True, plain=True)
        for key in ("submit", "close"):
            yield from _text_object(view, key, "", "view_button", plain=True)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(block, dict) and block.get("type") == "input" for block in blocks
        )
        if has_input and "submit" not in view:
            yield _err("/submit", "must provide submit when the view has input blocks")
    yield from _string(view.get("private_metadata"), "/private_metadata", "private_metadata")
    yield from _string(view.get("callback_id"), "/callback_id", "callback_id")
    yield from _string(view.get("external_id"), "/external_id", "external_id")
    if not isinstance(view.get("blocks"), list):
        yield _err("/blocks", "missing required field")
    else:
        yield from _blocks(view["blocks"], "/blocks", LIMITS["view_blocks"].value)
