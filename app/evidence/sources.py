"""Where the packet reads facts that other parts of Countersign may store later: the policy
text of a version, and on whose behalf a decision was made. One function each, so the packet
picks them up the day they are stored, and says plainly when they are not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text
from sqlmodel import Session

POLICY_TEXT_NOT_STORED = "policy text not stored (only its hash is known)"


def policy_text_for(session: Session, policy_hash: str) -> str | None:
    """The policy files' text of the version with this hash, or None when it is not stored.

    Reads a `policy_version` table (hash, content) when the database has one; until then the
    policy is known only by the hash recorded when the exception was routed."""
    connection = session.connection()
    if not inspect(connection).has_table("policy_version"):
        return None
    columns = {column["name"] for column in inspect(connection).get_columns("policy_version")}
    if not {"hash", "content"} <= columns:
        return None
    row = connection.execute(
        text("SELECT content FROM policy_version WHERE hash = :hash"), {"hash": policy_hash}
    ).first()
    if row is None or row[0] is None:
        return None
    content = row[0]
    return content if isinstance(content, str) else str(content)


def on_behalf_of(decision: Any, detail: dict[str, Any] | None) -> str | None:
    """Whom a decision was made for (a delegation), from the decision row's `on_behalf_of`
    column when it exists, else from its audit entry; None when made in one's own name."""
    value = getattr(decision, "on_behalf_of", None)
    if value is None and detail is not None:
        value = detail.get("on_behalf_of")
    return None if value is None else str(value)
