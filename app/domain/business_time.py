"""Business time: opening hours in an IANA timezone, skipping weekends and public holidays.

Reminders, escalations and expiry run on a `Clockwork`: a `BusinessCalendar`, or `WALL_CLOCK`
for `calendar: none`. Inputs must be timezone-aware; outputs are aware UTC. Every instant is
compared and subtracted in UTC, so a day whose opening hours straddle a DST change counts its
real elapsed length (01:00-05:00 on a spring-forward night in New York is 3 hours, not 4).

Semantics:
- Business hours are half-open, [start, end): a calendar is closed at the closing instant.
- `add(start, 0)` returns `start` unchanged (in UTC), even outside business hours.
- `add` ending exactly at closing time returns the closing instant, not the next opening.
- A local opening or closing time that does not exist (DST gap) or occurs twice (DST overlap)
  resolves with `fold=0`, i.e. with the UTC offset in force before the change; a day whose
  window thereby becomes empty or negative is treated as closed.
- `between(a, b) == business time in [a, b)`, so `between(s, add(s, d)) == d` for any `d >= 0`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

ONE_DAY = timedelta(days=1)
SEARCH_LIMIT_DAYS = 3 * 366  # consecutive closed days before we give up looking for an opening


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """Public holidays (observed days included) of one year; immutable, so safe to share."""
    return frozenset(holidays_lib.country_holidays(country, subdiv=subdiv, years=year).keys())


class Clockwork(Protocol):
    """What timers need from a calendar: open or not, next opening, addition, elapsed time."""

    def is_open(self, moment: datetime) -> bool: ...
    def next_opening(self, moment: datetime) -> datetime: ...
    def add(self, start: datetime, duration: timedelta) -> datetime: ...
    def between(self, a: datetime, b: datetime) -> timedelta: ...
    def after(self, start: datetime, duration: timedelta) -> datetime: ...


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days (Monday=0 .. Sunday=6) open from `start` to `end` local time in `timezone`."""

    name: str
    timezone: str
    days: frozenset[int]
    start: time
    end: time
    holiday_country: str | None = None
    holiday_subdiv: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"calendar {self.name!r}: unknown timezone {self.timezone!r}") from exc
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "days", frozenset(self.days))
        object.__setattr__(self, "extra_holidays", frozenset(self.extra_holidays))
        if not self.days:
            raise ValueError(f"calendar {self.name!r}: days must name at least one weekday")
        if not self.days <= set(range(7)):
            raise ValueError(f"calendar {self.name!r}: days must be 0 (Monday) .. 6 (Sunday)")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError(f"calendar {self.name!r}: start and end are local, naive times")
        if self.end <= self.start:
            raise ValueError(f"calendar {self.name!r}: end {self.end} must be after start")
        if self.holiday_subdiv is not None and self.holiday_country is None:
            raise ValueError(f"calendar {self.name!r}: holiday_subdiv needs a holiday_country")
        if self.holiday_country is not None:
            try:
                holidays_lib.country_holidays(self.holiday_country, subdiv=self.holiday_subdiv)
            except NotImplementedError as exc:
                where = "/".join(filter(None, (self.holiday_country, self.holiday_subdiv)))
                raise ValueError(
                    f"calendar {self.name!r}: no public holidays known for {where!r}"
                ) from exc

    def to_json(self) -> dict[str, Any]:
        """The calendar as plain JSON, to snapshot it on an exception (see `from_json`)."""
        return {
            "name": self.name,
            "timezone": self.timezone,
            "days": sorted(self.days),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "holiday_country": self.holiday_country,
            "holiday_subdiv": self.holiday_subdiv,
            "extra_holidays": sorted(d.isoformat() for d in self.extra_holidays),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BusinessCalendar:
        """The calendar `to_json` wrote."""
        return cls(
            name=data["name"],
            timezone=data["timezone"],
            days=frozenset(data["days"]),
            start=time.fromisoformat(data["start"]),
            end=time.fromisoformat(data["end"]),
            holiday_country=data["holiday_country"],
            holiday_subdiv=data["holiday_subdiv"],
            extra_holidays=frozenset(date.fromisoformat(d) for d in data["extra_holidays"]),
        )

    def is_business_day(self, day: date) -> bool:
        """True if `day` is a business weekday that is neither a public nor an extra holiday."""
        if day.weekday() not in self.days or day in self.extra_holidays:
            return False
        if self.holiday_country is None:
            return True
        return day not in _public_holidays(self.holiday_country, self.holiday_subdiv, day.year)

    def is_open(self, moment: datetime) -> bool:
        """True if `moment` (aware, any zone) falls within business hours."""
        at = _utc(moment, "moment")
        return any(o <= at < c for o, c in self._windows(at, until=at))

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself if open, else the next opening; aware UTC."""
        at = _utc(moment, "moment")
        return max(at, next(iter(self._windows(at)))[0])

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """`start` plus `duration` of business time; aware UTC. Counting begins at the next
        opening; a zero duration returns `start`; ending at closing returns the closing instant."""
        at = _utc(start, "start")
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative, got {duration}")
        if not duration:
            return at
        remaining = duration
        for opening, closing in self._windows(at):
            begin = max(at, opening)
            if remaining <= closing - begin:
                return begin + remaining
            remaining -= closing - begin
        raise AssertionError("unreachable: _windows is unbounded without `until`")

    def after(self, start: datetime, duration: timedelta) -> datetime:
        """When a policy duration from `start` runs out on this calendar. Whole days count
        business days (`5d`: five business days later, same time of day); anything else counts
        business time within opening hours (`8h`: eight open hours)."""
        if duration > timedelta(0) and duration % ONE_DAY == timedelta(0):
            return self.add_days(start, duration // ONE_DAY)
        return self.add(start, duration)

    def add_days(self, start: datetime, days: int) -> datetime:
        """`days` business days after `start` at the same local time; counting starts at the
        next opening, and a result that falls outside hours moves to the next opening."""
        begin = self.next_opening(start).astimezone(self._zone)
        day, counted, searched = begin.date(), 0, 0
        while counted < days:
            day, searched = day + ONE_DAY, searched + 1
            if searched > SEARCH_LIMIT_DAYS:
                raise ValueError(f"calendar {self.name!r}: {days} business days not found")
            counted += self.is_business_day(day)
        return self.next_opening(datetime.combine(day, begin.time(), tzinfo=self._zone))

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time elapsed from `a` to `b`; zero if `b` is not after `a`."""
        lo, hi = _utc(a, "a"), _utc(b, "b")
        total = timedelta(0)
        if hi <= lo:
            return total
        for opening, closing in self._windows(lo, until=hi):
            if opening < hi:
                total += max(timedelta(0), min(closing, hi) - max(opening, lo))
        return total

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if not self.is_business_day(day):
            return None
        opening = datetime.combine(day, self.start, tzinfo=self._zone).astimezone(UTC)
        closing = datetime.combine(day, self.end, tzinfo=self._zone).astimezone(UTC)
        return (opening, closing) if closing > opening else None

    def _windows(
        self, since: datetime, until: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Opening windows (UTC) that close after `since`, in order; up to `until`'s local day
        if given, else without end (but giving up after SEARCH_LIMIT_DAYS closed days)."""
        day = since.astimezone(self._zone).date() - ONE_DAY  # a window may spill across midnight
        last = until.astimezone(self._zone).date() + ONE_DAY if until is not None else None
        closed_run = 0
        while last is None or day <= last:
            window = self._window(day)
            if window is not None and window[1] > since:
                closed_run = 0
                yield window
            elif (closed_run := closed_run + 1) > SEARCH_LIMIT_DAYS and last is None:
                raise ValueError(
                    f"calendar {self.name!r}: no business hours within "
                    f"{SEARCH_LIMIT_DAYS} days after {since.isoformat()}"
                )
            day += ONE_DAY


class _WallClock:
    """`calendar: none`: always open; business time is plain elapsed time."""

    def __repr__(self) -> str:
        return "WALL_CLOCK"

    def is_business_day(self, day: date) -> bool:
        return True

    def is_open(self, moment: datetime) -> bool:
        _utc(moment, "moment")
        return True

    def next_opening(self, moment: datetime) -> datetime:
        return _utc(moment, "moment")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative, got {duration}")
        return _utc(start, "start") + duration

    def between(self, a: datetime, b: datetime) -> timedelta:
        return max(timedelta(0), _utc(b, "b") - _utc(a, "a"))

    def after(self, start: datetime, duration: timedelta) -> datetime:
        return self.add(start, duration)


WALL_CLOCK = _WallClock()

_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def humanize(duration: timedelta) -> str:
    """Short text for a duration: its two largest non-zero units, e.g. "1 d 2 h", "45 min",
    "30 s"; "0 s" for zero. Days are 24-hour days; sub-second parts are dropped."""
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    seconds = int(duration.total_seconds())
    parts: list[str] = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2]) or "0 s"
