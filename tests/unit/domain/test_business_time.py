"""Business time: opening hours, weekends, holidays and DST for reminders and expiry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.business_time import (
    WALL_CLOCK,
    BusinessCalendar,
    Clockwork,
    humanize,
)

NY = ZoneInfo("America/New_York")
FINANCE = BusinessCalendar(
    name="us-finance",
    timezone="America/New_York",
    days=frozenset(range(5)),
    start=time(9),
    end=time(18),
    holiday_country="US",
    extra_holidays=frozenset({date(2026, 12, 24)}),
)
NIGHT_SHIFT = BusinessCalendar(  # every day, 01:00-05:00: straddles the 02:00 DST changes
    name="night", timezone="America/New_York", days=frozenset(range(7)), start=time(1), end=time(5)
)
H = timedelta(hours=1)


def ny(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A New York wall-clock time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (ny(2026, 6, 5, 16), 8 * H, ny(2026, 6, 8, 15)),  # Friday -> Monday across a weekend
        (ny(2026, 11, 25, 17), 4 * H, ny(2026, 11, 27, 12)),  # Thanksgiving skipped
        (ny(2026, 12, 23, 17), 2 * H, ny(2026, 12, 28, 10)),  # extra 24th, Christmas, weekend
        (ny(2026, 6, 9, 3), 2 * H, ny(2026, 6, 9, 11)),  # 03:00 Tuesday counts from 09:00
        (ny(2026, 6, 9, 3), 9 * H, ny(2026, 6, 9, 18)),  # ends exactly at closing: 18:00
        (ny(2026, 6, 9, 15), 3 * H, ny(2026, 6, 9, 18)),  # ends exactly at closing from inside
        (ny(2026, 6, 9, 15), 3 * H + timedelta(seconds=1), ny(2026, 6, 10, 9, 0, 1)),
        (ny(2026, 6, 9, 17, 59, 45), timedelta(seconds=30), ny(2026, 6, 10, 9, 0, 15)),
        (ny(2026, 6, 9, 10), timedelta(seconds=30), ny(2026, 6, 9, 10, 0, 30)),
        (ny(2026, 6, 9, 18), H, ny(2026, 6, 10, 10)),  # closed at the closing instant
        (ny(2026, 6, 5, 9), 5 * 9 * H, ny(2026, 6, 11, 18)),  # a business week, Fri to Thu
    ],
)
def test_add_counts_business_hours_only(
    start: datetime, duration: timedelta, expected: datetime
) -> None:
    """add() skips nights, weekends and holidays and returns the expected instant in UTC."""
    result = FINANCE.add(start, duration)
    assert result == expected
    assert result.tzinfo is UTC


def test_black_friday_is_a_business_day_in_the_library() -> None:
    """The holidays library has no Black Friday for US, so 2026-11-27 is a business day."""
    assert not FINANCE.is_business_day(date(2026, 11, 26))  # Thanksgiving
    assert FINANCE.is_business_day(date(2026, 11, 27))


@pytest.mark.parametrize(
    ("day", "business"),
    [
        (date(2026, 6, 9), True),  # Tuesday
        (date(2026, 6, 6), False),  # Saturday
        (date(2026, 7, 3), False),  # Independence Day observed (4th is a Saturday)
        (date(2026, 12, 24), False),  # extra holiday
        (date(2026, 12, 25), False),  # Christmas
        (date(2027, 12, 24), False),  # Christmas 2027 observed: a later year expands too
    ],
)
def test_is_business_day(day: date, business: bool) -> None:
    """Weekdays are business days unless a public or extra holiday."""
    assert FINANCE.is_business_day(day) is business


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (ny(2026, 11, 26, 3), False),  # 03:00 on Thanksgiving
        (ny(2026, 11, 26, 10), False),  # office hours, but a holiday
        (ny(2026, 6, 9, 9), True),  # opening instant is open
        (ny(2026, 6, 9, 17, 59, 59), True),
        (ny(2026, 6, 9, 18), False),  # closing instant is closed
        (datetime(2026, 6, 9, 14, tzinfo=UTC), True),  # 10:00 in New York
        (datetime(2026, 6, 9, 12, tzinfo=UTC), False),  # 08:00 in New York
    ],
)
def test_is_open(moment: datetime, is_open: bool) -> None:
    """is_open honours local hours for an aware moment in any zone, and holidays."""
    assert FINANCE.is_open(moment) is is_open


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (ny(2026, 6, 6, 11), ny(2026, 6, 8, 9)),  # Saturday -> Monday 09:00
        (ny(2026, 6, 9, 10, 30), ny(2026, 6, 9, 10, 30)),  # already open: unchanged
        (ny(2026, 6, 9, 18), ny(2026, 6, 10, 9)),  # at closing -> next morning
        (ny(2026, 11, 25, 20), ny(2026, 11, 27, 9)),  # evening before Thanksgiving -> Friday
    ],
)
def test_next_opening(moment: datetime, expected: datetime) -> None:
    """next_opening returns the moment if open, else the next opening, in UTC."""
    result = FINANCE.next_opening(moment)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("day", "real_hours"),
    [
        (date(2026, 3, 7), 4),  # ordinary night
        (date(2026, 3, 8), 3),  # spring forward: 01:00 EST to 05:00 EDT
        (date(2026, 11, 1), 5),  # fall back: 01:00 EDT to 05:00 EST
    ],
)
def test_dst_windows_count_real_elapsed_time(day: date, real_hours: int) -> None:
    """A 01:00-05:00 window counts its real UTC length on DST-change nights."""
    opening = datetime.combine(day, time(1), tzinfo=NY)
    closing = datetime.combine(day, time(5), tzinfo=NY)
    assert NIGHT_SHIFT.between(opening, closing) == real_hours * H
    assert NIGHT_SHIFT.add(opening, real_hours * H) == closing
    next_opening = datetime.combine(day + timedelta(days=1), time(1), tzinfo=NY)
    assert NIGHT_SHIFT.add(opening, real_hours * H + H) == next_opening.astimezone(UTC) + H


def test_dst_between_spans_change_in_utc() -> None:
    """between() over a night that includes spring forward counts 4 + 3 + 4 real hours."""
    assert NIGHT_SHIFT.between(ny(2026, 3, 7, 0), ny(2026, 3, 9, 23)) == 11 * H


def test_between_examples() -> None:
    """between() counts only open time, and is zero when b is not after a."""
    assert FINANCE.between(ny(2026, 6, 5, 16), ny(2026, 6, 8, 15)) == 8 * H
    assert FINANCE.between(ny(2026, 6, 6, 0), ny(2026, 6, 7, 23)) == timedelta(0)
    assert FINANCE.between(ny(2026, 6, 9, 12), ny(2026, 6, 9, 11)) == timedelta(0)


def test_zero_duration_returns_start_unchanged() -> None:
    """add(start, 0) returns start in UTC, even outside business hours."""
    saturday = ny(2026, 6, 6, 11)
    assert FINANCE.add(saturday, timedelta(0)) == saturday
    assert FINANCE.add(saturday, timedelta(0)).tzinfo is UTC


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.is_open(datetime(2026, 6, 9, 10)),
        lambda c: c.next_opening(datetime(2026, 6, 9, 10)),
        lambda c: c.add(datetime(2026, 6, 9, 10), H),
        lambda c: c.between(datetime(2026, 6, 9, 10), ny(2026, 6, 9, 11)),
    ],
)
@pytest.mark.parametrize("clock", [FINANCE, WALL_CLOCK], ids=["finance", "wall"])
def test_naive_datetimes_are_refused(call: Callable[[Clockwork], object], clock: Clockwork) -> None:
    """Every method refuses a naive datetime with ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        call(clock)


def test_negative_duration_is_refused() -> None:
    """add() refuses a negative duration."""
    with pytest.raises(ValueError, match="negative"):
        FINANCE.add(ny(2026, 6, 9, 10), -H)


def test_wall_clock_is_plain_time() -> None:
    """WALL_CLOCK is always open; add and between are plain UTC arithmetic across DST."""
    saturday_night = ny(2026, 3, 7, 23)
    assert WALL_CLOCK.is_open(saturday_night)
    assert WALL_CLOCK.is_business_day(date(2026, 12, 25))
    assert WALL_CLOCK.next_opening(saturday_night) == saturday_night
    assert WALL_CLOCK.add(saturday_night, 4 * H) == ny(2026, 3, 8, 4)  # 3 wall hours + DST hour
    assert WALL_CLOCK.add(saturday_night, 4 * H).tzinfo is UTC
    assert WALL_CLOCK.between(saturday_night, ny(2026, 3, 8, 4)) == 4 * H
    assert WALL_CLOCK.between(ny(2026, 3, 8, 4), saturday_night) == timedelta(0)


def test_always_holiday_calendar_gives_up() -> None:
    """A calendar with no business hours for years raises ValueError rather than looping."""
    all_holidays = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(4 * 366))
    closed = BusinessCalendar(
        "closed", "UTC", frozenset({0}), time(9), time(17), extra_holidays=all_holidays
    )
    with pytest.raises(ValueError, match="no business hours"):
        closed.add(datetime(2026, 1, 1, tzinfo=UTC), H)
    assert closed.between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)) == (
        timedelta(0)
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "unknown timezone"),
        ({"timezone": ""}, "unknown timezone"),
        ({"days": frozenset()}, "at least one weekday"),
        ({"days": frozenset({7})}, r"0 \(Monday\) .. 6"),
        ({"end": time(9)}, "must be after start"),
        ({"end": time(8)}, "must be after start"),
        ({"holiday_country": "ZZ"}, "no public holidays known for 'ZZ'"),
        ({"holiday_subdiv": "QQ"}, "no public holidays known for 'US/QQ'"),
        ({"holiday_country": None, "holiday_subdiv": "CA"}, "needs a holiday_country"),
    ],
)
def test_invalid_calendar_is_refused(changes: dict[str, object], message: str) -> None:
    """Bad timezone, days, hours or holiday country raise ValueError naming the problem."""
    fields: dict[str, object] = {
        "name": "bad",
        "timezone": "America/New_York",
        "days": frozenset(range(5)),
        "start": time(9),
        "end": time(18),
        "holiday_country": "US",
    } | changes
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**fields)  # type: ignore[arg-type]


def test_json_snapshot_gives_back_the_same_calendar() -> None:
    """A calendar written with `to_json` and read with `from_json` is equal and counts alike."""
    snapshot = json.loads(json.dumps(FINANCE.to_json()))
    again = BusinessCalendar.from_json(snapshot)
    assert again == FINANCE
    start = ny(2026, 12, 23, 17)
    assert again.add(start, 2 * H) == FINANCE.add(start, 2 * H) == ny(2026, 12, 28, 10)


def test_calendar_is_hashable_and_compares_by_value() -> None:
    """Calendars are frozen values: equal fields mean equal, hashable calendars."""
    twin = BusinessCalendar(
        "us-finance",
        "America/New_York",
        frozenset(range(5)),
        time(9),
        time(18),
        "US",
        extra_holidays=frozenset({date(2026, 12, 24)}),
    )
    assert twin == FINANCE
    assert len({twin, FINANCE}) == 1


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(0), "0 s"),
        (timedelta(seconds=30), "30 s"),
        (timedelta(minutes=45), "45 min"),
        (8 * H, "8 h"),
        (timedelta(days=1, hours=2), "1 d 2 h"),
        (timedelta(days=1, hours=2, minutes=3), "1 d 2 h"),  # two largest units only
        (timedelta(days=2, seconds=5), "2 d 5 s"),
        (timedelta(minutes=1, seconds=0.5), "1 min"),
    ],
)
def test_humanize(duration: timedelta, text: str) -> None:
    """humanize() shows the two largest non-zero units of a duration."""
    assert humanize(duration) == text


ZONES = st.sampled_from([UTC, NY, ZoneInfo("Europe/London"), ZoneInfo("Asia/Kolkata")])
STARTS = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=ZONES)


@settings(max_examples=300, deadline=None)
@given(
    clock=st.sampled_from([FINANCE, NIGHT_SHIFT]),
    start=STARTS,
    seconds=st.integers(0, 3 * 9 * 3600),
)
def test_between_inverts_add(clock: BusinessCalendar, start: datetime, seconds: int) -> None:
    """For any aware start and d >= 0: between(start, add(start, d)) == d, and
    between(next_opening(start), add(start, d)) == d too (closed time counts for nothing)."""
    duration = timedelta(seconds=seconds)
    end = clock.add(start, duration)
    assert clock.between(start, end) == duration
    assert clock.between(clock.next_opening(start), end) == duration
    if seconds:
        assert clock.next_opening(start) < end
        assert clock.is_open(end - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        ((2026, 11, 20, 10, 0), timedelta(days=1), (2026, 11, 23, 10, 0)),  # Fri -> Mon
        ((2026, 11, 25, 10, 0), timedelta(days=1), (2026, 11, 27, 10, 0)),  # skips Thanksgiving
        ((2026, 11, 21, 12, 0), timedelta(days=1), (2026, 11, 24, 9, 0)),  # Sat: from Mon 09:00
        ((2026, 11, 23, 10, 0), timedelta(days=5), (2026, 12, 1, 10, 0)),  # week + Thanksgiving
        ((2026, 11, 20, 16, 0), timedelta(hours=8), (2026, 11, 23, 15, 0)),  # hours stay hours
    ],
)
def test_policy_durations_count_business_days_or_hours(
    start: tuple[int, ...], duration: timedelta, expected: tuple[int, ...]
) -> None:
    """`after` reads whole days as business days at the same time, other durations as hours."""
    zone = ZoneInfo("America/New_York")
    result = FINANCE.after(datetime(*start, tzinfo=zone), duration)  # type: ignore[misc]
    assert result == datetime(*expected, tzinfo=zone)  # type: ignore[misc]
