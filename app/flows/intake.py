"""Intake: validate, dedupe on (source, event_id), store the raw event, route, open or approve.

Set-based: parsing, validation, routing and the rows each event writes are worked out first,
outside any transaction; then a chunk of events is written in one short transaction with one
multi-row INSERT per table and one audit-chain head update. Duplicates (in the chunk or already
stored) are found with one lookup. Whatever one event holds, it gets its own answer and the
others are processed: an event that cannot be accepted is kept with its reasons in
rejected_event, and when the database refuses a chunk (a concurrent duplicate, a value it
cannot store) that chunk is written again event by event, each behind its own guard. Only a
database that cannot be reached stops a batch (DatabaseUnavailable), and then nothing is lost:
what was answered is committed, the rest is retried by the sender."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import ValidationError
from sqlalchemy import Select, Table, bindparam, func, text
from sqlalchemy import select as sa_select
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlmodel import Session

from app.domain import jsontext
from app.domain.business_time import Clockwork
from app.domain.events import BillingEvent
from app.domain.invoice import InvoiceSnapshot
from app.domain.lifecycle import State, exception_label
from app.flows import jobs, superseding
from app.flows.timing import clockwork, opening_timers, timer_values, timing_snapshot
from app.routing import PolicySet, RouteDecision
from app.routing.policy_set import CompiledRoute
from app.store import audit, bulk, canonical_json, outbox
from app.store.db import Database
from app.store.tables import BillingEventRow, ExceptionRow, RejectedEventRow, TimerRow, sa_table

log = structlog.get_logger("countersign.intake")
Status = Literal["created", "duplicate", "rejected"]
_HTTP = {"created": 202, "duplicate": 200, "rejected": 422}
CHUNK = 500  # events per write transaction
_UNPARSED: Any = object()
_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")


@dataclass(frozen=True)
class IntakeOutcome:
    status: Status
    exception_id: int | None = None
    state: str | None = None
    event_id: str | None = None
    errors: tuple[dict[str, str], ...] = field(default=())

    @property
    def http_status(self) -> int:
        return _HTTP[self.status]

    def as_json(self) -> dict[str, Any]:
        event_id = jsontext.safe_text(self.event_id) if self.event_id is not None else None
        body: dict[str, Any] = {"status": self.status, "event_id": event_id}
        if self.exception_id is not None:
            body |= {"exception": exception_label(self.exception_id), "state": self.state}
        if self.errors:
            body["errors"] = list(self.errors)
        return body


class DatabaseUnavailable(Exception):
    """The database cannot be reached: the event was neither accepted nor rejected."""


def _problem(message: str, field: str = "(event)") -> dict[str, str]:
    return {"field": jsontext.safe_text(field), "message": jsontext.safe_text(message)}


def field_errors(error: ValidationError) -> tuple[dict[str, str], ...]:
    return tuple(
        _problem(e["msg"], ".".join(str(p) for p in e["loc"]) or "(event)") for e in error.errors()
    )


def original_bytes(raw: str) -> bytes:
    """The bytes an event arrived as: the web layer decodes with surrogateescape, so invalid
    UTF-8 comes back exactly; any other lone surrogate is kept as its code point."""
    try:
        return raw.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return raw.encode("utf-8", "surrogatepass")


class _Refused(Exception):
    def __init__(self, errors: tuple[dict[str, str], ...]) -> None:
        super().__init__(errors)
        self.errors = errors


def read_event(raw: str, document: Any = _UNPARSED) -> BillingEvent:
    """Validate one event (parsing `raw` unless its document is given); _Refused carries the
    reasons, one per problem."""
    if document is _UNPARSED:
        try:
            document = jsontext.loads(raw)
        except jsontext.JsonRefused as refusal:
            raise _Refused((_problem(str(refusal)),)) from None
    if not isinstance(document, dict):
        raise _Refused((_problem("an event is a JSON object {...}"),))
    try:
        return BillingEvent.model_validate(document)
    except ValidationError as error:
        raise _Refused(field_errors(error)) from None


@dataclass(frozen=True)
class Incoming:
    """One event as received: its exact text, when, and its JSON when already parsed
    (strictly, with jsontext.loads) by the caller."""

    raw: str
    now: datetime
    document: Any = _UNPARSED


def _steps_snapshot(route: CompiledRoute) -> list[dict[str, Any]]:
    return [
        {
            "approvers": list(step.approvers),
            "quorum": step.quorum,
            "quorum_rule": step.quorum_rule,
            "one_person_one_step": route.one_person_one_step,
            **({"require": [r.as_json() for r in step.requirements]} if step.requirements else {}),
            "escalations": [
                {"after_s": level.after.total_seconds(), "to": list(level.to)}
                for level in step.escalations
            ],
        }
        for step in route.steps
    ]


@dataclass
class _RouteRows:
    """What every exception opened on one route shares (worked out once per policy load)."""

    steps: list[dict[str, Any]]
    steps_json: canonical_json.Encoded  # `steps` as the column stores it, encoded once
    timing: dict[str, Any]
    clock: Clockwork  # the route's calendar, built once
    # The timing and timers of a first step opened at one moment, kept for the next event
    # opened at that same moment (every event of a batch shares its arrival time).
    opened: tuple[datetime, canonical_json.Encoded, list[tuple[str, datetime]]] | None = None

    def opened_at(self, now: datetime) -> tuple[canonical_json.Encoded, list[tuple[str, datetime]]]:
        """The route's timing (as its column JSON) with the first step opened at `now`, and
        that step's timers (kind, due)."""
        last = self.opened
        if last is not None and last[0] is now:
            return last[1], last[2]
        timing = {**self.timing, "step_opened_at": now.isoformat()}
        encoded = canonical_json.Encoded(canonical_json.dumps(timing))
        timers = opening_timers(self.steps, timing, self.clock, now)
        self.opened = (now, encoded, timers)
        return encoded, timers


@dataclass
class _Opening:
    """A valid, routed event and the exception row it opens (without its id yet)."""

    item: Incoming
    event: BillingEvent
    decision: RouteDecision
    row: dict[str, Any]
    timers: list[tuple[str, datetime]]

    @property
    def key(self) -> tuple[str, str]:
        return self.event.source, self.event.event_id


@dataclass
class _Rejection:
    """A refused event and the rejected_event row that keeps it."""

    item: Incoming
    errors: tuple[dict[str, str], ...]
    row: dict[str, Any]


_Plan = _Opening | _Rejection
Plan = _Plan  # an event read and routed, ready to write (Intake.prepare, write_prepared)


class Intake:
    """Turns raw events into exceptions. `wake` nudges the outbox worker after a commit."""

    def __init__(
        self, db: Database, policies: Callable[[], PolicySet], wake: Callable[[], None]
    ) -> None:
        self._db, self._policies, self._wake = db, policies, wake
        self._routes: tuple[PolicySet | None, dict[int, _RouteRows]] = (None, {})

    def receive(self, raw_events: list[str], *, via: str, now: datetime) -> list[IntakeOutcome]:
        return self.receive_items([Incoming(raw, now) for raw in raw_events], via=via)

    def receive_items(self, items: list[Incoming], *, via: str) -> list[IntakeOutcome]:
        """One answer per item, in order; chunks of CHUNK events per write transaction."""
        outcomes: list[IntakeOutcome] = []
        try:
            for start in range(0, len(items), CHUNK):
                plans = self.prepare(items[start : start + CHUNK], via=via)
                outcomes += self._write(plans, via)
        finally:
            if any(o.status == "created" for o in outcomes):
                self._wake()
        return outcomes

    def prepare(self, items: list[Incoming], *, via: str) -> list[Plan]:
        """Read, validate and route each item under the policy in force, with no database: the
        first half of intake, which a caller may run before handing the plans to a writer."""
        policies = self._policies()
        return [self._prepare(item, policies, via) for item in items]

    def write_prepared(self, plans: list[Plan], *, via: str) -> list[IntakeOutcome]:
        """The second half: one answer per plan, in order, CHUNK plans per transaction."""
        outcomes: list[IntakeOutcome] = []
        try:
            for start in range(0, len(plans), CHUNK):
                outcomes += self._write(plans[start : start + CHUNK], via)
        finally:
            if any(o.status == "created" for o in outcomes):
                self._wake()
        return outcomes

    def reject(
        self, raw: str, errors: tuple[dict[str, str], ...], *, via: str, now: datetime
    ) -> IntakeOutcome:
        """Store the refused event safely: its text with NUL and invalid UTF-8 escaped, the
        sha256 of its original bytes, and its source and event_id when they can be read."""
        (outcome,) = self._write([_rejection(Incoming(raw, now), errors, via)], via)
        return outcome

    def _prepare(self, item: Incoming, policies: PolicySet, via: str) -> _Plan:
        """The guard's first half: read and route, no database; refusals become rejections."""
        try:
            event = read_event(item.raw, item.document)
        except _Refused as refused:
            return _rejection(item, refused.errors, via)
        except Exception as error:  # a parser or validator bug must not sink the batch
            return _rejection(item, (_unexpected(error, "reading"),), via)
        try:
            return self._opening(item, event, policies)
        except Exception as error:  # e.g. a routing bug on odd details: kept, with an error id
            return _rejection(item, (_unexpected(error, "routing"),), via)

    def _route_rows(self, policies: PolicySet, decision: RouteDecision) -> _RouteRows:
        loaded, cache = self._routes
        if loaded is not policies:
            cache = {}
            self._routes = (policies, cache)
        rows = cache.get(id(decision.route))
        if rows is None:
            timing = timing_snapshot(policies, decision)
            steps = _steps_snapshot(decision.route)
            encoded = canonical_json.Encoded(canonical_json.dumps(steps))
            rows = _RouteRows(steps, encoded, timing, clockwork(timing))
            cache[id(decision.route)] = rows
        return rows

    def _opening(self, item: Incoming, event: BillingEvent, policies: PolicySet) -> _Opening:
        view = event.routing_view()
        decision = policies.route(view)
        route, now = decision.route, item.now
        shared = self._route_rows(policies, decision)
        snapshot = InvoiceSnapshot(
            key=event.invoice.key,
            customer_id=event.customer.id,
            currency=event.invoice.currency,
            total=event.invoice.amount,
            number=event.invoice.number,
        )
        timing: dict[str, Any] | canonical_json.Encoded = shared.timing
        timers: list[tuple[str, datetime]] = []
        if not route.auto_approve:
            timing, timers = shared.opened_at(now)
        requester = event.requested_by
        row = {
            "type": event.type.value,
            "source": event.source,
            "event_id": event.event_id,
            "customer_id": event.customer.id,
            "customer_name": event.customer.name,
            "customer_tier": event.customer.tier,
            "invoice_key": event.invoice.key,
            "invoice_number": event.invoice.number,
            "currency": event.invoice.currency,
            "amount": event.invoice.amount,
            "details": view["details"],
            "reason": event.reason,
            "requested_by_email": requester.email if requester else None,
            "requested_by_slack": requester.slack_user_id if requester else None,
            "state": (State.APPROVED if route.auto_approve else State.OPEN).value,
            "route_name": route.name,
            "route_reason": decision.reason,
            "policy_hash": policies.content_hash,
            "steps": shared.steps_json,
            "channel": route.channel,
            "invoice_fingerprint": snapshot.claim_fingerprint(),
            "timing": timing,
            "created_at": now,
            "updated_at": now,
        }
        return _Opening(item, event, decision, row, timers)

    def _write(self, plans: list[_Plan], via: str) -> list[IntakeOutcome]:
        """The guard's second half: the chunk in one transaction, or event by event when the
        database refuses the chunk."""
        try:
            with self._db.transaction() as session:
                return _write_chunk(session, plans, via)
        except (OperationalError, InterfaceError) as error:
            raise DatabaseUnavailable(str(error.orig or error)) from error
        except Exception as error:
            if len(plans) > 1:
                return [o for plan in plans for o in self._write([plan], via)]
            (plan,) = plans
            if isinstance(plan, _Rejection):
                raise
            return [self._refused_one(plan, error, via)]

    def _refused_one(self, plan: _Opening, error: Exception, via: str) -> IntakeOutcome:
        """The database refused this one event: a concurrent repeat, a value, or a bug."""
        if isinstance(error, IntegrityError):
            # A concurrent delivery committed the same (source, event_id): answer as a repeat.
            try:
                with self._db.transaction() as session:
                    known = _stored(session, {plan.key})
            except (OperationalError, InterfaceError) as down:
                raise DatabaseUnavailable(str(down.orig or down)) from down
            if plan.key in known:
                exception_id, state = known[plan.key]
                return IntakeOutcome("duplicate", exception_id, state, plan.event.event_id)
            errors = (_problem("the database refused the event"),)
        elif isinstance(error, DataError):  # a value the database refuses: kept, with the reason
            reason = str(error.orig or error).splitlines()[0]
            errors = (_problem(f"the database refused a value: {reason}"),)
        else:
            errors = (_unexpected(error, "writing"),)
        return self.reject(plan.item.raw, errors, via=via, now=plan.item.now)


def _rejection(item: Incoming, errors: tuple[dict[str, str], ...], via: str) -> _Rejection:
    fields = jsontext.loads_lenient(item.raw)
    fields = fields if isinstance(fields, dict) else {}
    source, event_id = (_name(fields.get(key)) for key in ("source", "event_id"))
    data = original_bytes(item.raw)
    row = {
        "source": source,
        "event_id": event_id,
        "payload": jsontext.safe_text(data.decode("utf-8", "backslashreplace")),
        "sha256": hashlib.sha256(data).hexdigest(),
        "errors": list(errors),
        "via": via,
        "received_at": item.now,
    }
    return _Rejection(item, errors, row)


@functools.cache
def _last_id(table: Table) -> Select[Any]:
    return sa_select(func.max(table.c.id))


def _insert_plans(session: Session, model: Any, plans: Sequence[_Plan]) -> dict[int, int]:
    """Insert the plans' rows in one executemany: id(plan) -> the new row's id. The ids are
    taken first: from the sequence on PostgreSQL, and on SQLite, whose write lock this
    transaction holds from its BEGIN IMMEDIATE, as the next ones after the largest (the rowid
    SQLite itself would give; these tables are never AUTOINCREMENT)."""
    if not plans:
        return {}
    table = sa_table(model)
    if session.get_bind().dialect.name == "postgresql":
        new_ids = list(
            session.connection()
            .execute(_NEXT_IDS, {"table": table.name, "n": len(plans)})
            .scalars()
            .all()
        )
    else:
        last = int(session.connection().execute(_last_id(table)).scalar() or 0)
        new_ids = list(range(last + 1, last + 1 + len(plans)))
    bulk.insert_many(
        session, table, [p.row | {"id": row_id} for p, row_id in zip(plans, new_ids, strict=True)]
    )
    return {id(plan): row_id for plan, row_id in zip(plans, new_ids, strict=True)}


def _write_chunk(session: Session, plans: list[_Plan], via: str) -> list[IntakeOutcome]:
    """Write every plan's rows, one INSERT per table; duplicates write nothing."""
    plans = _check_superseding(session, plans, via)
    openings = [p for p in plans if isinstance(p, _Opening) and not p.event.supersedes]
    continuing = [p for p in plans if isinstance(p, _Opening) and p.event.supersedes]
    known = _stored(session, {p.key for p in [*openings, *continuing]})
    first: dict[tuple[str, str], _Opening] = {}
    for opening in openings:
        if opening.key not in known:
            first.setdefault(opening.key, opening)
    new = list(first.values())
    ids = _insert_plans(session, ExceptionRow, new)
    rejected_ids = _insert_plans(
        session, RejectedEventRow, [p for p in plans if isinstance(p, _Rejection)]
    )
    for opened in new:
        known[opened.key] = (ids[id(opened)], opened.row["state"])
    events, entries, jobs_rows, timers = [], [], [], []
    outcomes: list[IntakeOutcome] = []
    actor = f"intake:{via}"
    for plan in plans:
        if isinstance(plan, _Rejection):
            entries.append(_rejected_entry(plan, rejected_ids[id(plan)], actor))
            outcomes.append(
                IntakeOutcome("rejected", event_id=plan.row["event_id"], errors=plan.errors)
            )
            continue
        if plan.event.supersedes and plan.key not in known:
            exception_id, state = superseding.apply(
                session, plan.event, actor=actor, via=via, now=plan.item.now
            )
            known[plan.key] = (exception_id, state)
            events.append(_event_row(plan, via, exception_id))
            outcomes.append(IntakeOutcome("created", exception_id, state, plan.event.event_id))
            continue
        exception_id, state = known[plan.key]
        if id(plan) not in ids:
            outcomes.append(IntakeOutcome("duplicate", exception_id, state, plan.event.event_id))
            continue
        now = plan.item.now
        events.append(_event_row(plan, via, exception_id))
        entries += _opened_entries(plan, exception_id, actor)
        jobs_rows += _jobs(plan, exception_id)
        timers += [timer_values(exception_id, 0, kind, due, now) for kind, due in plan.timers]
        outcomes.append(IntakeOutcome("created", exception_id, state, plan.event.event_id))
    bulk.insert_many(session, sa_table(BillingEventRow), events)
    bulk.insert_many(session, sa_table(TimerRow), timers)
    outbox.enqueue_many(session, jobs_rows, keys_are_new=True)  # keyed by the new ids
    audit.append_many(session, entries)
    return outcomes


def _check_superseding(session: Session, plans: list[_Plan], via: str) -> list[_Plan]:
    """Refuse each superseding event that cannot continue the exception it names (one already
    stored is left alone: it is answered as a repeat)."""
    named = [p for p in plans if isinstance(p, _Opening) and p.event.supersedes]
    if not named:
        return plans
    stored = _stored(session, {p.key for p in named})
    checked: list[_Plan] = []
    for plan in plans:
        if isinstance(plan, _Opening) and plan.event.supersedes and plan.key not in stored:
            why = superseding.refusal(session, plan.event)
            if why is not None:
                checked.append(_rejection(plan.item, (_problem(why, "supersedes"),), via))
                continue
        checked.append(plan)
    return checked


def _event_row(plan: _Opening, via: str, exception_id: int) -> dict[str, Any]:
    return {
        "source": plan.event.source,
        "event_id": plan.event.event_id,
        "payload": plan.item.raw,
        "sha256": hashlib.sha256(plan.item.raw.encode()).hexdigest(),
        "via": via,
        "received_at": plan.item.now,
        "exception_id": exception_id,
    }


def _rejected_entry(plan: _Rejection, rejected_id: int, actor: str) -> audit.Entry:
    detail = {
        "rejected_event": rejected_id,
        "source": plan.row["source"],
        "event_id": plan.row["event_id"],
        "errors": list(plan.errors),
    }
    return audit.Entry(plan.item.now, actor, "event.rejected", detail=detail)


def _opened_entries(plan: _Opening, exception_id: int, actor: str) -> list[audit.Entry]:
    event, decision, now = plan.event, plan.decision, plan.item.now
    route = decision.route
    opened = {
        "source": event.source,
        "event_id": event.event_id,
        "route": route.name,
        "why": decision.reason,
        "policy_hash": plan.row["policy_hash"],
        "amount": str(event.invoice.amount),
        "currency": event.invoice.currency,
        "invoice_fingerprint": plan.row["invoice_fingerprint"],
        "event_sha256": hashlib.sha256(plan.item.raw.encode()).hexdigest(),
    }
    entries = [audit.Entry(now, actor, "exception.opened", exception_id, opened)]
    if route.auto_approve:
        detail = {"route": route.name, "why": decision.reason}
        entries.append(
            audit.Entry(
                now, f"policy:{route.name}", "exception.auto_approved", exception_id, detail
            )
        )
    return entries


def _jobs(plan: _Opening, exception_id: int) -> list[dict[str, Any]]:
    """The outbox rows an opened exception queues: notices, then its card or its release."""
    event, decision, now = plan.event, plan.decision, plan.item.now
    route = decision.route
    summary = (
        f"{exception_label(exception_id)} {event.type.label} for {event.customer.name}, "
        f"{event.invoice.currency} {event.invoice.amount}"
    )
    rows = [
        jobs.channel_notice_job(channel, f"{summary}: routed to {route.name}.", now=now)
        for channel in decision.notify_channels
    ]
    if not route.auto_approve:
        return [
            *rows,
            jobs.card_job(exception_id, now=now),
            jobs.snapshot_job(exception_id, now=now),
        ]
    rows.append(jobs.release_job(exception_id, approval="auto", now=now))
    if route.channel:
        text = f"{summary}: approved automatically by route {route.name} ({decision.reason})."
        rows.append(jobs.channel_notice_job(route.channel, text, now=now))
    return rows


def _name(value: Any) -> str | None:
    """A source or event_id as the rejection record can hold it."""
    if value is None:
        return None
    return jsontext.safe_text(str(value))[:200]


def _unexpected(error: Exception, stage: str) -> dict[str, str]:
    error_id = uuid.uuid4().hex[:12]
    log.error("intake.unexpected_error", error_id=error_id, stage=stage, exc_info=error)
    return _problem(f"the event could not be processed (error id {error_id})")


_EVENTS, _EXCEPTIONS = sa_table(BillingEventRow), sa_table(ExceptionRow)
_STORED = (
    sa_select(_EVENTS.c.source, _EVENTS.c.event_id, _EXCEPTIONS.c.id, _EXCEPTIONS.c.state)
    .join_from(_EVENTS, _EXCEPTIONS, _EXCEPTIONS.c.id == _EVENTS.c.exception_id)
    .where(
        _EVENTS.c.source == bindparam("source"),
        _EVENTS.c.event_id.in_(bindparam("event_ids", expanding=True)),
    )
)


def _stored(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
    """(exception id, state) of each (source, event_id) already stored: one lookup per source
    (a batch has one), `source = ? AND event_id IN (...)`, which walks the (source, event_id)
    unique index (SQLite scans the whole table for a row-value `(source, event_id) IN (...)`)."""
    by_source: dict[str, list[str]] = {}
    for source, event_id in keys:
        by_source.setdefault(source, []).append(event_id)
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for source, event_ids in by_source.items():
        rows = session.connection().execute(_STORED, {"source": source, "event_ids": event_ids})
        for stored_source, event_id, exception_id, state in rows:
            found[(stored_source, event_id)] = (exception_id, state)
    return found
