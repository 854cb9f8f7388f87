"""Every policy set loaded, kept with its files: the history of the rules and their approvals.

A row is one loading (at start or on reload) by one process. Its status:
- applied: put in force at once (no change control, or the same hash as in force);
- pending: held for approval under the change control of the policy in force;
- approved / rejected: decided by a change-control approver (who and when are on the row);
- superseded: a newer proposal came before anyone decided this one.
The version in force is the applied or approved row put in force last (`applied_at`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.store import audit
from app.store.tables import AuditHeadRow, PolicyVersionRow

APPLIED, PENDING, APPROVED, REJECTED, SUPERSEDED = (
    "applied",
    "pending",
    "approved",
    "rejected",
    "superseded",
)
IN_FORCE = (APPLIED, APPROVED)
MIN_PREFIX = 4


class VersionNotFound(LookupError):
    """No stored version matches (or several do); the message says which and what to do."""


def files_json(sources: Sequence[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """The files as stored: path and text, sorted by path (policy files are UTF-8 YAML)."""
    return [
        {"path": path, "text": data.decode("utf-8", "replace")} for path, data in sorted(sources)
    ]


def texts(row: PolicyVersionRow) -> list[tuple[str, str]]:
    """(path, text) of each stored file."""
    return [(str(f["path"]), str(f["text"])) for f in row.files]


def sources(row: PolicyVersionRow) -> list[tuple[str, bytes]]:
    """(path, bytes) of each stored file, as the loader takes them."""
    return [(path, text.encode("utf-8")) for path, text in texts(row)]


def process_name(host: str, pid: int) -> str:
    """How a loading process appears as an audit actor."""
    return f"process {host}/{pid}"


def record(
    session: Session,
    *,
    content_hash: str,
    files: list[dict[str, Any]],
    at: datetime,
    host: str,
    pid: int,
    trigger: str,
    status: str,
    approvers: Sequence[str] = (),
    channel: str | None = None,
    base_hash: str | None = None,
    requested_by: str | None = None,
) -> PolicyVersionRow:
    """Store one loading and audit it, in the caller's transaction."""
    row = PolicyVersionRow(
        content_hash=content_hash,
        files=files,
        loaded_at=at,
        host=host[:255],
        pid=pid,
        trigger=trigger,
        status=status,
        applied_at=at if status in IN_FORCE else None,
        approvers=list(approvers),
        channel=channel,
        base_hash=base_hash,
        requested_by=requested_by,
    )
    session.add(row)
    session.flush()
    action = "policy.proposed" if status == PENDING else f"policy.{status}"
    if status == APPLIED:
        action = "policy.loaded"
    audit.append(
        session,
        at=at,
        actor=process_name(host, pid),
        action=action,
        detail={
            "version": row.id,
            "content_hash": content_hash,
            "trigger": trigger,
            "status": status,
            "files": [f["path"] for f in files],
            **({"base_hash": base_hash} if base_hash else {}),
            **({"requested_by": requested_by} if requested_by else {}),
            **({"approvers": list(approvers), "channel": channel} if status == PENDING else {}),
        },
    )
    return row


def serialize(session: Session) -> None:
    """Hold the audit head (which every loading appends to anyway) until the transaction ends,
    so two processes loading at once see each other's proposal and never both propose."""
    session.exec(select(AuditHeadRow).with_for_update()).first()


def in_force(session: Session) -> PolicyVersionRow | None:
    """The version put in force last (applied or approved)."""
    return session.exec(
        select(PolicyVersionRow)
        .where(col(PolicyVersionRow.status).in_(IN_FORCE))
        .order_by(col(PolicyVersionRow.applied_at).desc(), col(PolicyVersionRow.id).desc())
        .limit(1)
    ).first()


def pending(session: Session) -> list[PolicyVersionRow]:
    """Every version waiting for approval, oldest first."""
    return list(
        session.exec(
            select(PolicyVersionRow)
            .where(PolicyVersionRow.status == PENDING)
            .order_by(col(PolicyVersionRow.id))
        ).all()
    )


def latest_approved(session: Session) -> PolicyVersionRow | None:
    """The last version a change-control approver approved."""
    return session.exec(
        select(PolicyVersionRow)
        .where(PolicyVersionRow.status == APPROVED)
        .order_by(col(PolicyVersionRow.id).desc())
        .limit(1)
    ).first()


def decided(session: Session, content_hash: str) -> PolicyVersionRow | None:
    """The last approval or rejection of this hash, if any."""
    return session.exec(
        select(PolicyVersionRow)
        .where(
            PolicyVersionRow.content_hash == content_hash,
            col(PolicyVersionRow.status).in_((APPROVED, REJECTED)),
        )
        .order_by(col(PolicyVersionRow.id).desc())
        .limit(1)
    ).first()


def locked(session: Session, version_id: int) -> PolicyVersionRow | None:
    """The row, locked until the transaction ends (one decision per version)."""
    return session.exec(
        select(PolicyVersionRow).where(PolicyVersionRow.id == version_id).with_for_update()
    ).first()


def with_hash(session: Session, content_hash: str) -> PolicyVersionRow | None:
    """Any stored row of this exact hash (all hold the same files)."""
    return session.exec(
        select(PolicyVersionRow)
        .where(PolicyVersionRow.content_hash == content_hash)
        .order_by(col(PolicyVersionRow.id))
        .limit(1)
    ).first()


def history(session: Session, limit: int | None = None) -> list[PolicyVersionRow]:
    """The newest loadings first."""
    query = select(PolicyVersionRow).order_by(col(PolicyVersionRow.id).desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def find(session: Session, ref: str) -> PolicyVersionRow:
    """The version named `current` (in force) or by a hash prefix (at least 4 characters)."""
    if ref == "current":
        row = in_force(session)
        if row is None:
            raise VersionNotFound("no policy version has been put in force yet")
        return row
    prefix = ref.strip().lower()
    if len(prefix) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix):
        raise VersionNotFound(
            f"{ref!r} is not a policy hash: give `current` or at least {MIN_PREFIX} hex digits"
            " of a hash from `countersign policies history`"
        )
    hashes = session.exec(
        select(PolicyVersionRow.content_hash)
        .where(col(PolicyVersionRow.content_hash).startswith(prefix))
        .distinct()
        .limit(5)
    ).all()
    if not hashes:
        raise VersionNotFound(
            f"no stored policy version has a hash starting {prefix}; "
            "see `countersign policies history`"
        )
    if len(hashes) > 1:
        shown = ", ".join(h[:12] for h in sorted(hashes))
        raise VersionNotFound(f"{prefix} matches several policy versions ({shown}); give more")
    found = with_hash(session, hashes[0])
    assert found is not None
    return found
