"""The workspace page's endpoints (`/_emulator/ui/...`): what one person sees, and their acts.

The page (static/index.html, app.js) asks for the state as a chosen user sees it (a DM only to
its owner, an ephemeral message only to its user, their own Home tab and open dialog), polls a
change counter, and posts each click, dialog submission, slash command and Home-tab visit here;
this module has Slack send the app exactly what Slack would (interactions.py) and applies the
app's synchronous answer as Slack does (docs.slack.dev/surfaces/modals: `response_action`
errors / update / push / clear; docs.slack.dev/interactivity/implementing-slash-commands: an
immediate response body is shown to the user, ephemeral unless `response_type: in_channel`).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.sandbox.slack_emulator.interactions import Answer, AppTarget, Deliveries, post
from app.sandbox.slack_emulator.models import EphemeralMessage, Json
from app.sandbox.slack_emulator.workspace import Workspace

Signer = Callable[[bytes], dict[str, str]]
MAX_EVENT_BYTES = 1_000_000


@dataclass(frozen=True)
class BillingTarget:
    """Where the page's "send an event" goes, and how the billing system signs it (handed over
    by whoever runs the sandbox, so the emulator knows no app secret or scheme of its own)."""

    url: str
    sign: Signer
    examples: tuple[tuple[str, str], ...] = ()  # (file name, JSON text)


@dataclass
class PageConfig:
    """How the page reaches the app: set by SlackEmulator.connect_app / connect_billing."""

    app: AppTarget | None = None
    commands: tuple[str, ...] = ()
    billing: BillingTarget | None = None
    notes: list[Json] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # other pages: name -> URL


class UiError(Exception):
    """A mistake in a page request: answered 400 with this one line."""


def handle(
    ws: Workspace, config: PageConfig, base_url: str, verb: str, name: str, query: Json, body: Any
) -> tuple[int, Any]:
    """One `/_emulator/ui/<name>` request; (HTTP status, JSON answer)."""
    args = body if isinstance(body, dict) else {}
    try:
        if verb == "GET" and name == "version":
            with ws.lock:
                return 200, {"version": ws.version}
        if verb == "GET" and name == "state":
            return 200, view_as(ws, config, _user(ws, query))
        if verb == "GET" and name == "examples":
            examples = config.billing.examples if config.billing else ()
            return 200, [{"name": n, "body": text} for n, text in examples]
        if verb == "POST" and name == "billing-event":
            return 200, send_billing_event(ws, config, args)
        if verb == "POST":
            deliveries = _deliveries(ws, config, base_url)
            acts: dict[str, Callable[[Deliveries, Json], Json]] = {
                "click": click,
                "submit": submit,
                "close": close,
                "command": command,
                "home": home,
            }
            act = acts.get(name)
            if act is not None:
                args["user"] = _user(ws, args)
                return 200, act(deliveries, args)
        return 404, {"error": f"no page route {verb} {name}"}
    except (UiError, LookupError) as error:
        return 400, {"error": str(error.args[0]) if error.args else type(error).__name__}


def _user(ws: Workspace, args: Json) -> str:
    user = str(args.get("user") or "")
    if user not in ws.users:
        raise UiError(f"no sandbox user {user!r}")
    return user


def _deliveries(ws: Workspace, config: PageConfig, base_url: str) -> Deliveries:
    if config.app is None:
        raise UiError("no app is connected to this emulator (start it with `sandbox up`)")
    return Deliveries(ws, config.app, base_url)


def _text(args: Json, name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise UiError(f"{name} is required")
    return value


# --- what one person sees --------------------------------------------------------------------


def view_as(ws: Workspace, config: PageConfig, user: str) -> Json:
    """The workspace as `user` sees it in their Slack client."""
    with ws.lock:
        dm = ws.dm_channel(user)
        visible = [*ws.channels, dm]
        modals = [
            v
            for v in ws.opened_views
            if ws.modal_owners.get(v["id"]) == user and v["id"] not in ws.closed_views
        ]
        return {
            "version": ws.version,
            "me": user,
            "team_id": ws.team_id,
            "users": [
                {"id": u.id, "name": u.name, "real_name": u.real_name or u.name}
                for u in ws.users.values()
            ],
            "channels": [{"id": cid, "name": name} for cid, name in ws.channels.items()],
            "dm": dm,
            "messages": {cid: [m.to_json() for m in ws.messages(cid)] for cid in visible},
            "ephemerals": [e.to_json() for e in ws.ephemerals if e.user == user],
            "home": copy.deepcopy(ws.home_views.get(user)),
            "modal": copy.deepcopy(modals[-1]) if modals else None,
            "commands": list(config.commands),
            "connected": {"app": config.app is not None, "billing": config.billing is not None},
            "links": dict(config.links),
        }


# --- acts ------------------------------------------------------------------------------------


def click(deliveries: Deliveries, args: Json) -> Json:
    user, block_id, action_id = args["user"], str(args.get("block_id") or ""), args["action_id"]
    if args.get("view_id"):
        given = args.get("values")
        values: Json = given if isinstance(given, dict) else {}
        answer = deliveries.click_view(user, str(args["view_id"]), block_id, action_id, values)
    else:
        channel, ts = _text(args, "channel"), _text(args, "ts")
        if not deliveries.ws.may_see(user, channel):
            raise UiError("that conversation is not yours")
        answer = deliveries.click_message(user, channel, ts, block_id, action_id)
    return answer.to_json()  # a click's ack body means nothing to Slack; the view stays open


def submit(deliveries: Deliveries, args: Json) -> Json:
    """Submit the user's open dialog; errors come back for the page to show under the fields."""
    view_id = _text(args, "view_id")
    values = args.get("values")
    answer = deliveries.submit_view(
        args["user"], view_id, values if isinstance(values, dict) else {}
    )
    return {**answer.to_json(), **_apply_view_answer(deliveries.ws, view_id, answer)}


def _apply_view_answer(ws: Workspace, view_id: str, answer: Answer) -> Json:
    """Slack's handling of a view_submission's answer body (docs.slack.dev/surfaces/modals)."""
    if answer.status != 200:
        return {"errors": {"": f"The app answered HTTP {answer.status}; nothing was submitted."}}
    body = answer.json()
    action = body.get("response_action") if isinstance(body, dict) else None
    if action == "errors":
        errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
        return {"response_action": "errors", "errors": {str(k): str(v) for k, v in errors.items()}}
    with ws.lock:
        if action in ("update", "push") and isinstance(body.get("view"), dict):
            for stored in ws.opened_views:
                if stored["id"] == view_id:
                    new = body["view"]
                    for key in ("blocks", "title", "submit", "close", "callback_id"):
                        if key in new:
                            stored[key] = copy.deepcopy(new[key])
                    stored["private_metadata"] = new.get("private_metadata", "")
        elif answer.body.strip() == "" or action == "clear" or action is None:
            ws.closed_views.add(view_id)
        ws.version += 1
    return {"response_action": action or "close"}


def close(deliveries: Deliveries, args: Json) -> Json:
    view_id = _text(args, "view_id")
    answer = deliveries.close_view(args["user"], view_id)
    with deliveries.ws.lock:
        deliveries.ws.closed_views.add(view_id)
    deliveries.ws.touch()
    return answer.to_json() if answer else {"status": 0, "body": ""}


def command(deliveries: Deliveries, args: Json) -> Json:
    """Run `/command text` from the composer; an immediate answer is shown as Slack shows it."""
    typed = _text(args, "text").strip()
    channel = _text(args, "channel")
    if not typed.startswith("/"):
        raise UiError("only slash commands can be sent here, e.g. /billing-exceptions help")
    name, _, rest = typed.partition(" ")
    answer = deliveries.slash_command(args["user"], channel, name, rest.strip())
    body = answer.json()
    if answer.status == 200 and isinstance(body, dict) and (body.get("text") or body.get("blocks")):
        ws = deliveries.ws
        given = body.get("blocks")
        blocks: list[Json] = given if isinstance(given, list) else []
        text = str(body.get("text") or "")
        if body.get("response_type") == "in_channel":
            ws.post(channel, text, blocks, None)
        else:
            with ws.lock:
                ws.ephemerals.append(
                    EphemeralMessage(channel, args["user"], text, blocks, ws.next_ts())
                )
        ws.touch()
    elif answer.status == 200 and answer.body.strip() and body is None:
        with deliveries.ws.lock:  # a plain-text answer is shown as it is
            deliveries.ws.ephemerals.append(
                EphemeralMessage(
                    channel, args["user"], answer.body.strip(), [], deliveries.ws.next_ts()
                )
            )
        deliveries.ws.touch()
    return answer.to_json()


def home(deliveries: Deliveries, args: Json) -> Json:
    return deliveries.app_home_opened(args["user"]).to_json()


def send_billing_event(ws: Workspace, config: PageConfig, args: Json) -> Json:
    """Sign `body` as the billing system would and POST it to the app's webhook."""
    if config.billing is None:
        raise UiError("no billing webhook is connected to this emulator")
    text = _text(args, "body")
    raw = text.encode()
    if len(raw) > MAX_EVENT_BYTES:
        raise UiError("that event is too large for the page (1 MB at most)")
    try:
        json.loads(raw)
    except ValueError as error:
        raise UiError(f"that is not JSON: {error}") from None
    answer = post(config.billing.url, raw, config.billing.sign(raw))
    note = {"at": time.time(), **answer.to_json()}
    with ws.lock:
        config.notes.append(note)
        ws.version += 1
    return answer.to_json()
