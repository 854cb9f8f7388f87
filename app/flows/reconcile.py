"""Reconciliation with Intacct: what Countersign approved against what Intacct posted.

Rules, for every exception created or changed since `since`, and every exception on an invoice
Intacct posted since then:
- released: Intacct holds the invoice posted (or paid), as approved (same fingerprint), and
  Countersign submitted it once (one Idempotency-Key, one `invoice.released`), and no other
  exception released the same invoice;
- approved: released soon after approval; one approved for longer than RELEASE_GRACE and
  still not posted is a finding;
- open, rejected, blocked, failed: the invoice is not posted; one that is was posted outside
  Countersign (unless another exception on it released it).
Each finding names the exception, the invoice key and what differs. Read-only: it writes
nothing (the weekly job audits its report and posts it to the admin channel)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import ColumnElement, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.domain.invoice import InvoiceSnapshot
from app.domain.lifecycle import State, exception_label
from app.flows import jobs
from app.flows.ports import InvoiceLedgerPort, InvoiceRefused
from app.store import audit, outbox
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow, OutboxRow

POSTED_STATES = frozenset({"posted", "paid", "partiallyPaid"})
RELEASE_GRACE = timedelta(hours=1)
CENTS = Decimal("0.01")
log = structlog.get_logger("countersign.reconcile")


@dataclass(frozen=True)
class Finding:
    exception: str  # BX-000123
    invoice_key: str
    kind: str  # a short code: posted_outside, not_posted, posted_changed, released_twice, …
    what: str  # what differs, for people

    def line(self) -> str:
        return f"{self.exception} invoice {self.invoice_key}: {self.what}"


@dataclass(frozen=True)
class Report:
    since: datetime
    exceptions: int  # exceptions checked
    posted: int  # invoices Intacct posted since `since`
    findings: list[Finding] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "exceptions_checked": self.exceptions,
            "invoices_posted": self.posted,
            "findings": [f.__dict__ for f in self.findings],
        }

    def summary(self) -> str:
        head = (
            f"Reconciliation with Intacct since {self.since:%Y-%m-%d %H:%M} UTC:"
            f" {self.exceptions} exceptions checked, {self.posted} invoices posted in Intacct,"
        )
        if not self.findings:
            return f"{head} no findings."
        lines = [f"• {f.line()}" for f in self.findings[:40]]
        more = len(self.findings) - len(lines)
        tail = [f"…and {more} more (`countersign reconcile --since …`)"] if more else []
        return "\n".join([f"{head} {len(self.findings)} findings:", *lines, *tail])


@dataclass
class _Facts:
    row: ExceptionRow
    releases: int
    submit_keys: int


def reconcile(db: Database, ledger: InvoiceLedgerPort, since: datetime, now: datetime) -> Report:
    """Compare; Intacct errors propagate (RetryLater, NeedsAttention, InvoiceRefused)."""
    posted = {p.invoice.key: p for p in ledger.posted_since(since)}
    facts = _facts(db, since, set(posted))
    # A released invoice is read whole, by key: the query's records carry no lines, and the
    # approved fingerprint covers them.
    cache: dict[str, InvoiceSnapshot | None] = {}

    def current(key: str) -> InvoiceSnapshot | None:
        if key not in cache:
            try:
                cache[key] = ledger.get_invoice(key)
            except InvoiceRefused:
                cache[key] = None
        return cache[key]

    released_by_key: dict[str, list[ExceptionRow]] = defaultdict(list)
    for fact in facts:
        if fact.row.state == State.RELEASED:
            released_by_key[fact.row.invoice_key].append(fact.row)
    findings: list[Finding] = []
    for fact in facts:
        row = fact.row
        assert row.id is not None
        label, key, state = exception_label(row.id), row.invoice_key, State(row.state)

        def found(kind: str, what: str, label: str = label, key: str = key) -> None:
            findings.append(Finding(label, key, kind, what))

        if state is State.RELEASED:
            invoice = current(key)
            if invoice is None:
                found("not_in_intacct", "released by Countersign, but Intacct has no such invoice")
            elif invoice.state not in POSTED_STATES:
                found(
                    "not_posted", f"released by Countersign, but Intacct shows it {invoice.state}"
                )
            elif not invoice.matches(row.invoice_fingerprint):
                found("posted_changed", f"posted, but not as approved: {_differs(row, invoice)}")
            if fact.releases > 1 or fact.submit_keys > 1:
                found(
                    "released_twice",
                    f"submitted {max(fact.releases, fact.submit_keys)} times by Countersign",
                )
            others = [r for r in released_by_key[key] if r.id != row.id]
            if others and row.id == max(r.id or 0 for r in released_by_key[key]):
                names = ", ".join(exception_label(r.id or 0) for r in others)
                found("released_twice", f"the same invoice was also released for {names}")
        elif state is State.APPROVED:
            invoice = current(key)
            if invoice is not None and invoice.state in POSTED_STATES:
                continue  # the release is settling
            if now - row.updated_at > RELEASE_GRACE:
                shown = "missing" if invoice is None else invoice.state
                found(
                    "not_released",
                    f"approved at {row.updated_at:%Y-%m-%d %H:%M} UTC but not released"
                    f" (Intacct shows it {shown})",
                )
        elif key in posted and not released_by_key[key]:
            seen = posted[key]
            when = f" at {seen.modified_at}" if seen.modified_at else ""
            what = {
                State.OPEN: "posted in Intacct while the exception is still open",
                State.REJECTED: "posted in Intacct although the exception was rejected",
                State.RELEASE_BLOCKED: "posted in Intacct although its release was blocked",
                State.RELEASE_FAILED: "posted in Intacct although its release failed",
            }[state]
            found("posted_outside", f"{what}: posted outside Countersign{when}")
    return Report(since, len(facts), len(posted), findings)


def _differs(row: ExceptionRow, invoice: InvoiceSnapshot) -> str:
    parts = []
    if invoice.customer_id != row.customer_id:
        parts.append(f"customer {invoice.customer_id} (approved {row.customer_id})")
    if invoice.currency != row.currency or invoice.total != row.amount:
        parts.append(
            f"{invoice.currency} {_cents(invoice.total)}"
            f" (approved {row.currency} {_cents(Decimal(row.amount))})"
        )
    return "; ".join(parts) or "its material facts differ from the approved fingerprint"


def _cents(amount: Decimal) -> str:
    """An amount as Intacct writes totals (two decimals), whatever the column's scale."""
    return format(amount.quantize(CENTS), "f")


def _facts(db: Database, since: datetime, posted_keys: set[str]) -> list[_Facts]:
    with db.transaction() as session:
        scope: list[ColumnElement[bool]] = [
            col(ExceptionRow.created_at) >= since,
            col(ExceptionRow.updated_at) >= since,
        ]
        if posted_keys:
            scope.append(col(ExceptionRow.invoice_key).in_(sorted(posted_keys)))
        rows = list(
            session.exec(select(ExceptionRow).where(or_(*scope)).order_by(col(ExceptionRow.id)))
        )
        ids = [r.id for r in rows]
        releases: Counter[int] = Counter()
        submit_keys: dict[int, set[str]] = defaultdict(set)
        if ids:
            entries = session.exec(
                select(AuditEntryRow.exception_id, AuditEntryRow.action, AuditEntryRow.detail)
                .where(col(AuditEntryRow.exception_id).in_(ids))
                .where(col(AuditEntryRow.action).in_(["invoice.released", "invoice.submit_sent"]))
            ).all()
            for exception_id, action, detail in entries:
                assert exception_id is not None
                if action == "invoice.released":
                    releases[exception_id] += 1
                else:
                    submit_keys[exception_id].add(str(detail.get("idempotency_key")))
        return [_Facts(r, releases[r.id or 0], len(submit_keys[r.id or 0])) for r in rows]


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def last_slot(now: datetime, weekday: str, hour: int) -> datetime:
    """The latest weekly run time (weekday at hour:00 UTC) at or before `now`."""
    today = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    back = (now.weekday() - WEEKDAYS.index(weekday)) % 7
    slot = today - timedelta(days=back)
    return slot if slot <= now else slot - timedelta(days=7)


def weekly_job(
    db: Database,
    ledger: InvoiceLedgerPort,
    now: Callable[[], datetime],
    admin_channel: Callable[[], str | None],
    weekday: str,
    hour: int,
) -> Callable[[], None]:
    """A scheduler job (run it often, e.g. hourly): once per weekly slot, across every instance
    on the database, reconcile the week before and post the summary to the admin channel
    through the outbox (its idempotency key is the slot, so instances never post twice)."""

    def run() -> None:
        moment = now()
        slot = last_slot(moment, weekday, hour)
        key = f"reconcile:{slot.date().isoformat()}"
        with db.transaction() as session:
            if _queued(session, key):
                return
        channel = admin_channel()
        if not channel:
            log.info("reconcile.no_admin_channel", slot=slot.isoformat())
            return
        report = reconcile(db, ledger, slot - timedelta(days=7), moment)
        try:
            with db.transaction() as session:
                if _queued(session, key):
                    return
                notice = jobs.channel_notice_job(channel, report.summary(), now=moment)
                outbox.enqueue(
                    session,
                    kind=notice["kind"],
                    payload=notice["payload"],
                    now=moment,
                    idempotency_key=key,
                )
                audit.append(
                    session,
                    at=moment,
                    actor="countersign",
                    action="reconcile.reported",
                    detail=report.as_json() | {"channel": channel},
                )
        except IntegrityError:  # another instance queued this slot's report first
            return
        log.info("reconcile.reported", findings=len(report.findings), since=str(report.since))

    return run


def _queued(session: Session, key: str) -> bool:
    found = session.exec(select(OutboxRow.id).where(OutboxRow.idempotency_key == key)).first()
    return found is not None
