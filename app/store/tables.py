"""The tables. Timestamps are aware UTC (UTCDateTime); amounts are Decimal (Money)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.store.types import Money, UTCDateTime


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class BillingEventRow(SQLModel, table=True):
    """A billing event exactly as received: its bytes, their sha256 and where it came from."""

    __tablename__ = "billing_event"
    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_billing_event_source_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=200)
    event_id: str = Field(max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    via: str = Field(max_length=20)
    received_at: datetime = _when()
    exception_id: int | None = Field(default=None, foreign_key="billing_exception.id", index=True)


class RejectedEventRow(SQLModel, table=True):
    """An event that failed validation, kept with the reasons so that nothing is dropped."""

    __tablename__ = "rejected_event"

    id: int | None = Field(default=None, primary_key=True)
    source: str | None = Field(default=None, max_length=200)
    event_id: str | None = Field(default=None, max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    errors: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    via: str = Field(max_length=20)
    received_at: datetime = _when()


class ExceptionRow(SQLModel, table=True):
    """A billing exception awaiting (or past) a decision; shown to people as BX-000123."""

    __tablename__ = "billing_exception"

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=40, index=True)
    source: str = Field(max_length=200)
    event_id: str = Field(max_length=200)
    customer_id: str = Field(max_length=200)
    customer_name: str = Field(max_length=200)
    customer_tier: str | None = Field(default=None, max_length=100)
    invoice_key: str = Field(max_length=200)
    invoice_number: str | None = Field(default=None, max_length=200)
    currency: str = Field(max_length=3)
    amount: Decimal = Field(sa_type=Money)
    details: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    requested_by_email: str | None = Field(default=None, max_length=254)
    requested_by_slack: str | None = Field(default=None, max_length=40)
    state: str = Field(max_length=20, index=True)
    route_name: str = Field(max_length=200)
    route_reason: str = Field(sa_column=Column(Text, nullable=False))
    policy_hash: str = Field(max_length=64)
    steps: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    current_step: int = 0
    channel: str | None = Field(default=None, max_length=100)
    message_ts: str | None = Field(default=None, max_length=40)
    # Set when a card post starts, cleared once Slack's answer says it was posted or refused:
    # while set, an earlier post may have reached Slack unseen (see app/flows/notify.py).
    card_post_started_at: datetime | None = _when(default=None)
    invoice_fingerprint: str = Field(max_length=64)
    # The invoice as read from Intacct for the approvers (InvoiceSnapshot.material()), and the
    # open request for changes {by, email, note, at, step}; both None when there is none.
    invoice_snapshot: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    change_request: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    timing: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state_note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _when()
    updated_at: datetime = _when()


class DecisionRow(SQLModel, table=True):
    """One approver's decision on one step; the unique key makes a double click one decision."""

    __tablename__ = "decision"
    __table_args__ = (
        UniqueConstraint("exception_id", "step", "approver", name="uq_decision_once_per_step"),
    )

    id: int | None = Field(default=None, primary_key=True)
    exception_id: int = Field(foreign_key="billing_exception.id", index=True)
    step: int
    approver: str = Field(max_length=40)
    outcome: str = Field(max_length=20)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    decided_at: datetime = _when()
    # The delegator whose step `approver` decided as their delegate (None: their own seat).
    on_behalf_of: str | None = Field(default=None, max_length=40)


class AuditEntryRow(SQLModel, table=True):
    """Append-only audit log; every entry carries the hash of the one before it."""

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = _when()
    exception_id: int | None = Field(default=None, index=True)
    actor: str = Field(max_length=254)
    action: str = Field(max_length=60)
    detail: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # The exact text that was hashed (see app/store/audit.py); verify re-hashes it as stored.
    canonical: str = Field(sa_column=Column(Text, nullable=False))


class AuditHeadRow(SQLModel, table=True):
    """The chain's head: one row, locked while appending, so entries chain in one order."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)


class OutboxRow(SQLModel, table=True):
    """Work that talks to Slack or Intacct, written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "available_at"),
        Index("ix_outbox_kind_due", "state", "kind", "available_at"),  # a destination's jobs
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    exception_id: int | None = Field(default=None, index=True)
    state: str = Field(default="pending", max_length=20)
    attempts: int = 0
    available_at: datetime = _when()
    claimed_by: str | None = Field(default=None, max_length=100)
    claim_expires_at: datetime | None = _when(default=None)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _when()
    finished_at: datetime | None = _when(default=None)


class TimerRow(SQLModel, table=True):
    """A reminder, escalation or expiry of one step, due at an instant on the route's calendar.

    Claimed atomically by the sweep like outbox rows; fired at most once; the next reminder is
    a new row computed from the moment this one fired, so downtime never causes a burst."""

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    exception_id: int = Field(foreign_key="billing_exception.id", index=True)
    step: int
    kind: str = Field(max_length=20)
    level: int = 0
    due_at: datetime = _when()
    state: str = Field(default="pending", max_length=20)
    claimed_by: str | None = Field(default=None, max_length=100)
    claim_expires_at: datetime | None = _when(default=None)
    created_at: datetime = _when()
    fired_at: datetime | None = _when(default=None)


class DelegationRow(SQLModel, table=True):
    """`delegate` may decide `delegator`'s steps from `starts_at` through the day `until`.

    `until` is a date in `timezone` (the policy's time zone when it was made); `ends_at` is
    the instant it ends (midnight after `until` there, in UTC). Revoked ones keep their row."""

    __tablename__ = "delegation"

    id: int | None = Field(default=None, primary_key=True)
    delegator: str = Field(max_length=40, index=True)
    delegator_email: str | None = Field(default=None, max_length=254)
    delegate: str = Field(max_length=40, index=True)
    starts_at: datetime = _when()
    until: date
    timezone: str = Field(max_length=64)
    ends_at: datetime = _when()
    reason: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(max_length=40)
    created_at: datetime = _when()
    revoked_at: datetime | None = _when(default=None)
    revoked_by: str | None = Field(default=None, max_length=40)


class PolicyVersionRow(SQLModel, table=True):
    """One loading of a policy set (at start, on reload, or fetched from the store): its files
    and hash, when and by which process, and, under change control, its approval."""

    __tablename__ = "policy_version"

    id: int | None = Field(default=None, primary_key=True)
    content_hash: str = Field(max_length=64, index=True)
    # [{"path": "routes.yml", "text": "..."}, ...], sorted by path: exactly what was hashed
    files: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    loaded_at: datetime = _when()
    host: str = Field(max_length=255)
    pid: int
    trigger: str = Field(max_length=20)  # start | reload | stored
    # who asked for the reload (`policies reload --proposer`), when they said: a Slack user id
    # or e-mail address; under change control they may not approve it themselves
    requested_by: str | None = Field(default=None, max_length=254)
    # applied | pending | approved | rejected | superseded (see app/store/policy_versions.py)
    status: str = Field(max_length=20, index=True)
    applied_at: datetime | None = _when(default=None)  # when it was put in force
    # Under change control: who may approve it, where they are asked, and the card's ts
    approvers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    channel: str | None = Field(default=None, max_length=100)
    card_ts: str | None = Field(default=None, max_length=40)
    base_hash: str | None = Field(default=None, max_length=64)  # the hash in force when proposed
    decided_by: str | None = Field(default=None, max_length=254)
    decided_at: datetime | None = _when(default=None)


def sa_table(model: Any) -> Table:
    """The Core table of a row model, for statements that skip the ORM."""
    table: Table = model.__table__
    return table
