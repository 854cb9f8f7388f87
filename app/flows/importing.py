"""Import a file's events through intake, in batches, counting what became of them.

A record that cannot be an event (not JSON, a CSV row that breaks the schema) is kept in
rejected_event like a malformed webhook event, its file and line in the errors; the rest go on."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from pydantic import ValidationError
from sqlmodel import col, select

from app.domain.events import BillingEvent
from app.domain.import_formats import Record
from app.flows.intake import Intake, _field_errors
from app.store.db import Database
from app.store.tables import RejectedEventRow

BATCH = 500  # events per Intake.receive call
VIA = "import"


@dataclass
class Tally:
    created: int = 0
    duplicates: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.created + self.duplicates + self.rejected


def import_records(
    intake: Intake,
    records: Iterable[Record],
    *,
    file_name: str,
    now: Callable[[], datetime],
    batch_size: int = BATCH,
    progress: Callable[[Tally], None] = lambda _: None,
) -> Tally:
    """Send every record to intake, `batch_size` at a time; call `progress` after each batch."""
    tally = Tally()
    for batch in _batches(records, batch_size):
        _import_batch(intake, batch, file_name, now(), tally)
        progress(tally)
    return tally


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def _import_batch(
    intake: Intake, batch: Sequence[Record], file_name: str, now: datetime, tally: Tally
) -> None:
    accepted: list[str] = []
    for record in batch:
        errors = _errors(record, file_name)
        if errors:
            intake._reject(record.raw, record.document, errors, via=VIA, now=now)
            tally.rejected += 1
        else:
            accepted.append(record.raw)
    for outcome in intake.receive(accepted, via=VIA, now=now):
        if outcome.status == "created":
            tally.created += 1
        elif outcome.status == "duplicate":
            tally.duplicates += 1
        else:
            tally.rejected += 1


def _errors(record: Record, file_name: str) -> tuple[dict[str, str], ...]:
    """Why the record is not a valid event, each reason with its file and line; () if it is."""
    where = {"file": file_name, "line": str(record.line)}
    if record.problem is not None:
        return ({**where, "field": "(event)", "message": record.problem},)
    try:
        BillingEvent.model_validate(record.document)
    except ValidationError as error:
        return tuple({**where, **reason} for reason in _field_errors(error))
    return ()


def rejected_events(db: Database, limit: int) -> list[RejectedEventRow]:
    """The newest `limit` rejected events (from the webhook or an import), newest first."""
    with db.transaction() as session:
        query = select(RejectedEventRow).order_by(col(RejectedEventRow.id).desc()).limit(limit)
        return list(session.exec(query).all())
