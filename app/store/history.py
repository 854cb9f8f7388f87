"""Stored events for `countersign policies backtest`: each as the router saw it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pydantic import ValidationError
from sqlmodel import col, select

from app.domain.batch import parse_item
from app.domain.events import BillingEvent
from app.domain.lifecycle import exception_label
from app.domain.stored_event import StoredEvent
from app.store.db import Database
from app.store.tables import BillingEventRow

PAGE = 1000


def iter_stored_events(database_url: str, since: datetime | None) -> Iterator[StoredEvent]:
    """Every stored billing event received at or after `since`, oldest first, page by page."""
    database = Database(database_url)
    last_id = 0
    try:
        while True:
            query = select(BillingEventRow).where(col(BillingEventRow.id) > last_id)
            if since is not None:
                query = query.where(col(BillingEventRow.received_at) >= since)
            with database.transaction() as session:
                rows = session.exec(query.order_by(col(BillingEventRow.id)).limit(PAGE)).all()
            if not rows:
                return
            for row in rows:
                assert row.id is not None
                last_id = row.id
                try:
                    event = BillingEvent.model_validate(parse_item(row.payload))
                except (ValidationError, ValueError):
                    continue  # stored events were valid when received; skip one the schema outgrew
                label = exception_label(row.exception_id) if row.exception_id else row.event_id
                yield StoredEvent(label, row.received_at, event.routing_view())
    finally:
        database.dispose()
