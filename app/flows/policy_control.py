"""Policy change control: every policy set loaded is stored, and under `change_control` a new
hash waits for a named approver before it goes in force.

Which rules apply is decided by the policy IN FORCE, never by the proposed one: a proposal that
removes `change_control` still needs approval, and the first policy that adds it goes in force
at once (nothing was controlling before). While a proposal waits the old policy keeps routing.

Several `serve` processes on one database: the one that loads a new set proposes it (one card
in the admin channel); the approval is a row in the store, and every process polls the store on
its scheduler (`POLICY_POLL_SECONDS`) and puts the last approved version in force from the
stored files: exactly the text that was reviewed, whatever its own folder holds. A process that
starts with a folder differing from the version in force (under change control) starts with the
stored version in force and proposes its folder.

The proposer: a reload is made by a process (host and pid), which cannot tell which person
edited the files or sent SIGHUP. `countersign policies reload --proposer U…|e-mail` names the
person asking (app/flows/reload_request.py); that person may not approve the change. Without
it nobody is excluded, and four-eyes rests on the people who can edit the policy folder not
being the ones in `change_control.approvers`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlmodel import Session

from app.clock import Clock
from app.domain.approval import Actor
from app.flows import jobs
from app.flows.policy_holder import PolicyHolder, ReloadResult
from app.routing import PolicyLoadError, PolicySet, load_policy_files
from app.store import audit, outbox
from app.store import policy_versions as versions
from app.store.db import Database
from app.store.tables import PolicyVersionRow

log = structlog.get_logger("countersign.policies")
START, RELOAD, STORED = "start", "reload", "stored"  # `stored`: put in force from the store


def stored_policy(row: PolicyVersionRow) -> PolicySet:
    """The policy set of a stored version, compiled from its stored files."""
    return load_policy_files(f"policy {row.content_hash[:12]}", versions.sources(row))


def _card_job(session: Session, kind: str, version_id: int, now: datetime) -> None:
    key = f"policy_card:{version_id}" if kind == jobs.POLICY_CARD else None
    payload = {"version": version_id}
    outbox.enqueue(session, kind=kind, payload=payload, idempotency_key=key, now=now)


class PolicyControl:
    """Stores each loading of the policies and gates new hashes under change control."""

    def __init__(
        self,
        db: Database,
        holder: PolicyHolder,
        clock: Clock,
        *,
        host: str,
        pid: int,
        on_change: Callable[[], None] | None = None,
        requester: Callable[[], str | None] | None = None,
    ) -> None:
        self._db, self._holder, self._clock = db, holder, clock
        self._requester = requester  # who asked for this reload, when they said
        self._host, self._pid = host, pid
        self._on_change = on_change  # work was queued (a card): wake the outbox
        self._seen_approval = 0

    def start(self) -> None:
        """At start: store the set loaded from the folder; under the change control of the
        version in force, keep that version and propose the folder's set if it differs."""
        fresh = self._holder.current()
        with self._db.transaction() as session:
            last = versions.latest_approved(session)
            self._seen_approval = (last.id or 0) if last is not None else 0
            kept_row = versions.in_force(session)
            kept = self._kept(kept_row, fresh)
            held = self._judge(session, fresh, kept, START)
            if held is not None:
                self._record_stored(session, kept)
        if held is not None:
            self._holder.install(kept)
            log.warning("policies.start_held", folder=fresh.content_hash, kept=kept.content_hash)
        self._changed(held)

    def _kept(self, row: PolicyVersionRow | None, fresh: PolicySet) -> PolicySet:
        """The stored version in force, compiled (the folder's set when there is none, when it
        is the same, or when this version of Countersign no longer loads it)."""
        if row is None or row.content_hash == fresh.content_hash:
            return fresh
        try:
            return stored_policy(row)
        except PolicyLoadError as error:
            log.error(
                "policies.stored_unloadable",
                content_hash=row.content_hash,
                problems=[str(p) for p in error.problems][:5],
            )
            return fresh

    def _record_stored(self, session: Session, policy: PolicySet) -> None:
        """This process put a stored version in force: its history says so."""
        versions.record(
            session,
            content_hash=policy.content_hash,
            files=versions.files_json(policy.sources),
            at=self._clock.now(),
            host=self._host,
            pid=self._pid,
            trigger=STORED,
            status=versions.APPLIED,
        )

    def reload(self) -> ReloadResult:
        """Reload the folder (SIGHUP): applied, held for approval, or refused."""
        held: list[str | None] = [None]
        requested_by = self._requester() if self._requester is not None else None

        def gate(fresh: PolicySet, kept: PolicySet) -> str | None:
            with self._db.transaction() as session:
                held[0] = self._judge(session, fresh, kept, RELOAD, requested_by)
            return held[0]

        result = self._holder.reload(gate)
        self._changed(held[0])
        return result

    def _judge(
        self,
        session: Session,
        fresh: PolicySet,
        kept: PolicySet,
        trigger: str,
        requested_by: str | None = None,
    ) -> str | None:
        """Store this loading; None when `fresh` may go in force, else why it is held."""
        versions.serialize(session)
        now = self._clock.now()
        control = kept.change_control
        files = versions.files_json(fresh.sources)

        def store(status: str) -> PolicyVersionRow:
            return versions.record(
                session,
                content_hash=fresh.content_hash,
                files=files,
                at=now,
                host=self._host,
                pid=self._pid,
                trigger=trigger,
                status=status,
                approvers=control.approvers if control and status == versions.PENDING else (),
                channel=control.channel if control and status == versions.PENDING else None,
                base_hash=kept.content_hash if status == versions.PENDING else None,
                requested_by=requested_by,
            )

        if control is None or fresh.content_hash == kept.content_hash:
            store(versions.APPLIED)
            return None
        earlier = versions.decided(session, fresh.content_hash)
        if earlier is not None and earlier.status == versions.APPROVED:
            store(versions.APPLIED)
            return None
        if earlier is not None:
            return (
                f"policy {fresh.content_hash[:12]} was rejected by {earlier.decided_by} at "
                f"{earlier.decided_at:%Y-%m-%d %H:%M} UTC; it is not applied"
            )
        waiting = versions.pending(session)
        if any(row.content_hash == fresh.content_hash for row in waiting):
            return f"policy {fresh.content_hash[:12]} is pending approval"
        for row in waiting:  # a newer proposal replaces any undecided one
            row.status, row.decided_at = versions.SUPERSEDED, now
            session.add(row)
            assert row.id is not None
            _card_job(session, jobs.POLICY_CARD_UPDATE, row.id, now)
        row = store(versions.PENDING)
        assert row.id is not None
        _card_job(session, jobs.POLICY_CARD, row.id, now)
        return f"policy {fresh.content_hash[:12]} is pending approval in {control.channel}"

    def _changed(self, held: str | None) -> None:
        if held is not None and self._on_change is not None:
            self._on_change()

    def poll(self) -> None:
        """Put the last approved version in force if it is newer than the one seen (the
        scheduler runs this in every process)."""
        with self._db.transaction() as session:
            row = versions.latest_approved(session)
            if row is None or (row.id or 0) <= self._seen_approval:
                return
            seen, content_hash = row.id or 0, row.content_hash
            policy = None if content_hash == self._holder.current().content_hash else row
            approved = stored_policy(policy) if policy is not None else None
        self._seen_approval = seen
        if approved is not None:
            self._holder.install(approved)
            with self._db.transaction() as session:
                self._record_stored(session, approved)
            log.info("policies.approved_applied", content_hash=content_hash, version=seen)


@dataclass(frozen=True)
class PolicyDecision:
    recorded: bool
    message: str
    channel: str | None = None


def decide_policy_change(
    db: Database, version_id: int, actor: Actor, *, approve: bool, now: datetime
) -> PolicyDecision:
    """One approver's Approve or Reject on a pending policy version; refusals are audited."""
    verb = "approve" if approve else "reject"
    with db.transaction() as session:
        row = versions.locked(session, version_id)
        if row is None:
            return PolicyDecision(False, "This policy change is not known; nothing was recorded.")
        short = row.content_hash[:12]
        refusal = _refusal(row, actor, short)
        if refusal is not None:
            audit.append(
                session,
                at=now,
                actor=actor.user_id,
                action="policy.decision_refused",
                detail={
                    "version": version_id,
                    "content_hash": row.content_hash,
                    "wanted": verb,
                    "why": refusal,
                    "email": actor.email,
                },
            )
            return PolicyDecision(False, refusal, row.channel)
        row.status = versions.APPROVED if approve else versions.REJECTED
        row.decided_by, row.decided_at = actor.user_id, now
        row.applied_at = now if approve else None
        session.add(row)
        audit.append(
            session,
            at=now,
            actor=actor.user_id,
            action=f"policy.{row.status}",
            detail={
                "version": version_id,
                "content_hash": row.content_hash,
                "base_hash": row.base_hash,
                "email": actor.email,
            },
        )
        _card_job(session, jobs.POLICY_CARD_UPDATE, version_id, now)
        done = "approved: it goes in force now" if approve else "rejected: it is not applied"
        return PolicyDecision(True, f"Policy {short} {done}.", row.channel)


def _refusal(row: PolicyVersionRow, actor: Actor, short: str) -> str | None:
    if row.status != versions.PENDING:
        by = f" by <@{row.decided_by}>" if row.decided_by else ""
        return f"Policy {short} is already {row.status}{by}; nothing was recorded."
    if row.requested_by and actor.is_entry(row.requested_by):
        return (
            f"You asked for this reload, so another approver must decide policy {short} "
            "(four-eyes). Nothing was recorded."
        )
    if row.requested_by and "@" in row.requested_by and actor.unconfirmed:
        return (  # it could be the proposer: fail closed
            f"Could not confirm your identity with Slack right now ({actor.unconfirmed}); "
            "try again in a minute."
        )
    if actor.is_one_of(row.approvers):
        return None
    if actor.unconfirmed:
        return (
            f"Could not confirm your identity with Slack right now ({actor.unconfirmed}); "
            "try again in a minute."
        )
    return (
        f"Only the change_control approvers may decide policy {short}; "
        "you are not one of them. Nothing was recorded."
    )
