"""The Slack emulator's own Block Kit rules (block_rules.py), one documented limit per row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.sandbox.slack_emulator import SlackEmulator
from app.sandbox.slack_emulator.block_rules import LIMITS, message_size
from app.slack import blockkit

REPO_ROOT = Path(__file__).resolve().parents[2]
Json = dict[str, Any]


def plain(text: str) -> Json:
    return {"type": "plain_text", "text": text}


def md(text: str) -> Json:
    return {"type": "mrkdwn", "text": text}


def section(text: str = "ok", **extra: Any) -> Json:
    return {"type": "section", "text": md(text), **extra}


def button(**changes: Any) -> Json:
    return {"type": "button", "action_id": "a", "text": plain("Go"), "value": "v", **changes}


def option(text: str = "o", value: str = "v", **extra: Any) -> Json:
    return {"text": plain(text), "value": value, **extra}


def select(options: list[Json]) -> Json:
    return {"type": "static_select", "action_id": "s", "options": options}


CONFIRM = {
    "title": plain("Sure?"),
    "text": md("Really"),
    "confirm": plain("Yes"),
    "deny": plain("No"),
}

# (case, blocks, the JSON pointer Slack names, the words of its error)
REFUSED: list[tuple[str, list[Json], str, str]] = [
    ("51 blocks", [section()] * 51, "/blocks", "no more than 50 items"),
    (
        "header text 151",
        [{"type": "header", "text": plain("h" * 151)}],
        "/blocks/0/text/text",
        "less than 151",
    ),
    ("header mrkdwn", [{"type": "header", "text": md("h")}], "/blocks/0/text/type", "plain_text"),
    ("section text 3001", [section("s" * 3001)], "/blocks/0/text/text", "less than 3001"),
    ("section neither text nor fields", [{"type": "section"}], "/blocks/0", "text or fields"),
    (
        "11 fields",
        [{"type": "section", "fields": [md("f")] * 11}],
        "/blocks/0/fields",
        "no more than 10",
    ),
    (
        "field 2001",
        [{"type": "section", "fields": [md("f" * 2001)]}],
        "/blocks/0/fields/0/text",
        "less than 2001",
    ),
    ("context empty", [{"type": "context", "elements": []}], "/blocks/0/elements", "at least 1"),
    (
        "context 11",
        [{"type": "context", "elements": [md("c")] * 11}],
        "/blocks/0/elements",
        "no more than 10",
    ),
    (
        "context text 3001",
        [{"type": "context", "elements": [md("c" * 3001)]}],
        "/blocks/0/elements/0/text",
        "less than 3001",
    ),
    ("actions empty", [{"type": "actions", "elements": []}], "/blocks/0/elements", "at least 1"),
    (
        "actions 26",
        [{"type": "actions", "elements": [button(action_id=f"a{n}") for n in range(26)]}],
        "/blocks/0/elements",
        "no more than 25",
    ),
    (
        "button text 76",
        [{"type": "actions", "elements": [button(text=plain("b" * 76))]}],
        "/blocks/0/elements/0/text/text",
        "less than 76",
    ),
    (
        "button value 2001",
        [{"type": "actions", "elements": [button(value="v" * 2001)]}],
        "/blocks/0/elements/0/value",
        "less than 2001",
    ),
    (
        "action_id 256",
        [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
        "/blocks/0/elements/0/action_id",
        "less than 256",
    ),
    (
        "button url 3001",
        [{"type": "actions", "elements": [button(url="https://x/" + "u" * 2991)]}],
        "/blocks/0/elements/0/url",
        "less than 3001",
    ),
    (
        "confirm title 101",
        [{"type": "actions", "elements": [button(confirm={**CONFIRM, "title": plain("t" * 101)})]}],
        "/blocks/0/elements/0/confirm/title/text",
        "less than 101",
    ),
    (
        "confirm text 301",
        [{"type": "actions", "elements": [button(confirm={**CONFIRM, "text": md("t" * 301)})]}],
        "/blocks/0/elements/0/confirm/text/text",
        "less than 301",
    ),
    (
        "confirm deny 31",
        [{"type": "actions", "elements": [button(confirm={**CONFIRM, "deny": plain("d" * 31)})]}],
        "/blocks/0/elements/0/confirm/deny/text",
        "less than 31",
    ),
    (
        "option text 76",
        [{"type": "actions", "elements": [select([option("o" * 76)])]}],
        "/blocks/0/elements/0/options/0/text/text",
        "less than 76",
    ),
    (
        "option value 151",
        [{"type": "actions", "elements": [select([option(value="v" * 151)])]}],
        "/blocks/0/elements/0/options/0/value",
        "less than 151",
    ),
    (
        "option description 76",
        [{"type": "actions", "elements": [select([option(description=plain("d" * 76))])]}],
        "/blocks/0/elements/0/options/0/description/text",
        "less than 76",
    ),
    (
        "select without options",
        [{"type": "actions", "elements": [select([])]}],
        "/blocks/0/elements/0/options",
        "at least 1",
    ),
    (
        "image alt_text 2001",
        [{"type": "image", "image_url": "https://x/i.png", "alt_text": "a" * 2001}],
        "/blocks/0/alt_text",
        "less than 2001",
    ),
    (
        "image without url",
        [{"type": "image", "alt_text": "a"}],
        "/blocks/0/image_url",
        "missing required",
    ),
    (
        "image without alt_text",
        [{"type": "image", "image_url": "https://x/i.png"}],
        "/blocks/0/alt_text",
        "missing required",
    ),
    ("block_id 256", [section(block_id="b" * 256)], "/blocks/0/block_id", "less than 256"),
    (
        "duplicate block_id",
        [section(block_id="same"), section(block_id="same")],
        "/blocks/1/block_id",
        "duplicate",
    ),
    ("unknown type", [{"type": "sparkles"}], "/blocks/0/type", "unsupported"),
    (
        "video without title",
        [
            {
                "type": "video",
                "alt_text": "v",
                "video_url": "https://x/v",
                "thumbnail_url": "https://x/t",
            }
        ],
        "/blocks/0/title",
        "missing required",
    ),
    (
        "file not remote",
        [{"type": "file", "external_id": "F1", "source": "local"}],
        "/blocks/0/source",
        "remote",
    ),
    (
        "markdown over 12000 in total",
        [{"type": "markdown", "text": "m" * 6001}, {"type": "markdown", "text": "m" * 6000}],
        "/blocks/1/text",
        "12000",
    ),
]

VALID: list[tuple[str, Json]] = [
    ("markdown", {"type": "markdown", "text": "**Bold** and a [link](https://example.com)"}),
    (
        "video",
        {
            "type": "video",
            "title": plain("Walkthrough"),
            "alt_text": "a video",
            "video_url": "https://example.com/embed/1",
            "thumbnail_url": "https://example.com/t.png",
        },
    ),
    ("file", {"type": "file", "external_id": "ABCD1", "source": "remote"}),
    (
        "rich_text",
        {
            "type": "rich_text",
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "hi"}]}
            ],
        },
    ),
    ("divider", {"type": "divider"}),
    ("image", {"type": "image", "image_url": "https://example.com/i.png", "alt_text": "chart"}),
    ("context at the limit", {"type": "context", "elements": [md("c" * 3000)] * 4}),
    ("section fields only", {"type": "section", "fields": [md("f" * 900)] * 10}),
]


def _refusal(call: Any) -> Json:
    with pytest.raises(SlackApiError) as refused:
        call()
    return dict(refused.value.response.data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "blocks", "pointer", "words"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_each_documented_block_limit_is_refused_as_slack_does(
    slack_client: WebClient, case: str, blocks: list[Json], pointer: str, words: str
) -> None:
    """Breaking one limit answers invalid_blocks naming the value's JSON pointer, in errors and
    response_metadata.messages ("[ERROR] … [json-pointer:…]")."""
    body = _refusal(
        lambda: slack_client.chat_postMessage(channel="C0BILLING", text="x", blocks=blocks)
    )
    assert body["error"] == "invalid_blocks"
    messages = body["response_metadata"]["messages"]
    assert any(
        m.startswith("[ERROR] ") and words in m and m.endswith(f"[json-pointer:{pointer}]")
        for m in messages
    ), messages
    assert [f"[ERROR] {e}" for e in body["errors"]] == messages


@pytest.mark.parametrize(("case", "block"), VALID, ids=[v[0] for v in VALID])
def test_valid_blocks_of_every_type_are_accepted(
    slack_client: WebClient, slack_emulator: SlackEmulator, case: str, block: Json
) -> None:
    """A valid block of each documented type (markdown, video, file, rich_text…) is posted."""
    posted = slack_client.chat_postMessage(channel="C0BILLING", text="x", blocks=[block])
    assert posted["ok"] is True
    assert slack_emulator.message("C0BILLING", posted["ts"]).blocks[0]["type"] == block["type"]


def test_an_oversized_message_is_msg_blocks_too_long(slack_client: WebClient) -> None:
    """Blocks each within limits but over ~13k characters in all answer msg_blocks_too_long."""
    blocks = [section("s" * 2900) for _ in range(5)]
    assert message_size(blocks) > LIMITS["message_blocks_chars"].value
    body = _refusal(
        lambda: slack_client.chat_postMessage(channel="C0BILLING", text="x", blocks=blocks)
    )
    assert body["error"] == "msg_blocks_too_long"
    fits = [section("s" * 2900) for _ in range(4)]
    assert slack_client.chat_postMessage(channel="C0BILLING", text="x", blocks=fits)["ok"] is True


MODAL: Json = {
    "type": "modal",
    "callback_id": "cb",
    "title": plain("Reject"),
    "submit": plain("Reject"),
    "blocks": [
        {
            "type": "input",
            "label": plain("Why?"),
            "element": {"type": "plain_text_input", "action_id": "why"},
        }
    ],
}

VIEW_REFUSED: list[tuple[str, Json, str, str]] = [
    ("title 25", {**MODAL, "title": plain("t" * 25)}, "/view/title/text", "less than 25"),
    ("submit 25", {**MODAL, "submit": plain("s" * 25)}, "/view/submit/text", "less than 25"),
    ("close 25", {**MODAL, "close": plain("c" * 25)}, "/view/close/text", "less than 25"),
    (
        "inputs without submit",
        {k: v for k, v in MODAL.items() if k != "submit"},
        "/view/submit",
        "submit",
    ),
    (
        "private_metadata 3001",
        {**MODAL, "private_metadata": "p" * 3001},
        "/view/private_metadata",
        "less than 3001",
    ),
    ("callback_id 256", {**MODAL, "callback_id": "c" * 256}, "/view/callback_id", "less than 256"),
    ("101 blocks", {**MODAL, "blocks": [section()] * 101}, "/view/blocks", "no more than 100"),
    (
        "input label 2001",
        {**MODAL, "blocks": [{**MODAL["blocks"][0], "label": plain("l" * 2001)}]},
        "/view/blocks/0/label/text",
        "less than 2001",
    ),
]


@pytest.mark.parametrize(
    ("case", "view", "pointer", "words"), VIEW_REFUSED, ids=[v[0] for v in VIEW_REFUSED]
)
def test_each_view_limit_is_refused(
    slack_client: WebClient,
    slack_emulator: SlackEmulator,
    case: str,
    view: Json,
    pointer: str,
    words: str,
) -> None:
    """views.open refuses a modal breaking one limit, naming the pointer inside the view."""
    trigger = slack_emulator.issue_trigger_id()
    body = _refusal(lambda: slack_client.views_open(trigger_id=trigger, view=view))
    assert body["error"] == "invalid_arguments"
    messages = body["response_metadata"]["messages"]
    assert any(words in m and m.endswith(f"[json-pointer:{pointer}]") for m in messages), messages


def test_a_valid_modal_with_100_blocks_opens(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """A modal with input blocks, a submit and 100 blocks in all is accepted."""
    view = {**MODAL, "blocks": [*MODAL["blocks"], *([section()] * 99)]}
    opened = slack_client.views_open(trigger_id=slack_emulator.issue_trigger_id(), view=view)
    assert len(opened["view"]["blocks"]) == 100


def test_every_limit_names_its_source() -> None:
    """Each limit in the emulator's table carries the https address it was taken from."""
    assert LIMITS
    for name, limit in LIMITS.items():
        assert limit.source.startswith("https://docs.slack.dev/"), name
        assert limit.value > 0, name


def test_slack_emulator_imports_nothing_of_the_app() -> None:
    """Importing the Slack emulator loads no Countersign module but its own and the kit."""
    probe = (
        "import sys, app.sandbox.slack_emulator, app.sandbox.slack_emulator.__main__\n"
        "own = ('app', 'app.sandbox')\n"
        "mine = ('app.sandbox.slack_emulator', 'app.sandbox.emulator_kit')\n"
        "print(sorted(m for m in sys.modules if m.startswith('app') and m not in own\n"
        "      and not m.startswith(mine)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_lint_imports_keeps_every_layering_contract() -> None:
    """import-linter (the `make lint` step) reports every contract in pyproject.toml kept."""
    tool = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(tool)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:]
    assert "0 broken" in run.stdout


# The app never sends these kinds, so its own checker does not know their rules.
NOT_BUILT_BY_THE_APP = {"unknown type", "video without title", "file not remote"}
FITTABLE = [r for r in REFUSED if r[0] not in NOT_BUILT_BY_THE_APP]


@pytest.mark.parametrize(
    ("case", "blocks", "pointer", "words"), FITTABLE, ids=[r[0] for r in FITTABLE]
)
def test_the_apps_fitting_makes_every_refused_message_acceptable(
    slack_client: WebClient, case: str, blocks: list[Json], pointer: str, words: str
) -> None:
    """The app's own check (app/slack/blockkit.py) refuses what the emulator refuses, and what
    its fit_message makes of it the emulator accepts."""
    assert blockkit.check_message(blocks)
    fitted, warnings = blockkit.fit_message(blocks)
    assert warnings
    assert slack_client.chat_postMessage(channel="C0BILLING", text="x", blocks=fitted)["ok"]
