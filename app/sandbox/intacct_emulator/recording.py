"""A log of the requests the emulator received, with credentials redacted."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REDACTED = "[redacted]"
_SECRET_FIELDS = frozenset({"client_secret", "access_token", "refresh_token", "password"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: method, path, headers (credentials redacted), body, status."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def add(
        self, method: str, path: str, headers: Mapping[str, str], body: Any, status: int
    ) -> None:
        entry = RecordedRequest(method, path, redact_headers(headers), redact_body(body), status)
        with self._lock:
            self._entries.append(entry)

    def select(self, path_contains: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [e for e in self._entries if path_contains is None or path_contains in e.path]


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    redacted: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization", "cookie"):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} {REDACTED}".strip()
        redacted[name] = value
    return redacted


def redact_body(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: REDACTED if k in _SECRET_FIELDS else redact_body(v) for k, v in body.items()}
    if isinstance(body, list):
        return [redact_body(item) for item in body]
    return body
