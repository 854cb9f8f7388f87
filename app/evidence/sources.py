"""Where the packet reads facts stored by other parts of Countersign: the policy text of a
version (the `policy_version` table, app/store/policy_versions.py), and on whose behalf a
decision was made (a delegation). One function each; the packet says plainly when a fact is
not stored (an exception routed before policy versions were kept)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from app.store import policy_versions
from app.store.tables import PolicyVersionRow

POLICY_TEXT_NOT_STORED = "policy text not stored (only its hash is known)"


def policy_files_for(session: Session, policy_hash: str) -> list[dict[str, str]] | None:
    """The policy files (path and text) of the version with this hash, exactly as hashed, or
    None when that version was never stored."""
    row = session.exec(
        select(PolicyVersionRow)
        .where(col(PolicyVersionRow.content_hash) == policy_hash)
        .order_by(col(PolicyVersionRow.id))
        .limit(1)
    ).first()
    if row is None:
        return None
    return [{"path": path, "text": text} for path, text in policy_versions.texts(row)]


def on_behalf_of(decision: Any, detail: dict[str, Any] | None) -> str | None:
    """Whom a decision was made for (a delegation): the decision row's `on_behalf_of`, else its
    audit entry's; None when made in one's own name."""
    value = getattr(decision, "on_behalf_of", None)
    if value is None and detail is not None:
        value = detail.get("on_behalf_of")
    return None if value is None else str(value)
