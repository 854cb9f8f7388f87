"""The emulators' pages over HTTP: the files with a strict CSP, the state as one person sees
it, and the acts the page posts, delivered to a stand-in app signed as Slack signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
from slack_sdk import WebClient

from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_emulator import SlackEmulator
from tests.integration.intacct_fixtures import DRAFT_KEY
from tests.integration.slack_fixtures import SLACK_SIGNING_SECRET, SlackReceiver
from tests.integration.test_slack_emulator import APPROVE_BLOCKS, MODAL


def _ui(emulator: SlackEmulator, name: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{emulator.url}_emulator/ui/{name}", json=body, timeout=10)


def _state(emulator: SlackEmulator, user: str) -> dict[str, Any]:
    answer = httpx.get(f"{emulator.url}_emulator/ui/state", params={"user": user}, timeout=5)
    answer.raise_for_status()
    state: dict[str, Any] = answer.json()
    return state


def test_page_files_are_served_with_a_strict_policy(slack_emulator: SlackEmulator) -> None:
    """/ and /static/* are the packaged files under a self-only CSP; other names are 404."""
    page = httpx.get(slack_emulator.url, timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in page.text
    script = httpx.get(f"{slack_emulator.url}static/app.js", timeout=5)
    assert script.headers["content-type"].startswith("text/javascript")
    for name in ("../server.py", "server.py", "%2e%2e/handler.py", "app.js.map"):
        assert httpx.get(f"{slack_emulator.url}static/{name}", timeout=5).status_code == 404


def test_state_shows_each_person_only_their_own(
    slack_emulator: SlackEmulator, slack_client: WebClient
) -> None:
    """A DM and an ephemeral note are in their user's view of the workspace, nobody else's."""
    slack_client.chat_postMessage(channel="U0CFO1", text="for the CFO")
    slack_client.chat_postEphemeral(channel="C0BILLING", user="U0OUTSIDER", text="only you")
    cfo, outsider = _state(slack_emulator, "U0CFO1"), _state(slack_emulator, "U0OUTSIDER")
    assert [m["text"] for m in cfo["messages"][cfo["dm"]]] == ["for the CFO"]
    assert cfo["dm"] not in outsider["messages"]
    assert [e["text"] for e in outsider["ephemerals"]] == ["only you"]
    assert cfo["ephemerals"] == []
    assert outsider["ephemerals"][0]["ts"]  # placed among the messages by time
    answer = httpx.get(f"{slack_emulator.url}_emulator/ui/state?user=U0NOBODY", timeout=5)
    assert answer.status_code == 400
    assert answer.json() == {"error": "no sandbox user 'U0NOBODY'"}


def test_a_click_in_the_page_is_a_signed_block_actions(
    slack_emulator: SlackEmulator, slack_client: WebClient, slack_receiver: SlackReceiver
) -> None:
    """The app gets block_actions signed with its secret: user, trigger, response_url, state."""
    slack_emulator.connect_app(slack_receiver.url, SLACK_SIGNING_SECRET)
    posted = slack_client.chat_postMessage(channel="C0BILLING", text="card", blocks=APPROVE_BLOCKS)
    before = _state(slack_emulator, "U0FINMGR1")["version"]
    answer = _ui(
        slack_emulator,
        "click",
        {
            "user": "U0FINMGR1",
            "channel": "C0BILLING",
            "ts": posted["ts"],
            "block_id": "cs_actions",
            "action_id": "cs_approve",
        },
    )
    assert answer.json() == {"status": 200, "body": ""}
    received = slack_receiver.last
    assert received.valid
    payload = received.parsed
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0FINMGR1"
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C0BILLING",
        "is_ephemeral": False,
    }
    assert payload["state"] == {"values": {}}
    assert payload["actions"][0]["action_id"] == "cs_approve"
    assert payload["actions"][0]["value"] == "req-1"
    assert payload["actions"][0]["style"] == "primary"
    assert payload["message"]["blocks"] == APPROVE_BLOCKS
    note = httpx.post(payload["response_url"], json={"text": "not yours"}, timeout=5)
    assert note.status_code == 200
    assert [e["text"] for e in _state(slack_emulator, "U0FINMGR1")["ephemerals"]] == ["not yours"]
    assert _state(slack_emulator, "U0FINMGR1")["version"] > before  # the page redraws
    opened = slack_client.views_open(trigger_id=payload["trigger_id"], view=MODAL)
    assert _state(slack_emulator, "U0FINMGR1")["modal"]["id"] == opened["view"]["id"]
    assert _state(slack_emulator, "U0CFO1")["modal"] is None  # the dialog is the clicker's


def test_a_submitted_dialog_is_a_view_submission_and_closes(
    slack_emulator: SlackEmulator, slack_client: WebClient, slack_receiver: SlackReceiver
) -> None:
    """Submit sends view_submission with the typed state; an empty 200 answer closes it."""
    slack_emulator.connect_app(slack_receiver.url, SLACK_SIGNING_SECRET)
    trigger = httpx.post(f"{slack_emulator.url}_emulator/trigger", timeout=5).json()["trigger_id"]
    view = slack_client.views_open(trigger_id=trigger, view=MODAL)["view"]
    block = MODAL["blocks"][0]
    values = {
        block["block_id"]: {
            block["element"]["action_id"]: {"type": "plain_text_input", "value": "too dear"}
        }
    }
    answer = _ui(
        slack_emulator, "submit", {"user": "U0CFO1", "view_id": view["id"], "values": values}
    )
    assert answer.json()["response_action"] == "close"
    payload = slack_receiver.last.parsed
    assert slack_receiver.last.valid
    assert payload["type"] == "view_submission"
    assert payload["view"]["id"] == view["id"]
    assert payload["view"]["state"] == {"values": values}
    assert payload["view"]["private_metadata"] == "req-1"


def test_the_composer_sends_a_slash_command(
    slack_emulator: SlackEmulator, slack_receiver: SlackReceiver
) -> None:
    """`/cmd text` from the page is the signed slash-command form; plain words are refused."""
    slack_emulator.connect_app(slack_receiver.url, SLACK_SIGNING_SECRET, ("/billing-exceptions",))
    body = {"user": "U0CTRL1", "channel": "C0BILLING", "text": "/billing-exceptions mine"}
    assert _ui(slack_emulator, "command", body).json()["status"] == 200
    form = slack_receiver.last.parsed
    assert slack_receiver.last.valid
    assert (form["command"], form["text"], form["user_id"]) == (
        "/billing-exceptions",
        "mine",
        "U0CTRL1",
    )
    assert form["response_url"].startswith(slack_emulator.url + "response/")
    refused = _ui(slack_emulator, "command", {**body, "text": "hello"})
    assert refused.status_code == 400
    assert "only slash commands" in refused.json()["error"]
    assert _state(slack_emulator, "U0CTRL1")["commands"] == ["/billing-exceptions"]


def test_an_event_from_the_page_is_signed_by_the_given_signer(
    slack_emulator: SlackEmulator, slack_receiver: SlackReceiver
) -> None:
    """The page's billing event goes to the target with the signer's headers; bad JSON stops."""

    def sign(body: bytes) -> dict[str, str]:
        digest = hmac.new(b"webhook-test", body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-Test-Signature": digest}

    slack_emulator.connect_billing(slack_receiver.url, sign, (("one.json", '{"a": 1}'),))
    examples = httpx.get(f"{slack_emulator.url}_emulator/ui/examples", timeout=5).json()
    assert examples == [{"name": "one.json", "body": '{"a": 1}'}]
    _ui(slack_emulator, "billing-event", {"body": '{"event_id": "e-1"}'})
    received = slack_receiver.last
    expected = hmac.new(b"webhook-test", b'{"event_id": "e-1"}', hashlib.sha256).hexdigest()
    assert received.headers["X-Test-Signature"] == expected
    assert json.loads(received.body) == {"event_id": "e-1"}
    bad = _ui(slack_emulator, "billing-event", {"body": "{not json"})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("that is not JSON")


def test_no_app_connected_is_one_clear_line(slack_emulator: SlackEmulator) -> None:
    """A standalone emulator's page says no app is connected instead of failing obscurely."""
    answer = _ui(slack_emulator, "home", {"user": "U0CFO1"})
    assert answer.status_code == 400
    assert "no app is connected" in answer.json()["error"]


def test_intacct_page_and_its_history(intacct_emulator: IntacctEmulator) -> None:
    """The Intacct page is served; the history lists calls with their Idempotency-Key."""
    page = httpx.get(intacct_emulator.base_url.split("/ia/")[0] + "/", timeout=5)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    admin = intacct_emulator.base_url.split("/ia/")[0] + "/_emulator"
    httpx.post(f"{admin}/failures", json={"operation": "submit", "kind": "429", "times": 2})
    assert httpx.get(f"{admin}/failures", timeout=5).json()["queued"]["submit"] == ["429", "429"]
    httpx.post(
        f"{intacct_emulator.base_url}/workflows/accounts-receivable/invoice/submit",
        json={"key": DRAFT_KEY},
        headers={"Idempotency-Key": "idem-1"},
        timeout=5,
    )
    calls = httpx.get(f"{admin}/requests", timeout=5).json()["requests"]
    assert calls[-1]["idempotency_key"] == "idem-1"
    assert calls[-1]["body"] == {"key": DRAFT_KEY}


def test_a_click_on_the_home_tab_carries_the_view(
    slack_emulator: SlackEmulator, slack_client: WebClient, slack_receiver: SlackReceiver
) -> None:
    """A button on a published Home tab is block_actions with container type view."""
    slack_emulator.connect_app(slack_receiver.url, SLACK_SIGNING_SECRET)
    home = {"type": "home", "blocks": APPROVE_BLOCKS}
    view = slack_client.views_publish(user_id="U0CFO1", view=home)["view"]
    assert _state(slack_emulator, "U0CFO1")["home"]["id"] == view["id"]
    assert _state(slack_emulator, "U0FINMGR1")["home"] is None
    body = {
        "user": "U0CFO1",
        "view_id": view["id"],
        "block_id": "cs_actions",
        "action_id": "cs_reject",
        "values": {},
    }
    assert _ui(slack_emulator, "click", body).json()["status"] == 200
    payload = slack_receiver.last.parsed
    assert slack_receiver.last.valid
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["view"]["id"] == view["id"]
    assert payload["actions"][0]["action_id"] == "cs_reject"
    assert "response_url" not in payload  # Slack gives none for a Home tab click
    assert _ui(slack_emulator, "home", {"user": "U0CFO1"}).json()["status"] == 200
    event = slack_receiver.last.parsed
    assert (event["type"], event["event"]["type"]) == ("event_callback", "app_home_opened")
    assert event["event"]["view"]["id"] == view["id"]
