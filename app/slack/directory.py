"""Who is this Slack user? Their e-mail address, from users.info.

An answer is cached for a while; a failure never is. A rate-limited lookup is retried once,
after Slack's Retry-After when that is short (at most MAX_WAIT seconds); any other failure, or
a second one (each lookup waits at most LOOKUP_TIMEOUT), gives an Actor marked `unconfirmed`
with the reason, so that the rules that need to know who someone is refuse (fail closed)
instead of treating them as someone without an e-mail address."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from app.domain.approval import Actor

MAX_WAIT = 2.0
LOOKUP_TIMEOUT = 2.0  # a click's answer (the reject modal's ack) cannot wait Slack's 30 s default
log = structlog.get_logger("countersign.slack.directory")


class _Unanswered(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class Directory:
    def __init__(
        self,
        client: WebClient,
        ttl_seconds: float = 600,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=int(LOOKUP_TIMEOUT),
            ssl=client.ssl,
            proxy=client.proxy,
            headers=client.headers,
        )
        self._ttl, self._sleep = ttl_seconds, sleep
        self._cache: dict[str, tuple[float, str | None, str | None]] = {}
        self._lock = threading.Lock()

    def actor(self, user_id: str) -> Actor:
        """The person behind `user_id`, with their e-mail, or marked unconfirmed and why."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(user_id)
        if hit and now - hit[0] < self._ttl:
            return Actor(user_id, hit[1], name=hit[2])
        try:
            email, name = self._lookup(user_id)
        except _Unanswered as first:
            if first.retry_after is None or first.retry_after > MAX_WAIT:
                return self._unconfirmed(user_id, first.reason)
            self._sleep(first.retry_after)
            try:
                email, name = self._lookup(user_id)
            except _Unanswered as second:
                return self._unconfirmed(user_id, second.reason)
        with self._lock:
            self._cache[user_id] = (now, email, name)
        return Actor(user_id, email, name=name)

    def known(self, user_id: str) -> Actor:
        """The person as last looked up (any age), or by id alone: no Slack call. For work
        nobody waits on, such as republishing a Home, so it spends none of users.info's quota."""
        with self._lock:
            hit = self._cache.get(user_id)
        return Actor(user_id, hit[1] if hit else None)

    def email_of(self, user_id: str) -> str | None:
        """The user's e-mail, or None when Slack does not tell or could not be asked."""
        return self.actor(user_id).email

    def _lookup(self, user_id: str) -> tuple[str | None, str | None]:
        """The user's e-mail and name (real_name) as Slack gives them now."""
        try:
            response = self._client.users_info(user=user_id)
        except SlackApiError as error:
            status = error.response.status_code
            reason = str(error.response.get("error") or f"HTTP {status}")
            wait = error.response.headers.get("Retry-After") if status == 429 else None
            raise _Unanswered(
                reason, _seconds(wait, default=1.0) if status == 429 else None
            ) from None
        except (SlackClientError, OSError) as error:
            raise _Unanswered(f"Slack did not answer: {type(error).__name__}") from None
        user = response.get("user") or {}
        profile = (user.get("profile") or {}) if isinstance(user, dict) else {}
        email = profile.get("email")
        name = profile.get("real_name") or (
            user.get("real_name") if isinstance(user, dict) else None
        )
        return (str(email) if email else None), (str(name) if name else None)

    @staticmethod
    def _unconfirmed(user_id: str, reason: str) -> Actor:
        log.warning("directory.unconfirmed", user=user_id, reason=reason)
        return Actor(user_id, None, unconfirmed=reason)


def _seconds(value: object, *, default: float) -> float:
    try:
        return max(0.0, float(str(value))) if value is not None else default
    except ValueError:
        return default
