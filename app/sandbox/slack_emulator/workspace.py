"""The emulated workspace's state: members, channels, messages, views, triggers and faults.

Every read and write holds one lock: the HTTP server answers requests on many threads.
"""

from __future__ import annotations

import copy
import dataclasses
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from app.sandbox.slack_emulator.models import (
    BOT_USER_ID,
    DEFAULT_APP_TOKEN,
    EmulatedUser,
    EphemeralMessage,
    Json,
    PostedMessage,
    RecordedCall,
    ResponseTarget,
)

TRIGGER_TTL_SECONDS = 3.0
RESPONSE_URL_TTL_SECONDS = 30 * 60.0
RESPONSE_URL_MAX_USES = 5


@dataclass(frozen=True)
class Fault:
    """An injected answer for the next call of a method: a 429, or an `ok: false` error."""

    error: str
    status: int = 200
    retry_after: int | None = None
    extra: tuple[tuple[str, str], ...] = ()  # more answer fields, e.g. missing_scope's needed


# Slack limits chat.postMessage per channel ("1 per second per channel", docs.slack.dev/apis/
# web-api/rate-limits) and chat.update per channel too; other methods per workspace.
PER_CHANNEL_LIMITS = frozenset({"chat.postMessage", "chat.update"})


@dataclass
class Throttle:
    """Slack's rate limit as a client meets it: every `every`-th call (per channel for the
    per-channel methods) answers 429 with Retry-After, and every call until it has passed is
    answered 429 too (docs.slack.dev/apis/web-api/rate-limits: "Retry-After ... how long to
    wait before making another request")."""

    every: int
    retry_after: int
    only: str | None = None  # just this channel (None: every channel)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    until: dict[str, float] = dataclasses.field(default_factory=dict)


class Workspace:
    """All state of one emulated Slack workspace; thread-safe."""

    def __init__(
        self,
        *,
        bot_token: str,
        team_id: str,
        users: Iterable[EmulatedUser],
        channels: Mapping[str, str],
        monotonic: Callable[[], float] = time.monotonic,
        scopes: Iterable[str] = (),
        private: Iterable[str] = (),
    ) -> None:
        self.bot_token = bot_token
        self.app_token = DEFAULT_APP_TOKEN
        self.socket_mode_url: str | None = None  # what apps.connections.open hands out
        self.team_id = team_id
        self.users: dict[str, EmulatedUser] = {user.id: user for user in users}
        self.channels: dict[str, str] = dict(channels)
        self.monotonic = monotonic
        self.lock = threading.RLock()
        self.dms: dict[str, str] = {}
        self.calls: list[RecordedCall] = []
        self.ephemerals: list[EphemeralMessage] = []
        self.opened_views: list[Json] = []
        self.home_views: dict[str, Json] = {}
        self.response_posts: list[Json] = []
        self._messages: dict[str, list[PostedMessage]] = {}
        self._triggers: dict[str, tuple[float, bool]] = {}
        self._responses: dict[str, ResponseTarget] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._lost_answers: dict[str, deque[float | None]] = {}
        self._delays: dict[str | None, float] = {}
        self._throttles: dict[str, Throttle] = {}
        self.under_retry_after: list[tuple[str, str]] = []  # (method, scope) of calls made
        self.bot_absent: set[str] = set()  # channels the bot is not a member of
        self.archived: set[str] = set()
        self.scopes: set[str] = set(scopes)  # what the bot token was granted
        self.private: set[str] = set(private)  # private channel ids
        # Human members of each channel; everyone at first (`members` of the channel object).
        self.members: dict[str, set[str]] = {cid: set(self.users) for cid in self.channels}
        self.closing = threading.Event()  # set on stop(): wakes held answers and slow calls
        self._last_ts_us = 0
        # The page (ui.py): who each page-issued trigger belongs to, whose client shows each
        # modal, which modals are closed, and a counter that moves on every change it shows.
        self.trigger_users: dict[str, str] = {}
        self.modal_owners: dict[str, str] = {}
        self.closed_views: set[str] = set()
        self.version = 0

    # --- directory ---------------------------------------------------------------------------

    def user_by_email(self, email: str) -> EmulatedUser | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    def dm_channel(self, user: str) -> str:
        """The stable D… id of the bot's DM with `user` (what conversations.open answers)."""
        with self.lock:
            return self.dms.setdefault(user, "D" + user[1:])

    def resolve_channel(self, channel: str) -> str | None:
        """A channel id for an id, a `#name`, a DM id, or a user id (posting to a user = DM)."""
        with self.lock:
            if channel in self.channels or channel in self.dms.values():
                return channel
            if channel.startswith("#"):
                name = channel[1:]
                return next((cid for cid, cname in self.channels.items() if cname == name), None)
            if channel in self.users:
                return self.dm_channel(channel)
            if channel.startswith("D"):  # the DM id of a member (U… or an Enterprise Grid W…)
                owner = next((u for u in self.users if u[1:] == channel[1:]), None)
                return None if owner is None else self.dm_channel(owner)
            return None

    def channel_name(self, channel: str) -> str:
        return self.channels.get(channel, "directmessage")

    def may_see(self, user: str, channel: str) -> bool:
        """A DM holds only its user and the bot; a channel, its members."""
        with self.lock:
            owner = next((u for u, dm in self.dms.items() if dm == channel), None)
            if owner is not None:
                return owner == user
            return user in self.members.get(channel, set())

    # --- messages ----------------------------------------------------------------------------

    def next_ts(self) -> str:
        """A message ts ("1700000000.000100"): wall clock microseconds, strictly increasing."""
        with self.lock:
            now_us = max(time.time_ns() // 1000, self._last_ts_us + 1)
            self._last_ts_us = now_us
            return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[Json],
        thread_ts: str | None,
        metadata: Json | None = None,
    ) -> PostedMessage:
        with self.lock:
            message = PostedMessage(
                channel=channel,
                ts=self.next_ts(),
                text=text,
                blocks=copy.deepcopy(blocks),
                thread_ts=thread_ts,
                user=BOT_USER_ID,
                metadata=copy.deepcopy(metadata),
            )
            self._messages.setdefault(channel, []).append(message)
            return message

    def find(self, channel: str, ts: str) -> PostedMessage | None:
        with self.lock:
            return next((m for m in self._messages.get(channel, []) if m.ts == ts), None)

    def edit(
        self,
        channel: str,
        ts: str,
        *,
        text: str | None,
        blocks: list[Json] | None,
        metadata: Json | None = None,
    ) -> PostedMessage | None:
        """Replace text, blocks and/or metadata (None keeps the old value); counts the edit."""
        with self.lock:
            messages = self._messages.get(channel, [])
            for index, old in enumerate(messages):
                if old.ts == ts:
                    new = dataclasses.replace(
                        old,
                        text=old.text if text is None else text,
                        blocks=old.blocks if blocks is None else copy.deepcopy(blocks),
                        edits=old.edits + 1,
                        metadata=old.metadata if metadata is None else copy.deepcopy(metadata),
                    )
                    messages[index] = new
                    return new
            return None

    def delete(self, channel: str, ts: str) -> bool:
        with self.lock:
            messages = self._messages.get(channel, [])
            kept = [m for m in messages if m.ts != ts]
            self._messages[channel] = kept
            return len(kept) != len(messages)

    def messages(self, channel: str) -> list[PostedMessage]:
        with self.lock:
            return list(self._messages.get(channel, []))

    def all_messages(self) -> list[PostedMessage]:
        with self.lock:
            return [m for messages in self._messages.values() for m in messages]

    # --- triggers and response URLs ----------------------------------------------------------

    def issue_trigger(self, user: str | None = None) -> str:
        """A single-use trigger_id; `user` is whose client a modal it opens appears in."""
        trigger_id = (
            f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"
        )
        with self.lock:
            self._triggers[trigger_id] = (self.monotonic(), False)
            if user is not None:
                self.trigger_users[trigger_id] = user
        return trigger_id

    def exchange_trigger(self, trigger_id: str) -> str | None:
        """Use a trigger id once; the Slack error when that is not possible, else None."""
        with self.lock:
            entry = self._triggers.get(trigger_id)
            if entry is None:
                return "invalid_trigger_id"
            issued, used = entry
            if used:
                return "exchanged_trigger_id"
            if self.monotonic() - issued > TRIGGER_TTL_SECONDS:
                return "expired_trigger_id"
            self._triggers[trigger_id] = (issued, True)
            return None

    def issue_response_token(self, channel: str, user: str, message_ts: str | None) -> str:
        token = secrets.token_urlsafe(18)
        with self.lock:
            self._responses[token] = ResponseTarget(channel, user, message_ts, self.monotonic())
        return token

    def respond(self, token: str, body: Json) -> tuple[int, str]:
        """A POST to a response_url: record it and apply it. Returns (HTTP status, text body)."""
        with self.lock:
            target = self._responses.get(token)
            if target is None:
                return 404, "no_such_url"
            if self.monotonic() - target.issued_at > RESPONSE_URL_TTL_SECONDS:
                return 404, "expired_url"
            if target.uses >= RESPONSE_URL_MAX_USES:
                return 404, "used_url"
            self._responses[token] = dataclasses.replace(target, uses=target.uses + 1)
            self.response_posts.append(copy.deepcopy(body))
            self.version += 1
            return self._apply_response(target, body)

    def _apply_response(self, target: ResponseTarget, body: Json) -> tuple[int, str]:
        text = body.get("text")
        blocks = body.get("blocks")
        if blocks is not None and not isinstance(blocks, list):
            return 400, "invalid_blocks"
        text = text if isinstance(text, str) else None
        if body.get("delete_original") and target.message_ts:
            self.delete(target.channel, target.message_ts)
        elif body.get("replace_original") and target.message_ts:
            if self.find(target.channel, target.message_ts) is None:
                return 404, "message_not_found"
            self.edit(target.channel, target.message_ts, text=text or "", blocks=blocks or [])
        elif body.get("response_type") == "in_channel":
            thread_ts = body.get("thread_ts")
            self.post(target.channel, text or "", blocks or [], thread_ts)
        else:
            self.ephemerals.append(
                EphemeralMessage(
                    target.channel, target.user, text or "", blocks or [], self.next_ts()
                )
            )
        return 200, "ok"

    # --- faults and the call log -------------------------------------------------------------

    def add_fault(self, method: str, fault: Fault, times: int) -> None:
        with self.lock:
            self._faults.setdefault(method, deque()).extend([fault] * times)

    def take_fault(self, method: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    def lose_answers(self, method: str, times: int, hold_seconds: float | None) -> None:
        """The next `times` successful calls of `method` are applied, then their answer is held
        `hold_seconds` (None: the connection is closed without an answer)."""
        with self.lock:
            self._lost_answers.setdefault(method, deque()).extend([hold_seconds] * times)

    def take_lost_answer(self, method: str) -> tuple[bool, float | None]:
        """(True, hold) when this successful call's answer is to be lost."""
        with self.lock:
            queue = self._lost_answers.get(method)
            return (True, queue.popleft()) if queue else (False, None)

    def throttle(
        self, method: str, every: int, retry_after: int, channel: str | None = None
    ) -> None:
        """From now on `method` is rate limited as Slack does it (see Throttle), in `channel`
        only if given; every=0 ends it."""
        with self.lock:
            if every <= 0:
                self._throttles.pop(method, None)
            else:
                self._throttles[method] = Throttle(every, retry_after, channel)

    def throttled(self, method: str, channel: str | None) -> int | None:
        """The Retry-After to answer this call with, or None when it may go through. A call
        made while an earlier Retry-After is in force is recorded in `under_retry_after`."""
        with self.lock:
            rule = self._throttles.get(method)
            if rule is None:
                return None
            scope = (channel or "") if method in PER_CHANNEL_LIMITS else ""
            if rule.only is not None and scope != rule.only:
                return None
            now = self.monotonic()
            until = rule.until.get(scope, 0.0)
            if now < until:
                self.under_retry_after.append((method, scope))
                return max(1, int(until - now + 0.999))
            rule.counts[scope] = rule.counts.get(scope, 0) + 1
            if rule.counts[scope] % rule.every:
                return None
            rule.until[scope] = now + rule.retry_after
            return rule.retry_after

    def slow_down(self, seconds: float, method: str | None) -> None:
        """Every call of `method` (of every method when None) waits `seconds` before it runs."""
        with self.lock:
            self._delays[method] = seconds

    def delay_for(self, method: str) -> float:
        with self.lock:
            return self._delays.get(method, self._delays.get(None, 0.0))

    def record(self, call: RecordedCall) -> None:
        with self.lock:
            self.calls.append(call)
            self.version += 1  # every Web API call may change what the page shows

    def touch(self) -> None:
        """Something the page shows changed outside the Web API (a modal closed, a note)."""
        with self.lock:
            self.version += 1

    def find_view(self, view_id: str) -> Json | None:
        with self.lock:
            views = [*self.opened_views, *self.home_views.values()]
            found = next((v for v in views if v.get("id") == view_id), None)
            return copy.deepcopy(found)

    def directory(self) -> Json:
        """Team, members, channels and DM ids: what a delivery client needs to act as Slack."""
        with self.lock:
            return {
                "team_id": self.team_id,
                "users": [user.to_api(self.team_id) for user in self.users.values()],
                "channels": dict(self.channels),
                "dm_channels": {user: self.dm_channel(user) for user in self.users},
            }

    def snapshot(self) -> Json:
        """Everything, as JSON (`GET /_emulator/state`)."""
        with self.lock:
            return {
                **self.directory(),
                "messages": [m.to_json() for m in self.all_messages()],
                "ephemerals": [e.to_json() for e in self.ephemerals],
                "opened_views": copy.deepcopy(self.opened_views),
                "home_views": copy.deepcopy(self.home_views),
                "response_url_posts": copy.deepcopy(self.response_posts),
                "calls": [
                    {
                        "method": c.method,
                        "args": c.args,
                        "at": c.at.isoformat(),
                        "status": c.status,
                    }
                    for c in self.calls
                ],
            }
