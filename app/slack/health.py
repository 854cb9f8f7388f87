"""Is Slack there, and does it accept our bot token? `auth.test`, asked at start-up and then
by the health job: while Slack is unreachable the server keeps taking billing events (the
cards wait in the outbox) and `/readyz` says why Slack is not ready."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

# auth.test answers that mean the token itself is wrong: retrying will not help
BAD_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
log = structlog.get_logger("countersign.slack")
# slack_sdk logs every refused connection (and its retry) as an error: every 2 s while Slack
# is away. The probe's result is what matters, and SlackHealth logs its changes.
_SDK_LOG = logging.getLogger("countersign.slack.probe")
_SDK_LOG.setLevel(logging.CRITICAL)
PROBE_TIMEOUT_SECONDS = 5
RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class SlackState:
    ready: bool
    reason: str  # "ok", or why not, for people
    bad_token: bool = False


UNKNOWN = SlackState(False, "not checked yet")


def probe(token: str, base_url: str) -> SlackState:
    """Ask `auth.test` once, with a short timeout."""
    client = WebClient(
        token=token,
        base_url=base_url,
        timeout=PROBE_TIMEOUT_SECONDS,
        logger=_SDK_LOG,
        retry_handlers=[],
    )
    try:
        client.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error", "") or error.response.status_code)
        if code in BAD_TOKEN:
            return SlackState(False, f"Slack refused SLACK_BOT_TOKEN ({code})", bad_token=True)
        return SlackState(False, f"Slack answered auth.test with {code}")
    except (SlackClientError, OSError) as error:
        return SlackState(False, f"Slack unreachable at {base_url} ({type(error).__name__})")
    return SlackState(True, "ok")


class SlackHealth:
    """The last known state of Slack; `check()` asks again when it is due (or forced)."""

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        on_back: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token, self._base_url = token, base_url
        self._listeners: list[Callable[[], None]] = [on_back] if on_back else []
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.state = UNKNOWN
        self._checked_at: float | None = None

    def when_back(self, listener: Callable[[], None]) -> None:
        """Call `listener` (once per return) when Slack answers again after being away."""
        self._listeners.append(listener)

    def check(self, *, force: bool = False) -> SlackState:
        """Probe unless Slack was fine less than a minute ago; call `on_back` when it returns."""
        now = self._monotonic()
        with self._lock:
            fresh = self._checked_at is not None and now - self._checked_at < RECHECK_SECONDS
            if self.state.ready and fresh and not force:
                return self.state
        state = probe(self._token, self._base_url)
        with self._lock:
            came_back = state.ready and not self.state.ready and self._checked_at is not None
            went_away = self.state.ready and not state.ready
            self.state, self._checked_at = state, now
        if went_away:
            log.warning("slack.not_ready", why=state.reason)
        if came_back:
            log.info("slack.ready")
            for listener in list(self._listeners):
                try:
                    listener()
                except Exception as error:  # one listener failing must not stop the others
                    log.warning("slack.back_listener_failed", error=repr(error))
        return state
