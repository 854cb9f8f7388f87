"""A billing event as stored at intake, in the shape routing reads it (for backtests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored at intake: a label people recognise (e.g. BX-000123), its arrival
    time, and its routing view."""

    label: str
    received_at: datetime
    view: dict[str, Any]
