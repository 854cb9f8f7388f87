"""Who is this Slack user? Their e-mail address, from users.info, cached for a while."""

from __future__ import annotations

import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError


class Directory:
    def __init__(self, client: WebClient, ttl_seconds: float = 600) -> None:
        self._client, self._ttl = client, ttl_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def email_of(self, user_id: str) -> str | None:
        """The user's e-mail, or None when Slack does not tell (missing scope, bot, guest)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(user_id)
            if hit and now - hit[0] < self._ttl:
                return hit[1]
        try:
            response = self._client.users_info(user=user_id)
            email = response["user"].get("profile", {}).get("email")
        except SlackApiError:
            email = None
        with self._lock:
            self._cache[user_id] = (now, email)
        return str(email) if email else None
