"""Everything behind one exception, for the Details modal and `/billing-exceptions show`.

`stored_details` reads what Countersign holds (fast: it fills the modal opened within Slack's
3-second trigger window): every figure of the event as received, the contract, the route and why
it matched, the policy hash, each decision with who and when, the pending timers and the SLA
due. `live_context` then reads Intacct through the ReceivablesPort: the invoice's lines, dates
and state, and the customer's open and overdue receivables. A failure there is shown as a line,
never raised: the stored part stands on its own."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from app.domain.events import ExceptionType
from app.domain.lifecycle import exception_label
from app.domain.money import format_money
from app.flows.access import people_of
from app.flows.notify import step_text
from app.flows.ports import InvoiceRefused, RetryLater
from app.store import queue_read
from app.store.db import Database
from app.store.tables import ExceptionRow


@dataclass(frozen=True)
class DecisionEntry:
    who: str
    outcome: str
    at: datetime
    step: int
    reason: str | None = None
    on_behalf_of: str | None = None  # delegation fills this


@dataclass(frozen=True)
class TimerEntry:
    kind: str
    step: int
    level: int
    due_at: datetime


@dataclass(frozen=True)
class StoredDetails:
    exception_id: int
    label: str
    type_label: str
    state: str
    step_text: str
    customer: str
    customer_id: str
    invoice_key: str
    invoice: str
    amount: str
    currency: str
    figures: tuple[tuple[str, str], ...]  # every detail of the event, as received
    contract: tuple[tuple[str, str], ...]
    reason: str | None
    requester: str | None
    route: str
    route_reason: str
    policy_hash: str
    source: str
    event_id: str
    received_at: datetime | None
    decisions: tuple[DecisionEntry, ...]
    timers: tuple[TimerEntry, ...]
    sla_due: datetime | None
    approvers: tuple[str, ...]
    note: str | None
    people: tuple[str, ...] = ()  # everyone it concerns (app/flows/access.py people_of)


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    amount: str


@dataclass(frozen=True)
class LiveInvoice:
    number: str
    state: str
    invoice_date: str | None
    due_date: str | None
    total: str
    due: str
    lines: tuple[InvoiceLine, ...]


@dataclass(frozen=True)
class OpenInvoice:
    key: str
    number: str
    state: str
    due_date: date | None
    amount_due: Decimal


@dataclass(frozen=True)
class LiveContext:
    invoice: LiveInvoice | None = None
    open_invoices: tuple[OpenInvoice, ...] = ()
    open_total: str = ""
    overdue_total: str = ""
    overdue_count: int = 0
    problems: tuple[str, ...] = field(default=())


class ReceivablesPort(Protocol):
    def invoice_details(self, key: str) -> LiveInvoice:
        """The invoice as Intacct has it now: lines, dates, state, totals."""

    def open_invoices(self, customer_id: str) -> list[OpenInvoice]:
        """The customer's invoices with an amount still due (posted or partially paid)."""


def _pairs(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A JSON object flattened to (dotted name, text) pairs, in its order."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _pairs(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [(prefix.rstrip("."), json.dumps(value, ensure_ascii=False))]
    return [(prefix.rstrip("."), "" if value is None else str(value))]


def stored_details(db: Database, exception_id: int) -> StoredDetails | None:
    """What Countersign holds about the exception; None when there is no such exception."""
    with db.reading() as session:
        row = session.get(ExceptionRow, exception_id)
        if row is None or row.id is None:
            return None
        event = queue_read.first_event(session, row.id)
        raw: dict[str, Any] = {}
        if event is not None:
            try:
                raw = json.loads(event.payload)
            except ValueError:
                raw = {}
        decisions = queue_read.decisions_of(session, row.id)
        timers = queue_read.timers_of(session, row.id)
        due = queue_read.sla_due(session, [row]).get(row.id)
        step = row.steps[row.current_step] if row.steps else {"approvers": []}
        contract = raw.get("contract") if isinstance(raw.get("contract"), dict) else {}
        return StoredDetails(
            exception_id=row.id,
            label=exception_label(row.id),
            type_label=ExceptionType(row.type).label,
            state=row.state,
            step_text=step_text(row),
            customer=row.customer_name + (f" ({row.customer_tier})" if row.customer_tier else ""),
            customer_id=row.customer_id,
            invoice_key=row.invoice_key,
            invoice=row.invoice_number or row.invoice_key,
            amount=format_money(row.amount, row.currency),
            currency=row.currency,
            figures=tuple(_pairs(raw.get("details") or row.details)),
            contract=tuple(_pairs(contract)),
            reason=row.reason,
            requester=row.requested_by_slack or row.requested_by_email,
            route=row.route_name,
            route_reason=row.route_reason,
            policy_hash=row.policy_hash,
            source=row.source,
            event_id=row.event_id,
            received_at=event.received_at if event is not None else None,
            decisions=tuple(
                DecisionEntry(d.approver, d.outcome, d.decided_at, d.step, d.reason)
                for d in decisions
            ),
            timers=tuple(TimerEntry(t.kind, t.step, t.level, t.due_at) for t in timers),
            sla_due=due,
            approvers=tuple(step["approvers"]) if row.state == "open" else (),
            note=row.state_note,
            people=people_of(row),
        )


def live_context(
    receivables: ReceivablesPort | None, details: StoredDetails, today: date
) -> LiveContext:
    """What Intacct says now about the invoice and the customer's receivables."""
    if receivables is None:
        return LiveContext(problems=("Intacct is not connected here.",))
    problems: list[str] = []
    invoice: LiveInvoice | None = None
    try:
        invoice = receivables.invoice_details(details.invoice_key)
    except (InvoiceRefused, RetryLater) as error:
        problems.append(f"The invoice could not be read from Intacct: {error}")
    try:
        open_invoices = receivables.open_invoices(details.customer_id)
    except (InvoiceRefused, RetryLater) as error:
        problems.append(f"The customer's receivables could not be read from Intacct: {error}")
        return LiveContext(invoice, problems=tuple(problems))
    overdue = [i for i in open_invoices if i.due_date is not None and i.due_date < today]
    open_total = sum((i.amount_due for i in open_invoices), Decimal(0))
    overdue_total = sum((i.amount_due for i in overdue), Decimal(0))
    return LiveContext(
        invoice=invoice,
        open_invoices=tuple(open_invoices),
        open_total=format_money(open_total, details.currency),
        overdue_total=format_money(overdue_total, details.currency),
        overdue_count=len(overdue),
        problems=tuple(problems),
    )
