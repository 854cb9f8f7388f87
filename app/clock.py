"""The one clock: injected at the edge, so domain and flows take `now` as an argument."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC now."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
