"""Delegation: while away, a person hands their approvals to someone until a date.

The end date is a calendar date in the policy's time zone (UTC when the policy sets none): a
delegation "until 2026-12-10" holds through that whole day there and ends by itself at the
midnight after it; nothing has to run for it to end, every check compares with `now`. One hop
only: a delegate's own delegate does not decide for the first delegator.

Pure rules; `now` and `today` are arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.domain.errors import DomainError

MAX_DAYS = 366  # a delegation ends within a year: longer means the step's approvers are wrong


class DelegationRefused(DomainError):
    """A delegation that cannot be made; the message says why, for the person asking."""


@dataclass(frozen=True)
class Delegation:
    """`delegate` decides for `delegator` from `starts_at` until `ends_at` (exclusive)."""

    delegator: str
    delegate: str
    starts_at: datetime
    ends_at: datetime
    until: date
    timezone: str
    delegator_email: str | None = None
    reason: str | None = None
    revoked: bool = False

    def active(self, now: datetime) -> bool:
        return not self.revoked and self.starts_at <= now < self.ends_at


def ends_at(until: date, zone: str) -> datetime:
    """The instant a delegation "until `until`" ends: midnight after that day in `zone`, UTC."""
    local = datetime.combine(until + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


def today_in(zone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def check_new(delegator: str, delegate: str, until: date, *, today: date) -> None:
    """Raise DelegationRefused unless `delegator` may hand their steps to `delegate` until
    `until` (today or later, within a year, to someone else)."""
    if delegate == delegator:
        raise DelegationRefused("You cannot delegate to yourself.")
    if until < today:
        raise DelegationRefused(f"{until} is in the past (today is {today}); name a later date.")
    if until > today + timedelta(days=MAX_DAYS):
        raise DelegationRefused(
            f"{until} is more than a year away; delegate for at most {MAX_DAYS} days."
        )


def acting_label(user: str, on_behalf_of: str | None) -> str:
    """How a decision names who made it: "U0BEN", or "U0BEN for U0ANA"."""
    return f"{user} for {on_behalf_of}" if on_behalf_of else user
