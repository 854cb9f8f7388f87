"""Delegations: make one, end one, and find who decides for whom right now.

Making and ending are audited in the same transaction (`delegation.created`,
`delegation.revoked`). A person has at most one active delegation: a new one replaces the
one before (which is revoked, audited, with why). Nothing runs when a delegation reaches its
end date: every reader compares with `now`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from app.domain.approval import Actor
from app.domain.delegation import Delegation, check_new, ends_at, today_in
from app.flows import jobs
from app.store import audit
from app.store.db import Database
from app.store.tables import DelegationRow


@dataclass(frozen=True)
class DelegateCommand:
    """`delegator` hands their steps to `delegate` until the day `until` in `timezone`."""

    delegator: Actor
    delegate: str
    until: date
    timezone: str
    reason: str | None = None


def _domain(row: DelegationRow) -> Delegation:
    return Delegation(
        delegator=row.delegator,
        delegate=row.delegate,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        until=row.until,
        timezone=row.timezone,
        delegator_email=row.delegator_email,
        reason=row.reason,
        revoked=row.revoked_at is not None,
    )


def create(db: Database, command: DelegateCommand, *, now: datetime) -> Delegation:
    """Record the delegation (raising DelegationRefused with a reason when it cannot be)."""
    who = command.delegator.user_id
    check_new(who, command.delegate, command.until, today=today_in(command.timezone, now))
    with db.transaction() as session:
        for earlier in _active_rows(session, now, delegator=who):
            _revoke(session, earlier, by=who, why="replaced by a new delegation", now=now)
        row = DelegationRow(
            delegator=who,
            delegator_email=command.delegator.email,
            delegate=command.delegate,
            starts_at=now,
            until=command.until,
            timezone=command.timezone,
            ends_at=ends_at(command.until, command.timezone),
            reason=command.reason,
            created_by=who,
            created_at=now,
        )
        session.add(row)
        session.flush()
        audit.append(
            session,
            at=now,
            actor=who,
            action="delegation.created",
            detail={
                "delegation": row.id,
                "delegator": who,
                "delegate": command.delegate,
                "until": command.until.isoformat(),
                "timezone": command.timezone,
                "ends_at": row.ends_at.isoformat(),
                "reason": command.reason,
            },
        )
        jobs.queue_home(session, command.delegate, now=now)  # "waiting for you as a delegate"
        why = f" ({command.reason})" if command.reason else ""
        jobs.queue_notify(
            session,
            command.delegate,
            f"<@{who}> handed their Countersign approvals to you until {command.until} "
            f"({command.timezone}){why}: you may decide their steps, and get their reminders; "
            "each decision names you both.",
            now=now,
        )
        return _domain(row)


def revoke(db: Database, delegator: str, *, now: datetime) -> list[Delegation]:
    """End `delegator`'s active delegations now; the ones ended (empty when there was none)."""
    with db.transaction() as session:
        ended = _active_rows(session, now, delegator=delegator)
        for row in ended:
            _revoke(session, row, by=delegator, why="delegate off", now=now)
        return [_domain(row) for row in ended]


def _revoke(session: Session, row: DelegationRow, *, by: str, why: str, now: datetime) -> None:
    row.revoked_at, row.revoked_by = now, by
    session.add(row)
    jobs.queue_home(session, row.delegate, now=now)  # what they stood in for leaves their Home
    audit.append(
        session,
        at=now,
        actor=by,
        action="delegation.revoked",
        detail={
            "delegation": row.id,
            "delegator": row.delegator,
            "delegate": row.delegate,
            "until": row.until.isoformat(),
            "why": why,
        },
    )


def _active_rows(
    session: Session,
    now: datetime,
    *,
    delegator: str | None = None,
    delegate: str | None = None,
    delegators: Iterable[str] | None = None,
) -> list[DelegationRow]:
    query = select(DelegationRow).where(
        col(DelegationRow.revoked_at).is_(None),
        col(DelegationRow.starts_at) <= now,
        col(DelegationRow.ends_at) > now,
    )
    if delegator is not None:
        query = query.where(DelegationRow.delegator == delegator)
    if delegate is not None:
        query = query.where(DelegationRow.delegate == delegate)
    if delegators is not None:
        query = query.where(col(DelegationRow.delegator).in_(list(delegators)))
    return list(session.exec(query.order_by(col(DelegationRow.id))).all())


def acting_for(session: Session, delegate: str, now: datetime) -> list[Delegation]:
    """The active delegations `delegate` holds: whose steps they may decide now."""
    return [_domain(row) for row in _active_rows(session, now, delegate=delegate)]


def all_active(session: Session, now: datetime) -> list[Delegation]:
    """Every delegation in force at `now` (for the access review)."""
    return [_domain(row) for row in _active_rows(session, now)]


def given_by(session: Session, delegator: str, now: datetime) -> Delegation | None:
    """`delegator`'s active delegation, if any."""
    found = _active_rows(session, now, delegator=delegator)
    return _domain(found[-1]) if found else None


def stand_ins(session: Session, people: Iterable[str], now: datetime) -> list[Delegation]:
    """The active delegations of any of `people` (Slack ids; e-mail entries never delegate:
    a delegation is made from Slack, by id, and found by its delegator's id or e-mail)."""
    wanted = list(dict.fromkeys(people))
    if not wanted:
        return []
    ids = [p for p in wanted if "@" not in p]
    emails = {p.lower() for p in wanted if "@" in p}
    found = _active_rows(session, now, delegators=ids) if ids else []
    if emails:
        by_email = [
            row
            for row in _active_rows(session, now)
            if row.delegator_email and row.delegator_email.lower() in emails
        ]
        found = [*found, *(row for row in by_email if row not in found)]
    return [_domain(row) for row in found]
