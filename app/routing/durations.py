"""Durations as policy authors write them: `90s`, `30m`, `4h`, `5d`, or combined like `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WHOLE = re.compile(r"^(?:\d+[smhd])+$", re.ASCII)
_PART = re.compile(r"(\d+)([smhd])", re.ASCII)
_MAX_DIGITS = 9  # more is over a year in any unit, and int() of thousands of digits raises
MAX_DURATION = timedelta(days=366)


class DurationError(ValueError):
    """A duration that cannot be read; the message says what a valid one looks like."""


def parse_duration(text: str) -> timedelta:
    """Parse `4h`, `30m`, `1d12h`; units s, m, h, d; positive and at most a year."""
    compact = text.strip()
    if not _WHOLE.match(compact):
        if compact.isascii() and compact.isdigit():
            raise DurationError(
                f"duration {text!r} has no unit; write e.g. {compact}h or {compact}m"
            )
        raise DurationError(f"{text!r} is not a duration; write e.g. 30m, 4h, 5d or 1d12h")
    parts = _PART.findall(compact)
    if any(len(number.lstrip("0")) > _MAX_DIGITS for number, _ in parts):
        raise DurationError(f"duration {text!r} is longer than a year")
    units = [unit for _, unit in parts]
    if len(set(units)) != len(units):
        raise DurationError(f"duration {text!r} repeats a unit; write e.g. 1d12h")
    seconds = sum(int(number) * _UNITS[unit] for number, unit in parts)
    if seconds == 0:
        raise DurationError(f"duration {text!r} is zero; it must be longer than that")
    value = timedelta(seconds=seconds)
    if value > MAX_DURATION:
        raise DurationError(f"duration {text!r} is longer than a year")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest policy-style spelling of a duration: 1d12h, 4h, 90s → 1m30s."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
