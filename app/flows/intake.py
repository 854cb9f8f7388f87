"""Intake: validate, dedupe on (source, event_id), store the raw event, route, open or approve.

Each event is handled in its own transaction, so one bad event in a batch never blocks the rest,
and an invalid event is kept with its reasons in rejected_event rather than dropped."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.domain.batch import parse_item
from app.domain.events import BillingEvent
from app.domain.invoice import InvoiceSnapshot
from app.domain.lifecycle import State, exception_label
from app.flows import jobs
from app.flows.timing import schedule_step, timing_snapshot
from app.routing import PolicySet, RouteDecision
from app.store import audit, outbox
from app.store.db import Database
from app.store.tables import BillingEventRow, ExceptionRow, RejectedEventRow

Status = Literal["created", "duplicate", "rejected"]
_HTTP = {"created": 202, "duplicate": 200, "rejected": 422}


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
        body: dict[str, Any] = {"status": self.status, "event_id": self.event_id}
        if self.exception_id is not None:
            body |= {"exception": exception_label(self.exception_id), "state": self.state}
        if self.errors:
            body["errors"] = list(self.errors)
        return body


def _field_errors(error: ValidationError) -> tuple[dict[str, str], ...]:
    return tuple(
        {"field": ".".join(str(p) for p in e["loc"]) or "(event)", "message": e["msg"]}
        for e in error.errors()
    )


def _steps_snapshot(decision: RouteDecision) -> list[dict[str, Any]]:
    return [
        {
            "approvers": list(step.approvers),
            "quorum": step.quorum,
            "quorum_rule": step.quorum_rule,
            "one_person_one_step": decision.route.one_person_one_step,
            "escalations": [
                {"after_s": level.after.total_seconds(), "to": list(level.to)}
                for level in step.escalations
            ],
        }
        for step in decision.route.steps
    ]


class Intake:
    """Turns raw events into exceptions. `wake` nudges the outbox worker after a commit."""

    def __init__(
        self, db: Database, policies: Callable[[], PolicySet], wake: Callable[[], None]
    ) -> None:
        self._db, self._policies, self._wake = db, policies, wake

    def receive(self, raw_events: list[str], *, via: str, now: datetime) -> list[IntakeOutcome]:
        outcomes = [self._one(raw, via=via, now=now) for raw in raw_events]
        if any(o.status == "created" for o in outcomes):
            self._wake()
        return outcomes

    def _one(self, raw: str, *, via: str, now: datetime) -> IntakeOutcome:
        document = parse_item(raw)
        try:
            event = BillingEvent.model_validate(document)
        except ValidationError as error:
            return self._reject(raw, document, _field_errors(error), via=via, now=now)
        try:
            with self._db.transaction() as session:
                return self._open(session, event, raw, via=via, now=now)
        except IntegrityError:
            # A concurrent delivery committed the same (source, event_id): answer as a repeat.
            with self._db.transaction() as session:
                existing = _find(session, event)
                assert existing is not None
                return existing

    def _reject(
        self,
        raw: str,
        document: Any,
        errors: tuple[dict[str, str], ...],
        *,
        via: str,
        now: datetime,
    ) -> IntakeOutcome:
        fields = document if isinstance(document, dict) else {}
        source, event_id = fields.get("source"), fields.get("event_id")
        with self._db.transaction() as session:
            row = RejectedEventRow(
                source=str(source)[:200] if source is not None else None,
                event_id=str(event_id)[:200] if event_id is not None else None,
                payload=raw,
                sha256=hashlib.sha256(raw.encode()).hexdigest(),
                errors=list(errors),
                via=via,
                received_at=now,
            )
            session.add(row)
            session.flush()
            audit.append(
                session,
                at=now,
                actor=f"intake:{via}",
                action="event.rejected",
                detail={
                    "rejected_event": row.id,
                    "source": row.source,
                    "event_id": row.event_id,
                    "errors": list(errors),
                },
            )
        return IntakeOutcome(
            "rejected", event_id=str(event_id) if event_id is not None else None, errors=errors
        )

    def _open(
        self, session: Session, event: BillingEvent, raw: str, *, via: str, now: datetime
    ) -> IntakeOutcome:
        repeat = _find(session, event)
        if repeat is not None:
            return repeat
        policies = self._policies()
        decision = policies.route(event.routing_view())
        route = decision.route
        snapshot = InvoiceSnapshot(
            key=event.invoice.key,
            customer_id=event.customer.id,
            currency=event.invoice.currency,
            total=event.invoice.amount,
            number=event.invoice.number,
        )
        requester = event.requested_by
        row = ExceptionRow(
            type=event.type.value,
            source=event.source,
            event_id=event.event_id,
            customer_id=event.customer.id,
            customer_name=event.customer.name,
            customer_tier=event.customer.tier,
            invoice_key=event.invoice.key,
            invoice_number=event.invoice.number,
            currency=event.invoice.currency,
            amount=event.invoice.amount,
            details=event.model_dump(mode="json")["details"],
            reason=event.reason,
            requested_by_email=requester.email if requester else None,
            requested_by_slack=requester.slack_user_id if requester else None,
            state=State.APPROVED if route.auto_approve else State.OPEN,
            route_name=route.name,
            route_reason=decision.reason,
            policy_hash=policies.content_hash,
            steps=_steps_snapshot(decision),
            channel=route.channel,
            invoice_fingerprint=snapshot.fingerprint(),
            timing=timing_snapshot(policies, decision),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        session.add(
            BillingEventRow(
                source=event.source,
                event_id=event.event_id,
                payload=raw,
                sha256=hashlib.sha256(raw.encode()).hexdigest(),
                via=via,
                received_at=now,
                exception_id=row.id,
            )
        )
        audit.append(
            session,
            at=now,
            actor=f"intake:{via}",
            action="exception.opened",
            exception_id=row.id,
            detail={
                "source": event.source,
                "event_id": event.event_id,
                "route": route.name,
                "why": decision.reason,
                "policy_hash": policies.content_hash,
                "amount": str(event.invoice.amount),
                "currency": event.invoice.currency,
                "invoice_fingerprint": row.invoice_fingerprint,
            },
        )
        for channel in decision.notify_channels:
            jobs.queue_channel_notice(
                session,
                channel,
                f"{exception_label(row.id)} {event.type.label} for {event.customer.name}, "
                f"{event.invoice.currency} {event.invoice.amount}: routed to {route.name}.",
                now=now,
            )
        if route.auto_approve:
            audit.append(
                session,
                at=now,
                actor=f"policy:{route.name}",
                action="exception.auto_approved",
                exception_id=row.id,
                detail={"route": route.name, "why": decision.reason},
            )
            jobs.queue_release(session, row.id, approval="auto", now=now)
            if route.channel:
                jobs.queue_channel_notice(
                    session,
                    route.channel,
                    f"{exception_label(row.id)} {event.type.label} for {event.customer.name}, "
                    f"{event.invoice.currency} {event.invoice.amount}: approved automatically "
                    f"by route {route.name} ({decision.reason}).",
                    now=now,
                )
        else:
            schedule_step(session, row, now)
            outbox.enqueue(
                session,
                kind=jobs.POST_CARD,
                payload={"exception_id": row.id},
                exception_id=row.id,
                idempotency_key=f"card:{row.id}",
                now=now,
            )
        return IntakeOutcome("created", row.id, row.state, event.event_id)


def _find(session: Session, event: BillingEvent) -> IntakeOutcome | None:
    found = session.exec(
        select(BillingEventRow).where(
            BillingEventRow.source == event.source, BillingEventRow.event_id == event.event_id
        )
    ).first()
    if found is None or found.exception_id is None:
        return None
    row = session.get(ExceptionRow, found.exception_id)
    assert row is not None
    return IntakeOutcome("duplicate", row.id, row.state, event.event_id)
