"""OAuth2 client-credentials tokens for the Intacct REST API, cached and shared across threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.intacct.errors import (
    IntacctAuthError,
    IntacctError,
    IntacctRetryable,
    error_from_transport,
    load_json,
    retry_after_seconds,
)

SAFETY_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"_Token(expires_at={self.expires_at.isoformat()})"


class TokenProvider:
    """Fetches a bearer token once and reuses it until 60 s before it expires (injected clock).

    The lock is held while fetching, so threads that all find the cache empty fetch only once.
    Neither the client secret nor the token ever appears in a repr, a log line or an error.
    """

    def __init__(
        self,
        *,
        http: httpx.Client,
        token_url: str,
        client_id: str,
        client_secret: str,
        username: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._username = username
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self._token_url!r}, cached={self._token is not None})"

    def get(self) -> str:
        """A valid bearer token: the cached one, or a new one when missing or near expiry."""
        with self._lock:
            token = self._token
            if token is None or self._now() >= token.expires_at - SAFETY_MARGIN:
                token = self._fetch()
                self._token = token
            return token.value

    def invalidate(self, rejected: str) -> None:
        """Forget the token the API rejected (unless another thread has already replaced it)."""
        with self._lock:
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the injected clock must return an aware (UTC) datetime")
        return now

    def _fetch(self) -> _Token:
        # A form body, as RFC 6749 §4.4.2 requires and Sage's OAuth2 guide and REST SDK send.
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "username": self._username,
        }
        try:
            response = self._http.post(
                self._token_url, data=form, headers={"Accept": "application/json"}
            )
        except httpx.TransportError as exc:
            raise error_from_transport(exc, what="Intacct token request") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise IntacctRetryable(
                f"Intacct token endpoint answered HTTP {response.status_code}",
                status=response.status_code,
                retry_after=retry_after_seconds(response.headers.get("Retry-After"), self._now),
            )
        payload = _json_object(response)
        if response.status_code != 200:
            raise IntacctAuthError(
                "Intacct refused the client credentials",
                status=response.status_code,
                code=_oauth_text(payload, "error"),
            )
        value = payload.get("access_token")
        expires_in = payload.get("expires_in")
        if not isinstance(value, str) or not value:
            raise IntacctError("Intacct token response has no access_token", status=200)
        try:
            seconds = int(expires_in) if expires_in is not None else 0
        except (TypeError, ValueError):
            raise IntacctError("Intacct token response has a bad expires_in", status=200) from None
        return _Token(value=value, expires_at=self._now() + timedelta(seconds=seconds))


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = load_json(response.content) if response.content else {}
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _oauth_text(payload: dict[str, Any], field: str) -> str | None:
    value = payload.get(field)
    return value if isinstance(value, str) else None
