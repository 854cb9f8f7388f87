"""The Slack emulator answers the real slack_sdk WebClient as Slack would; deliveries are signed."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from tests.integration.slack_fixtures import SLACK_SIGNING_SECRET, SlackMonotonic, SlackReceiver

APPROVE_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "block_id": "cs_summary", "text": {"type": "mrkdwn", "text": "*Credit*"}},
    {
        "type": "actions",
        "block_id": "cs_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "cs_approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "req-1",
                "style": "primary",
            },
            {
                "type": "button",
                "action_id": "cs_reject",
                "text": {"type": "plain_text", "text": "Reject"},
                "value": "req-1",
            },
        ],
    },
]

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "cs_reject_modal",
    "title": {"type": "plain_text", "text": "Reject"},
    "submit": {"type": "plain_text", "text": "Reject"},
    "private_metadata": "req-1",
    "blocks": [
        {
            "type": "input",
            "block_id": "cs_reject_reason",
            "label": {"type": "plain_text", "text": "Why?"},
            "element": {"type": "plain_text_input", "action_id": "cs_reject_reason_input"},
        }
    ],
}


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return exc.value.response["error"]


def test_post_then_update_reflects_the_edit(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """chat.postMessage stores the message; chat.update edits it in place and counts the edit."""
    posted = slack_client.chat_postMessage(channel="C0BILLING", text="v1", blocks=APPROVE_BLOCKS)
    assert posted["channel"] == "C0BILLING"
    assert posted["message"]["bot_id"] == "B0COUNTERSIGN"
    updated = slack_client.chat_update(channel="C0BILLING", ts=posted["ts"], text="v2", blocks=[])
    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "v2"
    (message,) = slack_emulator.messages("C0BILLING")
    assert (message.text, message.blocks, message.edits) == ("v2", [], 1)
    assert slack_emulator.message("C0BILLING", posted["ts"]).user == "U0COUNTERSIGN"
    assert [call.method for call in slack_emulator.calls()] == ["chat.postMessage", "chat.update"]


def test_message_ts_strictly_increase_and_threads_group_replies(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """Every ts is a "seconds.micros" string greater than the last; replies land in the thread."""
    parent = slack_client.chat_postMessage(channel="#billing-exceptions", text="parent")
    replies = [
        slack_client.chat_postMessage(channel="C0BILLING", text=f"r{n}", thread_ts=parent["ts"])
        for n in range(3)
    ]
    stamps = [parent["ts"], *(reply["ts"] for reply in replies)]
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    assert [float(ts) for ts in stamps] == sorted({float(ts) for ts in stamps})
    assert [m.text for m in slack_emulator.thread("C0BILLING", parent["ts"])] == ["r0", "r1", "r2"]


def test_post_errors_match_slack(slack_client: WebClient) -> None:
    """Unknown channel, no text and 51 blocks give Slack's errors, the last with its pointer."""
    with pytest.raises(SlackApiError) as unknown:
        slack_client.chat_postMessage(channel="C0NOPE", text="x")
    assert _error(unknown) == "channel_not_found"
    with pytest.raises(SlackApiError) as empty, pytest.warns(UserWarning, match="`text`"):
        slack_client.chat_postMessage(channel="C0BILLING", text="")
    assert _error(empty) == "no_text"
    with pytest.raises(SlackApiError) as too_many:
        slack_client.chat_postMessage(
            channel="C0BILLING", text="x", blocks=[{"type": "divider"}] * 51
        )
    assert _error(too_many) == "invalid_blocks"
    assert too_many.value.response["errors"] == [
        "no more than 50 items allowed [json-pointer:/blocks]"
    ]
    with pytest.raises(SlackApiError) as missing:
        slack_client.chat_update(channel="C0BILLING", ts="1.000001", text="x")
    assert _error(missing) == "message_not_found"


def test_rate_limit_surfaces_as_429_with_retry_after(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """rate_limit makes the next call answer 429 + Retry-After; the one after succeeds."""
    slack_emulator.rate_limit("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        slack_client.chat_postMessage(channel="C0BILLING", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert _error(limited) == "ratelimited"
    assert slack_client.chat_postMessage(channel="C0BILLING", text="x")["ok"] is True
    assert [c.status for c in slack_emulator.calls("chat.postMessage")] == [429, 200]


def test_fail_injects_an_error_once(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    """fail() answers the next call with HTTP 200 ok:false and the given error."""
    slack_emulator.fail("chat.update", "edit_window_closed")
    posted = slack_client.chat_postMessage(channel="C0BILLING", text="x")
    with pytest.raises(SlackApiError) as failed:
        slack_client.chat_update(channel="C0BILLING", ts=posted["ts"], text="y")
    assert (failed.value.response.status_code, _error(failed)) == (200, "edit_window_closed")
    assert slack_client.chat_update(channel="C0BILLING", ts=posted["ts"], text="y")["ok"]


def test_bad_or_missing_token_is_rejected(slack_emulator: SlackEmulator) -> None:
    """A wrong bearer token answers invalid_auth; none at all answers not_authed."""
    wrong = WebClient(token="xoxb-wrong", base_url=slack_emulator.api_url)
    with pytest.raises(SlackApiError) as invalid:
        wrong.auth_test()
    assert _error(invalid) == "invalid_auth"
    anonymous = httpx.post(slack_emulator.api_url + "auth.test")
    assert anonymous.json() == {"ok": False, "error": "not_authed"}


def test_auth_test_identifies_a_bot(slack_client: WebClient) -> None:
    """auth.test carries bot_id, which Bolt needs to treat the token as a bot token."""
    answer = slack_client.auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["team_id"]) == (
        "U0COUNTERSIGN",
        "B0COUNTERSIGN",
        "T0SANDBOX",
    )


def test_user_lookups(slack_client: WebClient) -> None:
    """users.lookupByEmail and users.info find members; unknown ones give Slack's errors."""
    found = slack_client.users_lookupByEmail(email="Ana@Example.com")["user"]
    assert (found["id"], found["real_name"], found["profile"]["email"]) == (
        "U0BILLOPS1",
        "Ana Ops",
        "ana@example.com",
    )
    assert slack_client.users_info(user="U0CFO1")["user"]["profile"]["email"] == "cfo@example.com"
    with pytest.raises(SlackApiError) as nobody:
        slack_client.users_lookupByEmail(email="nobody@example.com")
    assert _error(nobody) == "users_not_found"
    with pytest.raises(SlackApiError) as unknown:
        slack_client.users_info(user="U0NOBODY")
    assert _error(unknown) == "user_not_found"


def test_conversations_open_gives_a_stable_dm(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """conversations.open returns the same D id each time, and posting there is a DM."""
    first = slack_client.conversations_open(users="U0FINMGR1")["channel"]["id"]
    second = slack_client.conversations_open(users=["U0FINMGR1"])["channel"]["id"]
    assert first == second == slack_emulator.dm_channel("U0FINMGR1")
    assert first.startswith("D")
    slack_client.chat_postMessage(channel=first, text="please approve")
    assert [m.text for m in slack_emulator.messages(first)] == ["please approve"]


def test_ephemeral_is_seen_by_one_user(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """chat.postEphemeral records a message for one user and answers message_ts."""
    answer = slack_client.chat_postEphemeral(channel="C0BILLING", user="U0OUTSIDER", text="no")
    assert answer["message_ts"]
    assert [e.text for e in slack_emulator.ephemerals("U0OUTSIDER")] == ["no"]
    assert slack_emulator.ephemerals("U0CFO1") == []


def test_views_open_checks_trigger_ids(
    slack_client: WebClient, slack_emulator: SlackEmulator, slack_monotonic: SlackMonotonic
) -> None:
    """A trigger opens one modal; reused, expired (>3 s) and unknown triggers are refused."""
    trigger = slack_emulator.issue_trigger_id()
    view = slack_client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V")
    assert view["callback_id"] == "cs_reject_modal"
    assert slack_emulator.opened_views()[0]["id"] == view["id"]
    with pytest.raises(SlackApiError) as reused:
        slack_client.views_open(trigger_id=trigger, view=MODAL)
    assert _error(reused) == "exchanged_trigger_id"
    stale = slack_emulator.issue_trigger_id()
    slack_monotonic.advance(3.5)
    with pytest.raises(SlackApiError) as expired:
        slack_client.views_open(trigger_id=stale, view=MODAL)
    assert _error(expired) == "expired_trigger_id"
    with pytest.raises(SlackApiError) as invented:
        slack_client.views_open(trigger_id="123.456.abc", view=MODAL)
    assert _error(invented) == "invalid_trigger_id"


def test_views_open_rejects_an_over_long_title(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """A modal title over 24 characters is refused with a pointer into the view."""
    view = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    with pytest.raises(SlackApiError) as refused:
        slack_client.views_open(trigger_id=slack_emulator.issue_trigger_id(), view=view)
    assert _error(refused) == "invalid_arguments"
    assert refused.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]


def test_views_publish_stores_the_home_tab(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """views.publish keeps one Home view per user, same id on republish; 101 blocks refused."""
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "1"}}],
    }
    first = slack_client.views_publish(user_id="U0CFO1", view=home)["view"]
    second = slack_client.views_publish(user_id="U0CFO1", view={**home, "blocks": []})["view"]
    assert first["id"] == second["id"]
    stored = slack_emulator.home_view("U0CFO1")
    assert stored is not None
    assert stored["blocks"] == []
    assert slack_emulator.home_view("U0CFO2") is None
    with pytest.raises(SlackApiError) as too_many:
        slack_client.views_publish(
            user_id="U0CFO1", view={**home, "blocks": [{"type": "divider"}] * 101}
        )
    assert _error(too_many) == "invalid_arguments"


def test_form_bodies_with_json_strings_are_accepted(slack_emulator: SlackEmulator) -> None:
    """A form-encoded call with `blocks` as a JSON string and a `token` field works."""
    answer = httpx.post(
        slack_emulator.api_url + "chat.postMessage",
        data={
            "token": slack_emulator.bot_token,
            "channel": "C0ADMIN",
            "text": "form",
            "blocks": json.dumps([{"type": "divider"}]),
        },
    ).json()
    assert answer["ok"] is True
    assert slack_emulator.messages("C0ADMIN")[0].blocks[0]["type"] == "divider"


def test_inspection_surface_over_http(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """GET /_emulator/messages, /message and /state describe the workspace to another process."""
    posted = slack_client.chat_postMessage(channel="C0BILLING", text="hi", blocks=APPROVE_BLOCKS)
    listed = httpx.get(slack_emulator.url + "_emulator/messages", params={"channel": "C0BILLING"})
    assert [m["ts"] for m in listed.json()] == [posted["ts"]]
    one = httpx.get(
        slack_emulator.url + "_emulator/message",
        params={"channel": "C0BILLING", "ts": posted["ts"]},
    )
    assert one.json()["blocks"] == APPROVE_BLOCKS
    absent = httpx.get(
        slack_emulator.url + "_emulator/message", params={"channel": "C0BILLING", "ts": "1.1"}
    )
    assert absent.status_code == 404
    state = httpx.get(slack_emulator.url + "_emulator/state").json()
    assert state["calls"][0]["method"] == "chat.postMessage"
    assert "token" not in state["calls"][0]["args"]


def test_response_url_replace_original_edits_the_message(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """A replace_original POST to a message's response_url rewrites it and answers `ok`."""
    posted = slack_client.chat_postMessage(
        channel="C0BILLING", text="pending", blocks=APPROVE_BLOCKS
    )
    url = slack_emulator.issue_response_url("C0BILLING", "U0FINMGR1", posted["ts"])
    answer = httpx.post(url, json={"replace_original": True, "text": "Approved"})
    assert (answer.status_code, answer.text) == (200, "ok")
    message = slack_emulator.message("C0BILLING", posted["ts"])
    assert (message.text, message.blocks, message.edits) == ("Approved", [], 1)
    assert slack_emulator.response_url_posts() == [{"replace_original": True, "text": "Approved"}]
    for _ in range(4):
        httpx.post(url, json={"text": "again"})
    assert httpx.post(url, json={"text": "sixth"}).status_code == 404


# --- SlackDelivery -------------------------------------------------------------------------


def test_click_sends_a_signed_block_actions_payload(
    slack_client: WebClient, slack_delivery: SlackDelivery, slack_receiver: SlackReceiver
) -> None:
    """click() posts a verified block_actions payload shaped as Slack's, with a live trigger."""
    posted = slack_client.chat_postMessage(
        channel="C0BILLING", text="pending", blocks=APPROVE_BLOCKS
    )
    response = slack_delivery.click("C0BILLING", posted["ts"], "cs_approve", "U0FINMGR1")
    assert response.status_code == 200
    received = slack_receiver.last
    assert received.valid
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = received.parsed
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": "U0FINMGR1",
        "username": "fin.one",
        "name": "fin.one",
        "team_id": "T0SANDBOX",
    }
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C0BILLING",
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": "C0BILLING", "name": "billing-exceptions"}
    assert payload["message"]["bot_id"] == "B0COUNTERSIGN"
    assert payload["message"]["blocks"] == APPROVE_BLOCKS
    assert payload["state"] == {"values": {}}
    (action,) = payload["actions"]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "type", "style")} == {
        "action_id": "cs_approve",
        "block_id": "cs_actions",
        "value": "req-1",
        "type": "button",
        "style": "primary",
    }
    assert action["text"]["text"] == "Approve"
    assert "X-Slack-Retry-Num" not in received.headers
    answer = httpx.post(payload["response_url"], json={"replace_original": True, "text": "done"})
    assert answer.text == "ok"
    assert slack_client.views_open(trigger_id=payload["trigger_id"], view=MODAL)["ok"]


def test_clicks_carry_no_retry_headers_and_a_missing_button_is_named(
    slack_client: WebClient, slack_delivery: SlackDelivery, slack_receiver: SlackReceiver
) -> None:
    """Interactions are never retried, so no X-Slack-Retry-Num; an absent action_id raises
    naming those present."""
    posted = slack_client.chat_postMessage(channel="C0BILLING", text="p", blocks=APPROVE_BLOCKS)
    slack_delivery.click("C0BILLING", posted["ts"], "cs_reject", "U0CTRL1")
    assert "X-Slack-Retry-Num" not in slack_receiver.last.headers
    with pytest.raises(LookupError, match="cs_approve"):
        slack_delivery.click("C0BILLING", posted["ts"], "cs_nope", "U0CTRL1")


def test_events_are_retried_with_the_same_event_id_until_a_2xx(
    slack_delivery: SlackDelivery, slack_receiver: SlackReceiver
) -> None:
    """A non-2xx answer is retried up to 3 times with the same event_id, X-Slack-Retry-Num 1..3
    and reason http_error; a 2xx ends it; `X-Slack-No-Retry: 1` on a failure stops retrying."""
    slack_receiver.answers = [500, 503]
    slept: list[float] = []
    attempts = slack_delivery.deliver_event(
        {"type": "app_home_opened", "user": "U0CFO1"}, sleep=slept.append
    )
    assert [(a.retry_num, a.status) for a in attempts] == [(None, 500), (1, 503), (2, 200)]
    assert slept == [0.0, 60.0]  # Slack's schedule: at once, then a minute later
    sent = slack_receiver.requests[-3:]
    assert len({r.parsed["event_id"] for r in sent}) == 1
    assert [r.headers.get("X-Slack-Retry-Num") for r in sent] == [None, "1", "2"]
    assert sent[1].headers["X-Slack-Retry-Reason"] == "http_error"
    slack_receiver.answers = [500] * 5
    assert len(slack_delivery.deliver_event({"type": "x"}, sleep=slept.append)) == 4
    slack_receiver.answers, slack_receiver.no_retry = [500], True
    assert len(slack_delivery.deliver_event({"type": "x"}, sleep=slept.append)) == 1


def test_scopes_membership_and_private_channels_answer_as_slack_does(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """Out of a public channel the bot posts with chat:write.public; out of a private one it
    gets channel_not_found; a missing scope is missing_scope with needed and provided; an
    ephemeral for a non-member is user_not_in_channel."""
    slack_emulator.remove_bot("C0BILLING")
    assert slack_client.chat_postMessage(channel="C0BILLING", text="x")["ok"]
    with pytest.raises(SlackApiError) as history:
        slack_client.conversations_history(channel="C0BILLING")
    assert _error(history) == "not_in_channel"
    slack_emulator.make_private("C0ARDISPUTES")
    slack_emulator.remove_bot("C0ARDISPUTES")
    with pytest.raises(SlackApiError) as private:
        slack_client.chat_postMessage(channel="C0ARDISPUTES", text="x")
    assert _error(private) == "channel_not_found"
    slack_emulator.invite_bot("C0ARDISPUTES")
    assert slack_client.chat_postMessage(channel="C0ARDISPUTES", text="x")["ok"]
    slack_emulator.revoke_scope("groups:history")
    with pytest.raises(SlackApiError) as scope:
        slack_client.conversations_history(channel="C0ARDISPUTES")
    assert _error(scope) == "missing_scope"
    assert scope.value.response["needed"] == "groups:history"
    assert "chat:write" in scope.value.response["provided"].split(",")
    slack_emulator.remove_member("C0BILLING", "U0CFO1")
    with pytest.raises(SlackApiError) as ephemeral:
        slack_client.chat_postEphemeral(channel="C0BILLING", user="U0CFO1", text="x")
    assert _error(ephemeral) == "user_not_in_channel"


def test_an_enterprise_grid_member_has_a_w_id_and_a_dm(slack_client: WebClient) -> None:
    """A W… member is found by id and by e-mail, and the bot can open and post to their DM."""
    assert slack_client.users_info(user="W0GRIDCTRL")["user"]["name"] == "grid.controller"
    found = slack_client.users_lookupByEmail(email="grid.controller@example.com")
    assert found["user"]["id"] == "W0GRIDCTRL"
    dm = slack_client.conversations_open(users="W0GRIDCTRL")["channel"]["id"]
    assert dm.startswith("D")
    assert slack_client.chat_postMessage(channel=dm, text="hello")["channel"] == dm


def test_slash_command_has_every_field(
    slack_delivery: SlackDelivery, slack_receiver: SlackReceiver
) -> None:
    """slash_command() form-encodes every field Slack sends, signed."""
    slack_delivery.slash_command("status INV-1", "U0BILLOPS1")
    received = slack_receiver.last
    assert received.valid
    assert set(received.parsed) == {
        "token", "team_id", "team_domain", "enterprise_id", "enterprise_name", "channel_id",
        "channel_name", "user_id", "user_name", "command", "text", "api_app_id",
        "is_enterprise_install", "response_url", "trigger_id",
    }  # fmt: skip
    assert received.parsed["command"] == "/billing-exceptions"
    assert received.parsed["text"] == "status INV-1"
    assert received.parsed["channel_name"] == "billing-exceptions"
    assert received.parsed["user_name"] == "ana"
    assert received.parsed["is_enterprise_install"] == "false"


def test_submit_view_shapes_state_values(
    slack_client: WebClient,
    slack_emulator: SlackEmulator,
    slack_delivery: SlackDelivery,
    slack_receiver: SlackReceiver,
) -> None:
    """submit_view() sends view_submission with state.values[block][action] = {type, value}."""
    view = slack_client.views_open(trigger_id=slack_emulator.issue_trigger_id(), view=MODAL)["view"]
    values = {"cs_reject_reason": {"cs_reject_reason_input": "Out of policy"}}
    slack_delivery.submit_view(view["id"], "U0CTRL1", values)
    payload = slack_receiver.last.parsed
    assert slack_receiver.last.valid
    assert payload["type"] == "view_submission"
    assert payload["view"]["id"] == view["id"]
    assert payload["view"]["callback_id"] == "cs_reject_modal"
    assert payload["view"]["private_metadata"] == "req-1"
    assert payload["view"]["state"]["values"] == {
        "cs_reject_reason": {
            "cs_reject_reason_input": {"type": "plain_text_input", "value": "Out of policy"}
        }
    }
    with pytest.raises(LookupError):
        slack_delivery.submit_view(view["id"], "U0CTRL1", {"nope": {"x": "y"}})


def test_app_home_opened_event_envelope(
    slack_delivery: SlackDelivery, slack_receiver: SlackReceiver
) -> None:
    """app_home_opened() sends a signed JSON event_callback with a fresh event_id each time."""
    slack_delivery.app_home_opened("U0CFO1")
    slack_delivery.app_home_opened("U0CFO1")
    first, second = (r.parsed for r in slack_receiver.requests)
    assert all(r.valid for r in slack_receiver.requests)
    assert first["type"] == "event_callback"
    assert first["event"]["type"] == "app_home_opened"
    assert (first["event"]["user"], first["event"]["tab"]) == ("U0CFO1", "home")
    assert first["event"]["channel"] == "D0CFO1"
    assert first["event_id"] != second["event_id"]


def test_emulator_stops_cleanly() -> None:
    """stop() closes the port and ends the server thread; a second stop() is harmless."""
    emulator = SlackEmulator().start()
    url = emulator.api_url
    assert httpx.post(url + "auth.test").json()["error"] == "not_authed"
    emulator.stop()
    emulator.stop()
    assert not [t for t in threading.enumerate() if t.name == "slack-emulator"]
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + "auth.test")


def test_stale_or_forged_signatures_are_rejected(
    slack_emulator: SlackEmulator, slack_receiver: SlackReceiver
) -> None:
    """A request signed 6 minutes ago, or with a forged signature, fails slack_sdk's verifier."""
    with SlackDelivery(
        app_url=slack_receiver.url,
        signing_secret=SLACK_SIGNING_SECRET,
        emulator_url=slack_emulator.url,
        clock=lambda: time.time() - 360,
    ) as stale:
        assert stale.slash_command("help", "U0BILLOPS1").status_code == 401
    assert slack_receiver.last.valid is False
    with SlackDelivery(
        app_url=slack_receiver.url,
        signing_secret=SLACK_SIGNING_SECRET,
        emulator_url=slack_emulator.url,
    ) as delivery:
        body = b"command=%2Fbilling-exceptions&text=help"
        forged = delivery.send_raw(
            body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64
        )
        assert forged.status_code == 401
        assert forged.json() == {"error": "invalid request"}
        now = int(time.time())
        assert delivery.sign(body, now) == delivery.sign(body, now)
        signed = delivery.send_raw(body, "application/x-www-form-urlencoded", timestamp=now)
        assert signed.status_code == 200


def test_slash_command_text_is_escaped_as_slack_escapes_it(
    slack_delivery: SlackDelivery, slack_receiver: SlackReceiver
) -> None:
    """With should_escape on, @member becomes <@U…|name> and #channel <#C…|name>; e-mail
    addresses, unknown names and mentions already escaped are left as typed."""
    slack_delivery.slash_command(
        "delegate @fin.two until 2026-12-20 in #billing-exceptions, cfo@example.com @nobody"
        " <@U0CFO1|cfo>",
        "U0FINMGR1",
    )
    assert slack_receiver.last.parsed["text"] == (
        "delegate <@U0FINMGR2|fin.two> until 2026-12-20 in <#C0BILLING|billing-exceptions>,"
        " cfo@example.com @nobody <@U0CFO1|cfo>"
    )
