"""An exception as one line of the queue (Home, `/billing-exceptions`); the reads that
build a person's queue are in app/flows/home.py and app/flows/listing.py."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.lifecycle import exception_label
from app.domain.money import format_money
from app.store.tables import ExceptionRow


@dataclass(frozen=True)
class QueueLine:
    label: str
    type: str
    customer: str
    amount: str
    state: str
    route: str
    approvers: tuple[str, ...]


def line_of(row: ExceptionRow) -> QueueLine:
    assert row.id is not None
    step = row.steps[row.current_step] if row.steps else {"approvers": []}
    return QueueLine(
        exception_label(row.id),
        row.type,
        row.customer_name,
        format_money(row.amount, row.currency),
        row.state,
        row.route_name,
        tuple(step["approvers"]),
    )
