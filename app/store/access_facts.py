"""What the store knows about each approver for an access review: their last decision, and
the e-mail address Slack gave for their Slack id when they last decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from app.store.tables import AuditEntryRow, DecisionRow


@dataclass(frozen=True)
class LastDecision:
    at: datetime
    outcome: str
    exception_id: int


def last_decisions(session: Session) -> dict[str, LastDecision]:
    """Slack user id → that person's latest decision (one grouped query)."""
    latest = (
        select(func.max(DecisionRow.id).label("id")).group_by(col(DecisionRow.approver)).subquery()
    )
    rows = session.exec(select(DecisionRow).where(col(DecisionRow.id).in_(select(latest.c.id))))
    return {r.approver: LastDecision(r.decided_at, r.outcome, r.exception_id) for r in rows}


def known_emails(session: Session) -> dict[str, str]:
    """Slack user id → the e-mail address recorded with their latest decision, if any."""
    latest = (
        select(func.max(AuditEntryRow.seq))
        .where(AuditEntryRow.action == "decision.recorded")
        .group_by(col(AuditEntryRow.actor))
    )
    rows = session.exec(
        select(AuditEntryRow.actor, AuditEntryRow.detail).where(col(AuditEntryRow.seq).in_(latest))
    )
    found: dict[str, str] = {}
    for actor, detail in rows:
        email = detail.get("email") if isinstance(detail, dict) else None
        if isinstance(email, str) and email:
            found[actor] = email
    return found
