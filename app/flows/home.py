"""A person's queue, as the App Home shows it, and keeping that Home current.

`queue_for(db, actor, now)` reads what concerns one person: what waits for their decision
(oldest first, overdue against the step's escalation or expiry), what waits for them as a
delegate (the steps of people whose active delegation they hold, app/flows/delegation.py),
their own requests and where each stands,
and what they decided lately. Nothing here talks to Slack: the HomePort renders and publishes.

Whenever something that concerns people changes (a card posted or refreshed: a new exception,
a decision, a release, an expiry), `queue_refresh` queues one `home.publish` job per person,
deduplicated: while one is pending and unclaimed for that person, no second one is queued, and
the job waits HOME_DEBOUNCE so a burst of changes is published once. The job goes through the
paced outbox like every Slack call, so it comes to rest."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlmodel import Session

from app.domain.approval import Actor
from app.flows.decide import set_aside_count
from app.flows.delegation import acting_for, stand_ins
from app.flows.jobs import queue_home
from app.flows.notify import step_text
from app.flows.ports import DeliveryFailed
from app.flows.queue import QueueLine, line_of
from app.store import queue_read
from app.store.db import Database
from app.store.tables import ExceptionRow

log = structlog.get_logger("countersign.home")
WAITING_LIMIT = 20  # each waiting item takes two blocks of the Home's 100
MINE_LIMIT = 50  # `/billing-exceptions mine` lists more than Home has room for
DELEGATE_LIMIT = 5
REQUESTS_LIMIT = 8
DECIDED_LIMIT = 8
MOST_PEOPLE = 100  # people whose Home one change refreshes, at most
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class WaitingItem:
    """An open exception whose current step waits for this person."""

    exception_id: int
    line: QueueLine
    step: int
    version: int  # the card version: the buttons carry it, as on the card
    step_text: str
    opened_at: datetime
    sla_due: datetime | None
    overdue: bool
    on_behalf_of: str | None = None  # a delegate decides for this person


@dataclass(frozen=True)
class RequestItem:
    """An exception this person requested."""

    line: QueueLine
    step_text: str
    updated_at: datetime


@dataclass(frozen=True)
class DecidedItem:
    """A decision this person made."""

    line: QueueLine
    outcome: str
    decided_at: datetime


@dataclass(frozen=True)
class HomeQueue:
    user_id: str
    waiting: tuple[WaitingItem, ...] = ()
    waiting_more: int = 0  # waiting beyond those listed
    as_delegate: tuple[WaitingItem, ...] = ()
    requests: tuple[RequestItem, ...] = ()
    decided: tuple[DecidedItem, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def overdue(self) -> int:
        return sum(1 for item in self.waiting if item.overdue)


class HomePort(Protocol):
    def publish_home(self, user: str, queue: HomeQueue, now: datetime) -> None:
        """Publish this person's Home tab showing `queue`."""


def _decided_current_step(row: ExceptionRow, actor: Actor) -> bool:
    step = row.steps[row.current_step] if row.steps else {}
    return any(d.get("user") == actor.user_id for d in step.get("deciders", []))


def waiting_items(
    session: Session, actor: Actor, now: datetime, *, limit: int = WAITING_LIMIT
) -> tuple[list[WaitingItem], int]:
    """Open exceptions whose current step lists `actor` and that they have not decided yet,
    oldest first, at most `limit`, and how many more there are (the scan is bounded)."""
    mine = [
        row
        for row in queue_read.scan_open(session)
        if row.steps
        and actor.is_one_of(row.steps[row.current_step]["approvers"])
        and not _decided_current_step(row, actor)
    ]
    shown = mine[:limit]
    due = queue_read.sla_due(session, shown)
    versions = queue_read.decision_counts(session, [r.id for r in shown if r.id is not None])
    items = []
    for row in shown:
        assert row.id is not None
        sla = due.get(row.id)
        items.append(
            WaitingItem(
                exception_id=row.id,
                line=line_of(row),
                step=row.current_step,
                version=versions.get(row.id, 0) + set_aside_count(row),
                step_text=step_text(row),
                opened_at=row.created_at,
                sla_due=sla,
                overdue=sla is not None and sla <= now,
            )
        )
    return items, len(mine) - len(shown)


def _delegated(session: Session, actor: Actor, now: datetime, own: set[int]) -> list[WaitingItem]:
    items: list[WaitingItem] = []
    for given in acting_for(session, actor.user_id, now):
        delegator = Actor(given.delegator, given.delegator_email)
        found, _ = waiting_items(session, delegator, now, limit=DELEGATE_LIMIT)
        items += [
            replace(item, on_behalf_of=given.delegator)
            for item in found
            if item.exception_id not in own
        ]
        own |= {item.exception_id for item in found}
    return sorted(items, key=lambda item: item.opened_at)


def queue_for(
    db: Database, actor: Actor, now: datetime, *, waiting_limit: int = WAITING_LIMIT
) -> HomeQueue:
    """Everything the person's Home shows; `as_delegate` holds what waits for the people
    whose delegation `actor` holds at `now` (`on_behalf_of` set), less what waits for them
    anyway."""
    with db.reading() as session:
        waiting, more = waiting_items(session, actor, now, limit=waiting_limit)
        delegated = _delegated(session, actor, now, {w.exception_id for w in waiting})
        requests = [
            RequestItem(line_of(row), step_text(row), row.updated_at)
            for row in queue_read.requested_by(
                session, actor.user_id, actor.email, limit=REQUESTS_LIMIT
            )
        ]
        decided = [
            DecidedItem(line_of(row), decision.outcome, decision.decided_at)
            for decision, row in queue_read.decided_by(session, actor.user_id, limit=DECIDED_LIMIT)
        ]
    return HomeQueue(
        actor.user_id,
        waiting=tuple(waiting),
        waiting_more=more,
        as_delegate=tuple(delegated[:DELEGATE_LIMIT]),
        requests=tuple(requests),
        decided=tuple(decided),
    )


# --- keeping Homes current ------------------------------------------------------------------


def concerned(row: ExceptionRow) -> list[str]:
    """Slack users whose Home shows this exception: its approvers (of every step), the people
    who decided it and the requester (e-mail-only entries have no Home to publish to)."""
    people: list[str] = []
    for step in row.steps:
        people += [a for a in step.get("approvers", []) if _SLACK_USER.match(a)]
        people += [str(d.get("user")) for d in step.get("deciders", [])]
    if row.requested_by_slack:
        people.append(row.requested_by_slack)
    return list(dict.fromkeys(p for p in people if _SLACK_USER.match(p)))[:MOST_PEOPLE]


def queue_refresh(db: Database, exception_id: int, *, now: datetime) -> None:
    """Queue a Home refresh for everyone this exception concerns, and for whoever stands in
    for one of them."""
    with db.transaction() as session:
        queue_refresh_in(session, exception_id, now=now)


def queue_refresh_in(session: Session, exception_id: int, *, now: datetime) -> None:
    """`queue_refresh` inside the caller's transaction."""
    row = session.get(ExceptionRow, exception_id)
    if row is None:
        return
    people = concerned(row)
    delegates = [d.delegate for d in stand_ins(session, people, now)]  # their as_delegate
    for user in list(dict.fromkeys([*people, *delegates]))[:MOST_PEOPLE]:
        queue_home(session, user, now=now)


class HomeJobs:
    """The `home.publish` outbox job: read the person's queue now and publish it."""

    def __init__(
        self,
        db: Database,
        home: HomePort,
        actor: Callable[[str], Actor],
    ) -> None:
        self._db, self._home, self._actor = db, home, actor

    def queue(
        self,
        user: str,
        now: datetime,
        actor: Actor | None = None,
        *,
        waiting_limit: int = WAITING_LIMIT,
    ) -> HomeQueue:
        """The person's queue; `actor` as looked up, else as `self._actor` knows them."""
        actor = actor or self._actor(user)
        return queue_for(self._db, actor, now, waiting_limit=waiting_limit)

    def publish(self, payload: dict[str, Any], now: datetime) -> None:
        """Publish; a Home Slack refuses for good (an unknown user) is logged, not parked: it
        is refreshed again at the next change, and an admin could do nothing about it."""
        user = str(payload["user"])
        try:
            self._home.publish_home(user, self.queue(user, now), now)
        except DeliveryFailed as refusal:
            log.warning("home.not_published", user=user, error=str(refusal))
