"""The Web API methods Countersign calls, answered as Slack answers them (FACTS.md section 3)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.sandbox.slack_emulator import access
from app.sandbox.slack_emulator.block_rules import TOO_LONG, check_message, check_view
from app.sandbox.slack_emulator.models import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    EphemeralMessage,
    Json,
    RecordedCall,
)
from app.sandbox.slack_emulator.workspace import Workspace

MAX_TEXT = 40_000
MAX_VIEW_BYTES = 250_000


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, JSON body, extra headers."""

    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (a lost answer)


class ApiError(Exception):
    """Answer `{"ok": false, "error": error, **extra}` with HTTP 200."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


Handler = Callable[[Workspace, Json], Json]


def dispatch(ws: Workspace, method: str, args: Json, token: str | None) -> Reply:
    """Authenticate, apply any injected fault, run the method, and record the call.

    Test knobs (the Slack behaviour being imitated is a slow or flaky network, not an API
    rule): `slow_down` makes every call wait before it runs; `lose_answers` applies a call and
    then holds its answer, or drops the connection, so the client never learns the outcome."""
    delay = ws.delay_for(method)
    if delay:
        ws.closing.wait(delay)
    reply = _answer(ws, method, args, token)
    recorded = {key: value for key, value in args.items() if key != "token"}
    ws.record(RecordedCall(method, recorded, datetime.now(UTC), reply.status))
    if reply.body.get("ok"):
        lost, hold = ws.take_lost_answer(method)
        if lost and hold is None:
            return dataclasses.replace(reply, drop=True)
        if lost and hold:
            ws.closing.wait(hold)
    return reply


def _answer(ws: Workspace, method: str, args: Json, token: str | None) -> Reply:
    handler = HANDLERS.get(method)
    if handler is None:
        return Reply(200, {"ok": False, "error": "unknown_method"})
    if not token:
        return Reply(200, {"ok": False, "error": "not_authed"})
    expected = ws.app_token if method in APP_TOKEN_METHODS else ws.bot_token
    if token != expected:
        wrong_kind = token in (ws.app_token, ws.bot_token)
        return Reply(
            200, {"ok": False, "error": "not_allowed_token_type" if wrong_kind else "invalid_auth"}
        )
    fault = ws.take_fault(method)
    if fault is not None:
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        body = {"ok": False, "error": fault.error, **dict(fault.extra)}
        return Reply(fault.status, body, headers)
    channel_arg = _text_arg(args, "channel")
    channel = ws.resolve_channel(channel_arg) if channel_arg else None
    lacking = access.missing_scope(ws, method, channel)
    if lacking is not None:
        provided = ",".join(sorted(ws.scopes))
        body = {"ok": False, "error": "missing_scope", "needed": lacking, "provided": provided}
        return Reply(200, body)
    # docs.slack.dev/apis/web-api/rate-limits: HTTP 429, Retry-After, error "ratelimited"
    retry_after = ws.throttled(method, _text_arg(args, "channel"))
    if retry_after is not None:
        return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
    try:
        return Reply(200, {"ok": True, **handler(ws, args)})
    except ApiError as exc:
        return Reply(200, {"ok": False, "error": exc.error, **exc.extra})


# --- argument helpers ----------------------------------------------------------------------


def _text_arg(args: Json, key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _required(args: Json, key: str, error: str) -> str:
    value = _text_arg(args, key)
    if value is None:
        raise ApiError(error)
    return value


def _json_arg(args: Json, key: str, error: str) -> Any:
    """A JSON value that clients send either as JSON or as a JSON string in a form field."""
    value = args.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiError(error) from exc
    return value


def _blocks(args: Json) -> list[Json] | None:
    blocks = _json_arg(args, "blocks", "invalid_blocks_format")
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    return blocks


def _message_content(args: Json) -> tuple[str | None, list[Json] | None, Json]:
    """(text, blocks, extra response fields) of a message, checked as Slack checks them."""
    text = _text_arg(args, "text")
    blocks = _blocks(args)
    if text is None and not blocks:
        raise ApiError("no_text")
    if blocks is not None:
        errors = check_message(blocks)
        if errors == [TOO_LONG]:
            raise ApiError(TOO_LONG)
        if errors:
            messages = [f"[ERROR] {error}" for error in errors]
            raise ApiError(
                "invalid_blocks", errors=errors, response_metadata={"messages": messages}
            )
        blocks = _with_ids(blocks)
    extra: Json = {}
    if text is not None and len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
        extra = {"warning": "message_truncated"}
        extra["response_metadata"] = {"warnings": ["message_truncated"]}
    return text, blocks, extra


def _with_ids(blocks: list[Json]) -> list[Json]:
    """Slack gives every block a block_id and every element an action_id if the app did not."""
    stored = copy.deepcopy(blocks)
    for block in stored:
        block.setdefault("block_id", secrets.token_urlsafe(3))
        elements = [block.get("accessory"), block.get("element")]
        if block["type"] == "actions":
            elements.extend(block.get("elements") or [])
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in (None, "image"):
                element.setdefault("action_id", secrets.token_urlsafe(3))
    return stored


def _metadata(args: Json) -> Json | None:
    """chat.postMessage / chat.update `metadata`: a JSON object (or its JSON text in a form) with
    a string `event_type` and an object `event_payload` (docs.slack.dev/messaging/message-metadata;
    errors invalid_metadata_format / invalid_metadata_schema, docs.slack.dev/reference/methods/
    chat.postMessage)."""
    metadata = _json_arg(args, "metadata", "invalid_metadata_format")
    if metadata is None or metadata == "":
        return None
    if not isinstance(metadata, dict):
        raise ApiError("invalid_metadata_format")
    if not isinstance(metadata.get("event_type"), str) or not isinstance(
        metadata.get("event_payload"), dict
    ):
        raise ApiError("invalid_metadata_schema")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def _flag(args: Json, key: str) -> bool:
    """A boolean argument: slack_sdk sends "1"/"0", other clients "true"/"false"."""
    return str(args.get(key, "")).strip().lower() in ("1", "true")


def _ts_bound(args: Json, key: str, error: str) -> Decimal | None:
    value = _text_arg(args, key)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation as exc:
        raise ApiError(error) from exc


def _channel(ws: Workspace, args: Json) -> str:
    channel = ws.resolve_channel(_required(args, "channel", "channel_not_found"))
    if channel is None:
        raise ApiError("channel_not_found")
    return channel


def _user(ws: Workspace, args: Json, key: str) -> str:
    user = _required(args, key, "user_not_found")
    if user not in ws.users:
        raise ApiError("user_not_found")
    return user


# --- methods -------------------------------------------------------------------------------


def auth_test(ws: Workspace, args: Json) -> Json:
    return {
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": "Countersign Sandbox",
        "user": "countersign",
        "team_id": ws.team_id,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def _may_post(ws: Workspace, channel: str) -> None:
    refusal = access.post_refusal(ws, channel)
    if refusal is not None:
        raise ApiError(refusal)


def chat_post_message(ws: Workspace, args: Json) -> Json:
    channel = _channel(ws, args)
    _may_post(ws, channel)
    text, blocks, extra = _message_content(args)
    thread_ts = _text_arg(args, "thread_ts")
    if thread_ts is not None:
        parent = ws.find(channel, thread_ts)
        if parent is None:
            raise ApiError("thread_not_found")
        thread_ts = parent.thread_ts or parent.ts
    message = ws.post(channel, text or "", blocks or [], thread_ts, _metadata(args))
    return {"channel": channel, "ts": message.ts, "message": message.to_api(ws.team_id), **extra}


def chat_update(ws: Workspace, args: Json) -> Json:
    channel = _channel(ws, args)
    ts = _required(args, "ts", "message_not_found")
    if ws.find(channel, ts) is None:
        raise ApiError("message_not_found")
    text, blocks, extra = _message_content(args)
    message = ws.edit(channel, ts, text=text, blocks=blocks, metadata=_metadata(args))
    if message is None:
        raise ApiError("message_not_found")
    return {
        "channel": channel,
        "ts": ts,
        "text": message.text,
        "message": message.to_api(ws.team_id),
        **extra,
    }


def chat_delete(ws: Workspace, args: Json) -> Json:
    """docs.slack.dev/reference/methods/chat.delete: {ok, channel, ts}; message_not_found.
    The emulated bot posted every stored message, so it may delete each of them."""
    channel = _channel(ws, args)
    ts = _required(args, "ts", "message_not_found")
    if not ws.delete(channel, ts):
        raise ApiError("message_not_found")
    return {"channel": channel, "ts": ts}


HISTORY_DEFAULT_LIMIT = 100  # conversations.history `limit` default ...
HISTORY_MAX_LIMIT = 999  # ... and "Maximum of 999" (docs.slack.dev/reference/methods/...)


def conversations_history(ws: Workspace, args: Json) -> Json:
    """docs.slack.dev/reference/methods/conversations.history: a channel's messages newest first;
    thread replies are not included (conversations.replies reads them); `oldest` (default 0)
    and `latest` (default now) bound the range, each excluded unless `inclusive`; at most
    `limit` messages (default 100, maximum 999), then `has_more` and a
    `response_metadata.next_cursor` to pass as `cursor`; a message's `metadata` only with
    `include_all_metadata`."""
    channel = _channel(ws, args)
    refusal = access.history_refusal(ws, channel)
    if refusal is not None:
        raise ApiError(refusal)
    oldest = _ts_bound(args, "oldest", "invalid_ts_oldest")
    latest = _ts_bound(args, "latest", "invalid_ts_latest")
    inclusive = _flag(args, "inclusive")
    try:
        limit = int(args.get("limit") or HISTORY_DEFAULT_LIMIT)
    except (TypeError, ValueError) as exc:
        raise ApiError("invalid_limit") from exc
    limit = min(max(limit, 1), HISTORY_MAX_LIMIT)
    start = _history_cursor(_text_arg(args, "cursor"))

    def in_range(ts: Decimal) -> bool:
        above = oldest is None or ts > oldest or (inclusive and ts == oldest)
        below = latest is None or ts < latest or (inclusive and ts == latest)
        return above and below and (start is None or ts <= start)

    top_level = [m for m in ws.messages(channel) if m.thread_ts in (None, m.ts)]
    chosen = sorted(
        (m for m in top_level if in_range(Decimal(m.ts))), key=lambda m: Decimal(m.ts), reverse=True
    )
    page, rest = chosen[:limit], chosen[limit:]
    with_metadata = _flag(args, "include_all_metadata")
    messages = []
    for message in page:
        shown = message.to_api(ws.team_id)
        if with_metadata and message.metadata is not None:
            shown["metadata"] = copy.deepcopy(message.metadata)
        messages.append(shown)
    next_cursor = (
        base64.b64encode(f"next_ts:{rest[0].ts.replace('.', '')}".encode()).decode() if rest else ""
    )
    return {
        "messages": messages,
        "has_more": bool(rest),
        "pin_count": 0,
        "response_metadata": {"next_cursor": next_cursor},
    }


def _history_cursor(cursor: str | None) -> Decimal | None:
    """Slack's history cursors are base64 of `next_ts:<ts digits>`: the next message to give."""
    if cursor is None:
        return None
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        digits = text.removeprefix("next_ts:")
        if not text.startswith("next_ts:") or not digits.isdecimal() or len(digits) <= 6:
            raise ValueError(cursor)
        return Decimal(f"{digits[:-6]}.{digits[-6:]}")
    except ValueError as exc:
        raise ApiError("invalid_cursor") from exc


def chat_post_ephemeral(ws: Workspace, args: Json) -> Json:
    channel = _channel(ws, args)
    user = _user(ws, args, "user")
    if not ws.may_see(user, channel):
        raise ApiError("user_not_in_channel")
    text, blocks, _ = _message_content(args)
    message_ts = ws.next_ts()
    ws.ephemerals.append(EphemeralMessage(channel, user, text or "", blocks or [], message_ts))
    return {"message_ts": message_ts}


def conversations_open(ws: Workspace, args: Json) -> Json:
    """A 1:1 DM only; group DMs are not emulated (Countersign never opens one)."""
    users = [u.strip() for u in (_text_arg(args, "users") or "").split(",") if u.strip()]
    if not users:
        channel = _text_arg(args, "channel")
        if channel is not None and ws.resolve_channel(channel) is not None:
            return {"channel": {"id": ws.resolve_channel(channel)}, "no_op": True}
        raise ApiError("users_list_not_supplied")
    if len(users) > 1:
        raise ApiError("not_supported", detail="the emulator opens 1:1 DMs only")
    if users[0] not in ws.users:
        raise ApiError("user_not_found")
    already = users[0] in ws.dms
    return {
        "channel": {"id": ws.dm_channel(users[0])},
        "no_op": already,
        "already_open": already,
    }


def _view_arg(args: Json, expected_type: str) -> Json:
    view = _json_arg(args, "view", "invalid_arguments")
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] no view"]})
    if len(json.dumps(view)) > MAX_VIEW_BYTES:
        raise ApiError("view_too_large")
    errors = check_view(view)
    if not errors and view.get("type") != expected_type:
        errors = [f"must be {expected_type} [json-pointer:/type]"]
    if errors:
        messages = [
            "[ERROR] " + error.replace("[json-pointer:", "[json-pointer:/view") for error in errors
        ]
        raise ApiError("invalid_arguments", response_metadata={"messages": messages})
    return view


def _stored_view(ws: Workspace, view: Json, *, view_id: str | None = None) -> Json:
    new_id = view_id or "V" + secrets.token_hex(5).upper()
    return {
        "id": new_id,
        "team_id": ws.team_id,
        "type": view["type"],
        "blocks": copy.deepcopy(view.get("blocks", [])),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": {"values": {}},
        "hash": secrets.token_hex(8),
        "title": copy.deepcopy(view.get("title")),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "close": copy.deepcopy(view.get("close")),
        "submit": copy.deepcopy(view.get("submit")),
        "previous_view_id": None,
        "root_view_id": new_id,
        "app_id": APP_ID,
        "external_id": view.get("external_id", ""),
        "app_installed_team_id": ws.team_id,
        "bot_id": BOT_ID,
    }


def views_open(ws: Workspace, args: Json) -> Json:
    trigger_id = _required(args, "trigger_id", "invalid_trigger_id")
    view = _view_arg(args, "modal")
    error = ws.exchange_trigger(trigger_id)
    if error is not None:
        raise ApiError(error)
    stored = _stored_view(ws, view)
    with ws.lock:
        ws.opened_views.append(stored)
        owner = ws.trigger_users.get(trigger_id)
        if owner is not None:  # a click in the page: the modal opens in that user's client
            ws.modal_owners[stored["id"]] = owner
    return {"view": copy.deepcopy(stored)}


def views_publish(ws: Workspace, args: Json) -> Json:
    user = _user(ws, args, "user_id")
    view = _view_arg(args, "home")
    with ws.lock:
        current = ws.home_views.get(user)
        expected_hash = _text_arg(args, "hash")
        if expected_hash is not None and current is not None and current["hash"] != expected_hash:
            raise ApiError("hash_conflict")
        stored = _stored_view(ws, view, view_id=current["id"] if current else None)
        ws.home_views[user] = stored
    return {"view": copy.deepcopy(stored)}


def views_update(ws: Workspace, args: Json) -> Json:
    """Replace an open modal's content (docs.slack.dev/reference/methods/views.update): named by
    `view_id` (or `external_id`); an unknown one is `not_found`; a `hash` that is not the
    view's current one is `hash_conflict`. The view keeps its id and gets a new hash."""
    view = _view_arg(args, "modal")
    view_id, external_id = _text_arg(args, "view_id"), _text_arg(args, "external_id")
    if not view_id and not external_id:
        raise ApiError("invalid_arguments")
    with ws.lock:
        for index, current in enumerate(ws.opened_views):
            if current["id"] == view_id or (
                external_id and current.get("external_id") == external_id
            ):
                expected_hash = _text_arg(args, "hash")
                if expected_hash is not None and current["hash"] != expected_hash:
                    raise ApiError("hash_conflict")
                stored = _stored_view(ws, view, view_id=current["id"])
                ws.opened_views[index] = stored
                return {"view": copy.deepcopy(stored)}
    raise ApiError("not_found")


def users_info(ws: Workspace, args: Json) -> Json:
    user = _user(ws, args, "user")
    return {"user": ws.users[user].to_api(ws.team_id)}


def users_lookup_by_email(ws: Workspace, args: Json) -> Json:
    user = ws.user_by_email(_required(args, "email", "users_not_found"))
    if user is None:
        raise ApiError("users_not_found")
    return {"user": user.to_api(ws.team_id)}


def apps_connections_open(ws: Workspace, args: Json) -> Json:
    """Socket Mode: the WebSocket URL to connect to (set by whoever runs the socket server)."""
    if ws.socket_mode_url is None:
        raise ApiError("socket_mode_not_enabled")
    return {"url": ws.socket_mode_url}


APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

HANDLERS: dict[str, Handler] = {
    "apps.connections.open": apps_connections_open,
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "conversations.history": conversations_history,
    "chat.postEphemeral": chat_post_ephemeral,
    "conversations.open": conversations_open,
    "views.open": views_open,
    "views.publish": views_publish,
    "views.update": views_update,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
}
