"""Outbox job kinds and the helpers that queue them, shared by every flow that causes them."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.domain.lifecycle import exception_label
from app.store import outbox
from app.store.tables import OutboxRow

POST_CARD = "slack.post_card"
UPDATE_CARD = "slack.update_card"
THREAD_NOTE = "slack.thread_note"
NOTIFY_USER = "slack.notify_user"
DM_CARD = "slack.dm_card"
CHANNEL_NOTICE = "slack.channel_notice"
POLICY_CARD = "slack.policy_card"  # a policy change awaiting approval (app/flows/policy_cards.py)
POLICY_CARD_UPDATE = "slack.policy_card_update"
RELEASE = "intacct.release"
SNAPSHOT = "intacct.snapshot"
RESUBMIT = "intacct.resubmit"  # re-read the corrected invoice and resume approval
HOME_PUBLISH = "home.publish"  # publish one person's App Home (app/flows/home.py)
HOME_DEBOUNCE = timedelta(seconds=1)
# Jobs that call Slack: they queue apart from the rest (Intacct's), so a backlog of one
# destination never holds up the other (see OutboxWorker's `queues`).
SLACK_KINDS = frozenset(
    {
        POST_CARD,
        UPDATE_CARD,
        THREAD_NOTE,
        NOTIFY_USER,
        DM_CARD,
        CHANNEL_NOTICE,
        POLICY_CARD,
        POLICY_CARD_UPDATE,
        HOME_PUBLISH,
    }
)


def release_key(exception_id: int, approval: str) -> str:
    """The Idempotency-Key for releasing this exception's invoice, derived from the approval."""
    digest = hashlib.sha256(f"{exception_id}:{approval}".encode()).hexdigest()[:32]
    return f"countersign-{exception_label(exception_id)}-{digest}"


def release_job(exception_id: int, *, approval: str, now: datetime) -> dict[str, Any]:
    """The outbox row that releases this exception's invoice (once per approval)."""
    key = release_key(exception_id, approval)
    return outbox.job_values(
        kind=RELEASE,
        payload={"exception_id": exception_id, "idempotency_key": key},
        exception_id=exception_id,
        idempotency_key=f"release:{key}",
        now=now,
    )


def card_job(exception_id: int, *, now: datetime) -> dict[str, Any]:
    """The outbox row that posts the exception's card (once)."""
    return outbox.job_values(
        kind=POST_CARD,
        payload={"exception_id": exception_id},
        exception_id=exception_id,
        idempotency_key=f"card:{exception_id}",
        now=now,
    )


def snapshot_job(exception_id: int, *, now: datetime) -> dict[str, Any]:
    """The outbox row that reads the invoice from Intacct for the approvers (app/flows/snapshot)."""
    return outbox.job_values(
        kind=SNAPSHOT, payload={"exception_id": exception_id}, exception_id=exception_id, now=now
    )


def queue_resubmit(session: Session, exception_id: int, *, via: str, now: datetime) -> None:
    outbox.enqueue(
        session,
        kind=RESUBMIT,
        payload={"exception_id": exception_id, "via": via},
        exception_id=exception_id,
        now=now,
    )


def queue_snapshot(session: Session, exception_id: int, *, now: datetime) -> None:
    outbox.enqueue_many(session, [snapshot_job(exception_id, now=now)])


def channel_notice_job(channel: str, text: str, *, now: datetime) -> dict[str, Any]:
    """The outbox row of a plain message in a channel."""
    return outbox.job_values(
        kind=CHANNEL_NOTICE, payload={"channel": channel, "text": text}, now=now
    )


def queue_release(session: Session, exception_id: int, *, approval: str, now: datetime) -> None:
    outbox.enqueue_many(session, [release_job(exception_id, approval=approval, now=now)])


def queue_card_update(session: Session, exception_id: int, *, now: datetime) -> None:
    """Queue a refresh of the card; the worker renders the state as it is when it runs."""
    outbox.enqueue(
        session,
        kind=UPDATE_CARD,
        payload={"exception_id": exception_id},
        exception_id=exception_id,
        now=now,
    )


def queue_thread_note(session: Session, exception_id: int, text: str, *, now: datetime) -> None:
    outbox.enqueue(
        session,
        kind=THREAD_NOTE,
        payload={"exception_id": exception_id, "text": text},
        exception_id=exception_id,
        now=now,
    )


def queue_notify(session: Session, user: str, text: str, *, now: datetime) -> None:
    outbox.enqueue(session, kind=NOTIFY_USER, payload={"user": user, "text": text}, now=now)


def queue_dm_card(
    session: Session,
    exception_id: int,
    user: str,
    intro: str,
    *,
    now: datetime,
    resubmit: bool = False,
) -> None:
    """DM one person the card, with a line saying why they get it; `resubmit`: the requester's
    copy while changes are requested, with a Resubmit button."""
    payload: dict[str, Any] = {"exception_id": exception_id, "user": user, "intro": intro}
    if resubmit:
        payload["resubmit"] = True
    outbox.enqueue(
        session,
        kind=DM_CARD,
        payload=payload,
        exception_id=exception_id,
        now=now,
    )


def queue_channel_notice(session: Session, channel: str, text: str, *, now: datetime) -> None:
    """A plain message in a channel, e.g. for routes with `continue: true` that only notify."""
    outbox.enqueue_many(session, [channel_notice_job(channel, text, now=now)])


def queue_home(session: Session, user: str, *, now: datetime) -> None:
    """Queue publishing `user`'s Home unless a publish is already waiting for them."""
    prefix = f"home:{user}:"
    waiting = session.exec(
        select(OutboxRow.id).where(
            OutboxRow.kind == HOME_PUBLISH,
            OutboxRow.state == "pending",
            col(OutboxRow.claimed_by).is_(None),
            col(OutboxRow.idempotency_key).startswith(prefix),
        )
    ).first()
    if waiting is not None:
        return
    outbox.enqueue(
        session,
        kind=HOME_PUBLISH,
        payload={"user": user},
        idempotency_key=prefix + uuid.uuid4().hex[:16],
        now=now,
        delay=HOME_DEBOUNCE,
    )
