"""Block Kit limits: checked as Slack rejects them, fitted so Slack accepts them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.slack.blockkit import check_message, check_view, fit_message, fit_view
from app.slack.mrkdwn import escape as escape_mrkdwn

Json = dict[str, Any]


def plain(text: str) -> Json:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> Json:
    return {"type": "mrkdwn", "text": text}


def button(action_id: str = "b", **extra: Any) -> Json:
    return {"type": "button", "action_id": action_id, "text": plain("Go"), **extra}


def option(text: str = "o") -> Json:
    return {"text": plain(text), "value": "v"}


def actions(*elements: Json) -> Json:
    return {"type": "actions", "block_id": "acts", "elements": list(elements)}


def confirm(**overrides: str) -> Json:
    texts = {"title": "Sure?", "text": "Really", "confirm": "Yes", "deny": "No", **overrides}
    return {
        "title": plain(texts["title"]),
        "text": plain(texts["text"]),
        "confirm": plain(texts["confirm"]),
        "deny": plain(texts["deny"]),
    }


def modal(**extra: Any) -> Json:
    return {"type": "modal", "title": plain("Reject"), "blocks": [], **extra}


X = "x"
Build = Callable[[int], list[Json]]


def _confirm_build(part: str) -> Build:
    return lambda n: [actions(button(confirm=confirm(**{part: X * n})))]


# (name, builds a message whose limited value has size n, the limit, its pointer, Slack's message)
MESSAGE_LIMITS: list[tuple[str, Build, int, str, str]] = [
    ("blocks", lambda n: [{"type": "divider"}] * n, 50, "/blocks", "items"),
    (
        "section text",
        lambda n: [{"type": "section", "text": mrkdwn(X * n)}],
        3000,
        "/blocks/0/text/text",
        "chars",
    ),
    (
        "section fields",
        lambda n: [{"type": "section", "fields": [mrkdwn("f")] * n}],
        10,
        "/blocks/0/fields",
        "items",
    ),
    (
        "section field text",
        lambda n: [{"type": "section", "fields": [mrkdwn(X * n)]}],
        2000,
        "/blocks/0/fields/0/text",
        "chars",
    ),
    (
        "block_id",
        lambda n: [{"type": "divider", "block_id": X * n}],
        255,
        "/blocks/0/block_id",
        "chars",
    ),
    (
        "header text",
        lambda n: [{"type": "header", "text": plain(X * n)}],
        150,
        "/blocks/0/text/text",
        "chars",
    ),
    (
        "context elements",
        lambda n: [{"type": "context", "elements": [mrkdwn("c")] * n}],
        10,
        "/blocks/0/elements",
        "items",
    ),
    (
        "actions elements",
        lambda n: [actions(*(button(f"b{i}") for i in range(n)))],
        25,
        "/blocks/0/elements",
        "items",
    ),
    (
        "button text",
        lambda n: [actions({**button(), "text": plain(X * n)})],
        75,
        "/blocks/0/elements/0/text/text",
        "chars",
    ),
    (
        "button value",
        lambda n: [actions(button(value=X * n))],
        2000,
        "/blocks/0/elements/0/value",
        "chars",
    ),
    (
        "button url",
        lambda n: [actions(button(url=X * n))],
        3000,
        "/blocks/0/elements/0/url",
        "chars",
    ),
    (
        "action_id",
        lambda n: [actions(button(X * n))],
        255,
        "/blocks/0/elements/0/action_id",
        "chars",
    ),
    (
        "placeholder",
        lambda n: [
            actions(
                {
                    "type": "static_select",
                    "action_id": "s",
                    "placeholder": plain(X * n),
                    "options": [option()],
                }
            )
        ],
        150,
        "/blocks/0/elements/0/placeholder/text",
        "chars",
    ),
    (
        "input label",
        lambda n: [
            {
                "type": "input",
                "label": plain(X * n),
                "element": {"type": "plain_text_input", "action_id": "i"},
            }
        ],
        2000,
        "/blocks/0/label/text",
        "chars",
    ),
    (
        "input hint",
        lambda n: [
            {
                "type": "input",
                "label": plain("L"),
                "hint": plain(X * n),
                "element": {"type": "plain_text_input", "action_id": "i"},
            }
        ],
        2000,
        "/blocks/0/hint/text",
        "chars",
    ),
    (
        "select options",
        lambda n: [actions({"type": "static_select", "action_id": "s", "options": [option()] * n})],
        100,
        "/blocks/0/elements/0/options",
        "items",
    ),
    (
        "overflow options",
        lambda n: [actions({"type": "overflow", "action_id": "o", "options": [option()] * n})],
        5,
        "/blocks/0/elements/0/options",
        "items",
    ),
    (
        "option text",
        lambda n: [actions({"type": "overflow", "action_id": "o", "options": [option(X * n)]})],
        75,
        "/blocks/0/elements/0/options/0/text/text",
        "chars",
    ),
    *(
        (
            f"confirm {part}",
            _confirm_build(part),
            limit,
            f"/blocks/0/elements/0/confirm/{part}/text",
            "chars",
        )
        for part, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30))
    ),
]

VIEW_LIMITS: list[tuple[str, Callable[[int], Json], int, str, str]] = [
    ("modal blocks", lambda n: modal(blocks=[{"type": "divider"}] * n), 100, "/blocks", "items"),
    (
        "home blocks",
        lambda n: {"type": "home", "blocks": [{"type": "divider"}] * n},
        100,
        "/blocks",
        "items",
    ),
    ("title", lambda n: modal(title=plain(X * n)), 24, "/title/text", "chars"),
    ("submit", lambda n: modal(submit=plain(X * n)), 24, "/submit/text", "chars"),
    ("close", lambda n: modal(close=plain(X * n)), 24, "/close/text", "chars"),
    (
        "private_metadata",
        lambda n: modal(private_metadata=X * n),
        3000,
        "/private_metadata",
        "chars",
    ),
    ("callback_id", lambda n: modal(callback_id=X * n), 255, "/callback_id", "chars"),
    ("external_id", lambda n: modal(external_id=X * n), 255, "/external_id", "chars"),
]


def _slack_error(kind: str, limit: int, pointer: str) -> str:
    if kind == "items":
        return f"no more than {limit} items allowed [json-pointer:{pointer}]"
    return f"must be less than {limit + 1} characters [json-pointer:{pointer}]"


@pytest.mark.parametrize(("name", "build", "limit", "pointer", "kind"), MESSAGE_LIMITS)
def test_message_limit(name: str, build: Build, limit: int, pointer: str, kind: str) -> None:
    """At the limit a message passes; one over fails with Slack's error text and pointer."""
    assert check_message(build(limit)) == []
    assert check_message(build(limit + 1)) == [_slack_error(kind, limit, pointer)]


@pytest.mark.parametrize(("name", "build", "limit", "pointer", "kind"), VIEW_LIMITS)
def test_view_limit(
    name: str, build: Callable[[int], Json], limit: int, pointer: str, kind: str
) -> None:
    """At the limit a view passes; one over fails with Slack's error text and pointer."""
    assert check_view(build(limit)) == []
    assert check_view(build(limit + 1)) == [_slack_error(kind, limit, pointer)]


def test_minimums() -> None:
    """Empty section text and an overflow without options are errors too."""
    assert check_message([{"type": "section", "text": mrkdwn("")}]) == [
        "must be more than 0 characters [json-pointer:/blocks/0/text/text]"
    ]
    assert check_message([actions({"type": "overflow", "action_id": "o", "options": []})]) == [
        "must provide at least 1 items [json-pointer:/blocks/0/elements/0/options]"
    ]


def test_unknown_and_malformed_blocks() -> None:
    """A block that is not an object or has an unknown type is rejected at its pointer."""
    malformed: list[Any] = [{"type": "carousel"}, "divider"]
    errors = check_message(malformed)
    assert errors == [
        "unsupported block type 'carousel' [json-pointer:/blocks/0/type]",
        "must be an object [json-pointer:/blocks/1]",
    ]
    assert check_message({"type": "divider"}) == ["must be an array [json-pointer:/blocks]"]  # type: ignore[arg-type]


def test_known_block_types_pass() -> None:
    """Every known block type, well formed, passes."""
    blocks: list[Json] = [
        {"type": "section", "text": mrkdwn("s"), "accessory": button("acc")},
        {"type": "header", "text": plain("h")},
        {"type": "context", "elements": [mrkdwn("c")]},
        actions(button("a"), button("b")),
        {"type": "divider"},
        {"type": "input", "label": plain("l"), "element": {"type": "plain_text_input"}},
        {"type": "image", "image_url": "https://example.com/x.png", "alt_text": "x"},
        {"type": "rich_text", "elements": []},
    ]
    assert check_message(blocks, text="fallback") == []


def test_duplicate_ids_are_rejected() -> None:
    """Two blocks with one block_id, or two elements with one action_id in a block, fail."""
    same = [{"type": "divider", "block_id": "d"}, {"type": "divider", "block_id": "d"}]
    assert check_message(same) == ["duplicate block_id 'd' [json-pointer:/blocks/1/block_id]"]
    twins = [actions(button("a"), button("a"))]
    assert check_message(twins) == [
        "duplicate action_id 'a' [json-pointer:/blocks/0/elements/1/action_id]"
    ]
    apart = [actions(button("a")), {**actions(button("a")), "block_id": "other"}]
    assert check_message(apart) == []


def test_modal_needs_a_title_and_a_known_type() -> None:
    """A modal without a title, or a view of an unknown type, is rejected."""
    assert check_view({"type": "modal", "blocks": []}) == [
        "missing required field: title [json-pointer:/title]"
    ]
    assert check_view({"type": "popup", "blocks": []}) == [
        "must be one of ['home', 'modal'] [json-pointer:/type]"
    ]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a & b", "a &amp; b"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("&lt;", "&amp;lt;"),
        ("plain *bold* _it_", "plain *bold* _it_"),
        ("", ""),
    ],
)
def test_escape_mrkdwn(raw: str, escaped: str) -> None:
    """&, < and > become entities (& first, so entities are not double-read); nothing else."""
    assert escape_mrkdwn(raw) == escaped


def test_fit_truncates_with_an_ellipsis() -> None:
    """An over-long text is cut to exactly its limit, ending in "…", with one warning."""
    blocks = [{"type": "section", "text": mrkdwn("y" * 3500)}]
    fitted, warnings = fit_message(blocks)
    text = fitted[0]["text"]["text"]
    assert len(text) == 3000
    assert text.endswith("…")
    assert warnings == ["truncated /blocks/0/text/text: 3500 -> 3000 characters"]


def test_fit_keeps_the_last_actions_block_when_cutting() -> None:
    """Cutting 60 blocks to 50 keeps the trailing actions block (the buttons matter most)."""
    blocks = [{"type": "section", "text": mrkdwn(str(i))} for i in range(59)]
    blocks.append(actions(button("approve")))
    fitted, warnings = fit_message(blocks)
    assert len(fitted) == 50
    assert fitted[-1] == actions(button("approve"))
    assert fitted[48]["text"]["text"] == "48"
    assert warnings == ["cut /blocks from 60 to 50 items (kept the last actions block)"]


def test_fit_leaves_valid_input_alone() -> None:
    """A message already within limits fits unchanged, with no warnings."""
    blocks = [{"type": "section", "text": mrkdwn("ok")}, actions(button("a"))]
    assert fit_message(blocks) == (blocks, [])


def test_fit_renames_duplicates_and_drops_empty_overflow() -> None:
    """Duplicate ids get a suffix; an overflow without options is removed."""
    blocks = [
        {"type": "divider", "block_id": "d"},
        {"type": "divider", "block_id": "d"},
        actions(button("a"), button("a"), {"type": "overflow", "action_id": "o", "options": []}),
    ]
    fitted, warnings = fit_message(blocks)
    assert [b.get("block_id") for b in fitted] == ["d", "d~2", "acts"]
    assert [e["action_id"] for e in fitted[2]["elements"]] == ["a", "a~2"]
    assert len(warnings) == 3
    assert check_message(fitted) == []


def test_fit_never_mutates_its_input() -> None:
    """fit_message and fit_view work on copies; the caller's dicts are untouched."""
    blocks = [{"type": "section", "text": mrkdwn("z" * 4000)}] * 3 + [{"type": "divider"}] * 60
    view = modal(title=plain("t" * 40), blocks=copy.deepcopy(blocks))
    before_blocks, before_view = copy.deepcopy(blocks), copy.deepcopy(view)
    fit_message(blocks)
    fit_view(view)
    assert blocks == before_blocks
    assert view == before_view


def test_fit_view() -> None:
    """fit_view truncates the title and private_metadata and cuts blocks to 100."""
    view = modal(
        title=plain("A title that is far too long"),
        private_metadata="m" * 3100,
        blocks=[{"type": "divider"}] * 120,
    )
    fitted, warnings = fit_view(view)
    assert fitted["title"]["text"] == "A title that is far too…"
    assert len(fitted["private_metadata"]) == 3000
    assert len(fitted["blocks"]) == 100
    assert len(warnings) == 3
    assert check_view(fitted) == []


# --- property: fit, then check, finds nothing ----------------------------------------------


def _chars(limit: int) -> st.SearchStrategy[str]:
    near_limit = st.integers(max(limit - 2, 0), limit + 40).map(lambda n: "w" * n)
    return st.one_of(st.text(max_size=4), near_limit)


def _plain(limit: int) -> st.SearchStrategy[Json]:
    return _chars(limit).map(plain)


_ids = st.sampled_from(["a", "a", "b", "c~2", "x" * 256, "y" * 254])
_option = _plain(75).map(lambda text: {"text": text, "value": "v"})
_confirm = st.builds(
    lambda t, x, c, d: {"title": t, "text": x, "confirm": c, "deny": d},
    _plain(100),
    _plain(300),
    _plain(30),
    _plain(30),
)
_button = st.builds(
    lambda aid, text, value, url, conf: {
        "type": "button",
        "action_id": aid,
        "text": text,
        "value": value,
        "url": url,
        **({"confirm": conf} if conf else {}),
    },
    _ids,
    _plain(75),
    _chars(2000),
    _chars(3000),
    st.none() | _confirm,
)
_overflow = st.builds(
    lambda aid, options: {"type": "overflow", "action_id": aid, "options": options},
    _ids,
    st.lists(_option, max_size=7),
)
_select = st.builds(
    lambda aid, ph, options: {
        "type": "static_select",
        "action_id": aid,
        "placeholder": ph,
        "options": options,
    },
    _ids,
    _plain(150),
    st.integers(0, 103).map(lambda n: [option()] * n),
)
_element = st.one_of(_button, _overflow, _select)
_blocks_of_each_type = st.one_of(
    st.builds(
        lambda bid, text, fields, accessory: {
            "type": "section",
            "block_id": bid,
            "text": mrkdwn(text),
            "fields": fields,
            **({"accessory": accessory} if accessory else {}),
        },
        _ids,
        _chars(3000),
        st.lists(_chars(2000).map(mrkdwn), max_size=12),
        st.none() | _element,
    ),
    st.builds(lambda t: {"type": "header", "text": t}, _plain(150)),
    st.builds(
        lambda els: {"type": "context", "elements": els},
        st.lists(st.just(mrkdwn("c")), max_size=12),
    ),
    st.builds(
        lambda bid, els: {"type": "actions", "block_id": bid, "elements": els},
        _ids,
        st.lists(_element, max_size=28),
    ),
    st.builds(lambda bid: {"type": "divider", "block_id": bid}, _ids),
    st.builds(
        lambda label, hint, ph: {
            "type": "input",
            "label": label,
            "hint": hint,
            "element": {"type": "plain_text_input", "action_id": "i", "placeholder": ph},
        },
        _plain(2000),
        _plain(2000),
        _plain(150),
    ),
    st.just({"type": "image", "image_url": "https://example.com/i.png", "alt_text": "i"}),
    st.just({"type": "rich_text", "elements": []}),
)
_block_lists = st.lists(_blocks_of_each_type, max_size=8) | st.integers(45, 110).map(
    lambda n: [{"type": "divider"}] * (n - 1) + [actions(button("last"))]
)
_views = st.builds(
    lambda kind, title, submit, meta, cb, blocks: {
        "type": kind,
        **({"title": title, "submit": submit} if kind == "modal" else {}),
        "private_metadata": meta,
        "callback_id": cb,
        "blocks": blocks,
    },
    st.sampled_from(["modal", "home"]),
    _plain(24),
    _plain(24),
    _chars(3000),
    _chars(255),
    _block_lists,
)

_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(_block_lists)
def test_fitted_message_always_checks_clean(blocks: list[Json]) -> None:
    """For any message of known block types, check_message(fit_message(m)) is []."""
    before = copy.deepcopy(blocks)
    fitted, warnings = fit_message(blocks)
    assert check_message(fitted) == []
    assert blocks == before
    assert (fitted == blocks) == (warnings == [])


@_settings
@given(_views)
def test_fitted_view_always_checks_clean(view: Json) -> None:
    """For any modal or Home view of known block types, check_view(fit_view(v)) is []."""
    fitted, _ = fit_view(view)
    assert check_view(fitted) == []
