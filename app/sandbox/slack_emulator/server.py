"""`SlackEmulator`: a real loopback HTTP server answering the Slack Web API, and its inspectors."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping

from app.sandbox.emulator_kit.background import BackgroundServer
from app.sandbox.slack_emulator.access import DEFAULT_SCOPES
from app.sandbox.slack_emulator.handler import EmulatorServer
from app.sandbox.slack_emulator.interactions import AppTarget
from app.sandbox.slack_emulator.models import (
    DEFAULT_BOT_TOKEN,
    DEFAULT_CHANNELS,
    DEFAULT_TEAM_ID,
    DEFAULT_USERS,
    EmulatedUser,
    EphemeralMessage,
    Json,
    PostedMessage,
    RecordedCall,
)
from app.sandbox.slack_emulator.ui import BillingTarget, PageConfig, Signer
from app.sandbox.slack_emulator.workspace import Fault, Workspace


class SlackEmulator(BackgroundServer[EmulatorServer]):
    """The Slack Web API on loopback, for `WebClient(base_url=emulator.api_url)`.

    Use as a context manager, or call start() and stop(). Inspection methods read the state
    directly; another process uses the HTTP surface under `/_emulator/` instead.
    `monotonic` is the clock for trigger_id and response_url expiry (injectable for tests).
    """

    thread_name = "slack-emulator"

    def __init__(
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        team_id: str = DEFAULT_TEAM_ID,
        users: Iterable[EmulatedUser] | None = None,
        channels: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        private_channels: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self._workspace = Workspace(
            bot_token=bot_token,
            team_id=team_id,
            users=DEFAULT_USERS if users is None else users,
            channels=DEFAULT_CHANNELS if channels is None else channels,
            monotonic=monotonic,
            scopes=scopes,
            private=private_channels,
        )
        self._address = (host, port)
        self._page = PageConfig()

    def _make_server(self) -> EmulatorServer:
        self._workspace.closing.clear()
        return EmulatorServer(self._address, self._workspace, self._page)

    def connect_app(self, url: str, signing_secret: str, commands: tuple[str, ...] = ()) -> None:
        """The page's clicks, dialogs, slash commands and Home-tab visits go to the app at
        `url` (its Request URL), signed with `signing_secret`; `commands` are its slash
        commands (the composer suggests them)."""
        self._page.app = AppTarget(url, signing_secret)
        self._page.commands = commands

    def connect_billing(
        self, url: str, sign: Signer, examples: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """The page's "send an event" posts to `url` with the headers `sign(body)` gives, as the
        billing system would; `examples` are (name, JSON text) offered in the page."""
        self._page.billing = BillingTarget(url, sign, examples)

    def link_page(self, name: str, url: str) -> None:
        """Show a link to another page (the Intacct emulator's) in the workspace sidebar."""
        self._page.links[name] = url

    def _before_shutdown(self, server: EmulatorServer) -> None:
        self._workspace.closing.set()  # held answers and slow calls end now

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT/`"""
        return self._running_server().base_url

    @property
    def api_url(self) -> str:
        """`http://127.0.0.1:PORT/api/` (ends with "/", as WebClient's urljoin needs)."""
        return self.url + "api/"

    @property
    def bot_token(self) -> str:
        return self._workspace.bot_token

    @property
    def app_token(self) -> str:
        """The app-level token (xapp-) that apps.connections.open accepts."""
        return self._workspace.app_token

    def enable_socket_mode(self, url: str) -> None:
        """Make apps.connections.open hand out `url` (a Socket Mode server run by the caller)."""
        self._workspace.socket_mode_url = url

    @property
    def team_id(self) -> str:
        return self._workspace.team_id

    # --- inspection --------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        with self._workspace.lock:
            return [c for c in self._workspace.calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[PostedMessage]:
        """Messages in `channel` (id, #name, or DM id), oldest first, as currently edited."""
        resolved = self._workspace.resolve_channel(channel) or channel
        return self._workspace.messages(resolved)

    def message(self, channel: str, ts: str) -> PostedMessage:
        resolved = self._workspace.resolve_channel(channel) or channel
        found = self._workspace.find(resolved, ts)
        if found is None:
            raise LookupError(f"no message {ts} in {channel}")
        return found

    def thread(self, channel: str, ts: str) -> list[PostedMessage]:
        """Replies to the message `ts`, oldest first (the parent itself not included)."""
        return [m for m in self.messages(channel) if m.thread_ts == ts and m.ts != ts]

    def ephemerals(self, user: str | None = None) -> list[EphemeralMessage]:
        with self._workspace.lock:
            return [e for e in self._workspace.ephemerals if user is None or e.user == user]

    def dm_channel(self, user: str) -> str:
        return self._workspace.dm_channel(user)

    def opened_views(self) -> list[Json]:
        with self._workspace.lock:
            return copy.deepcopy(self._workspace.opened_views)

    def home_view(self, user: str) -> Json | None:
        with self._workspace.lock:
            return copy.deepcopy(self._workspace.home_views.get(user))

    def response_url_posts(self) -> list[Json]:
        with self._workspace.lock:
            return copy.deepcopy(self._workspace.response_posts)

    def state(self) -> Json:
        """Everything, as `GET /_emulator/state` answers it."""
        return self._workspace.snapshot()

    # --- fault injection and interaction helpers ---------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 429, Retry-After, `ratelimited`."""
        self._workspace.add_fault(method, Fault("ratelimited", 429, retry_after), times)

    def fail(self, method: str, error: str, times: int = 1, **extra: str) -> None:
        """The next `times` calls of `method` answer HTTP 200 `{"ok": false, "error": error}`,
        with `extra` fields (missing_scope carries `needed` and `provided`)."""
        self._workspace.add_fault(method, Fault(error, extra=tuple(extra.items())), times)

    def throttle(
        self, method: str, every: int, retry_after: int = 1, channel: str | None = None
    ) -> None:
        """Rate limit `method` as Slack does: every `every`-th call (per channel for
        chat.postMessage/chat.update; in `channel` only, if given) answers 429 with
        Retry-After, and so does every call until it has passed; `calls_under_retry_after`
        counts those. every=0 lifts it."""
        self._workspace.throttle(method, every, retry_after, channel)

    def calls_under_retry_after(self) -> list[tuple[str, str]]:
        """(method, channel or "") of each call made while a Retry-After was in force."""
        with self._workspace.lock:
            return list(self._workspace.under_retry_after)

    def remove_bot(self, channel: str) -> None:
        """The bot is not (or no longer) in `channel`: posts there answer `not_in_channel`."""
        with self._workspace.lock:
            self._workspace.bot_absent.add(self._workspace.resolve_channel(channel) or channel)

    def invite_bot(self, channel: str) -> None:
        """Someone invited the bot to `channel`."""
        with self._workspace.lock:
            self._workspace.bot_absent.discard(self._workspace.resolve_channel(channel) or channel)

    def revoke_scope(self, scope: str) -> None:
        """The bot token no longer has `scope`: calls that need it answer `missing_scope`."""
        with self._workspace.lock:
            self._workspace.scopes.discard(scope)

    def grant_scope(self, scope: str) -> None:
        with self._workspace.lock:
            self._workspace.scopes.add(scope)

    def make_private(self, channel: str) -> None:
        """`channel` is a private channel: the bot must be a member to see or post in it."""
        with self._workspace.lock:
            self._workspace.private.add(self._workspace.resolve_channel(channel) or channel)

    def remove_member(self, channel: str, user: str) -> None:
        """`user` leaves `channel`: an ephemeral for them there answers `user_not_in_channel`."""
        with self._workspace.lock:
            cid = self._workspace.resolve_channel(channel) or channel
            self._workspace.members.get(cid, set()).discard(user)

    def archive(self, channel: str) -> None:
        """`channel` is archived: posts there answer `is_archived`."""
        with self._workspace.lock:
            self._workspace.archived.add(self._workspace.resolve_channel(channel) or channel)

    def lose_answer(self, method: str, times: int = 1, hold_seconds: float | None = None) -> None:
        """The next `times` successful calls of `method` are applied (a message is posted), but
        the answer is held `hold_seconds` (past the client's timeout) or, when None, the
        connection is closed without one: the client cannot know the call took effect."""
        self._workspace.lose_answers(method, times, hold_seconds)

    def slow_down(self, seconds: float, method: str | None = None) -> None:
        """A slow Slack: each call of `method` (of every method when None) waits `seconds`
        before it is applied and answered. 0 makes it fast again."""
        self._workspace.slow_down(seconds, method)

    def issue_trigger_id(self) -> str:
        """A trigger_id as an interaction carries it: single use, valid for 3 seconds."""
        return self._workspace.issue_trigger()

    def issue_response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        """A response_url for an interaction by `user` in `channel` (on message_ts, if any)."""
        token = self._workspace.issue_response_token(channel, user, message_ts)
        return f"{self.url}response/{token}"
