"""Delegation's dates: the end is midnight after `until` in the policy's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.domain.delegation import (
    Delegation,
    DelegationRefused,
    acting_label,
    check_new,
    ends_at,
    today_in,
)


def test_the_end_is_midnight_after_the_day_in_the_zone() -> None:
    """ "until 2026-12-24" in New York ends at 05:00 UTC on the 25th (EST), in UTC at 00:00."""
    assert ends_at(date(2026, 12, 24), "America/New_York") == datetime(2026, 12, 25, 5, tzinfo=UTC)
    assert ends_at(date(2026, 12, 24), "UTC") == datetime(2026, 12, 25, tzinfo=UTC)


def test_the_end_follows_daylight_saving_time() -> None:
    """A day ending in summer time ends at 04:00 UTC (EDT)."""
    assert ends_at(date(2026, 7, 3), "America/New_York") == datetime(2026, 7, 4, 4, tzinfo=UTC)


def test_active_until_the_end_and_never_once_revoked() -> None:
    """Active from its start to just before its end; a revoked one never is."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    held = Delegation(
        "U0ANA", "U0BEN", start, ends_at(date(2026, 12, 2), "UTC"), date(2026, 12, 2), "UTC"
    )
    assert held.active(datetime(2026, 12, 2, 23, 59, tzinfo=UTC))
    assert not held.active(datetime(2026, 12, 3, tzinfo=UTC))
    assert not Delegation(**{**held.__dict__, "revoked": True}).active(start)


def test_today_is_taken_in_the_zone() -> None:
    """At 02:00 UTC it is still yesterday in New York, so yesterday's date is not "past"."""
    now = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
    today = today_in("America/New_York", now)
    assert today == date(2026, 12, 7)
    check_new("U0ANA", "U0BEN", date(2026, 12, 7), today=today)
    with pytest.raises(DelegationRefused, match="more than a year"):
        check_new("U0ANA", "U0BEN", date(2028, 1, 1), today=today)


def test_a_decision_for_someone_names_both() -> None:
    """The acting label is "delegate for delegator", or the person alone."""
    assert acting_label("U0BEN", "U0ANA") == "U0BEN for U0ANA"
    assert acting_label("U0BEN", None) == "U0BEN"
