"""Collect one exception's evidence from the database (and the anchor file) as plain JSON.

The packet holds the texts that were hashed, not summaries of them: the event's bytes, each
audit entry's canonical text, each card's facts, and the chain from the exception's first
entry up to the nearest anchored checkpoint, so `check.verify` can recompute every hash."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from app.domain.invoice import FULL_PREFIX, InvoiceSnapshot
from app.domain.lifecycle import exception_label
from app.evidence.sources import POLICY_TEXT_NOT_STORED, on_behalf_of, policy_files_for
from app.store.audit import at_text
from app.store.audit_read import EntryText, snapshot
from app.store.db import Database
from app.store.tables import BillingEventRow, DecisionRow, ExceptionRow

PACKET_VERSION = 1
CARD_ACTIONS = ("card.posted", "card.updated")
RELEASE_ACTIONS = ("invoice.released", "invoice.release_blocked", "invoice.release_failed")


class UnknownException(Exception):
    """No exception has that id."""


@dataclass(frozen=True)
class Anchors:
    """The anchored checkpoints to prove against (already signature-checked), and where from."""

    path: Path
    checkpoints: list[dict[str, Any]]  # {"seq", "hash", "at", "host", "sig"} in file order


def read_anchor_lines(path: Path) -> list[dict[str, Any]]:
    """The raw checkpoint lines (signatures included) of an anchor file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def gather(db: Database, exception_id: int, now: datetime, anchors: Anchors | None) -> Any:
    """The packet of `exception_id` as a JSON-ready dict; UnknownException if there is none."""
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        if row is None:
            raise UnknownException(exception_label(exception_id))
        event = session.exec(
            select(BillingEventRow).where(BillingEventRow.exception_id == exception_id)
        ).first()
        decisions = session.exec(
            select(DecisionRow)
            .where(DecisionRow.exception_id == exception_id)
            .order_by(col(DecisionRow.decided_at), col(DecisionRow.id))
        ).all()
        policy_files = policy_files_for(session, row.policy_hash)
        exception = _exception(row)
        event_part = _event(event)
        decision_rows = list(decisions)
    with snapshot(db) as view:
        entries = list(view.entries(exception_id=exception_id))
        head = view.head()
        proof = _proof(view, entries, head, anchors)
    details = [json.loads(entry.detail) for entry in entries]
    recorded = [
        (e, d) for e, d in zip(entries, details, strict=True) if e.action == "decision.recorded"
    ]
    # A decision row's entry is the latest that names its id (SQLite may reuse the id of a
    # decision set aside when steps were asked again); every other entry is set aside.
    latest = {d.get("decision"): (e, d) for e, d in recorded}
    current = {r.id for r in decision_rows}
    set_aside = [
        _set_aside(e, d)
        for e, d in recorded
        if d.get("decision") not in current or latest[d.get("decision")][0].seq != e.seq
    ]
    return {
        "packet_version": PACKET_VERSION,
        "generated_at": at_text(now),
        "exception": exception,
        "event": event_part,
        "route": {
            "name": row.route_name,
            "why": row.route_reason,
            "policy_hash": row.policy_hash,
            "policy_files": policy_files,
            "policy_note": None if policy_files is not None else POLICY_TEXT_NOT_STORED,
            "steps": row.steps,
        },
        "cards": [
            {
                "seq": entry.seq,
                "action": entry.action,
                "at": entry.at,
                "channel": detail.get("channel"),
                "ts": detail.get("ts"),
                "card": detail.get("card"),
                "card_sha256": detail.get("card_sha256"),
            }
            for entry, detail in zip(entries, details, strict=True)
            if entry.action in CARD_ACTIONS
        ],
        "decisions": [_decision(d, *latest.get(d.id, (None, None))) for d in decision_rows]
        + set_aside,
        "invoice": _invoice(row, entries, details),
        "audit": {
            "entries": [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "detail": d,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                    "canonical": e.canonical,
                }
                for e, d in zip(entries, details, strict=True)
            ],
            "proof": proof,
        },
    }


def _exception(row: ExceptionRow) -> dict[str, Any]:
    assert row.id is not None
    return {
        "id": row.id,
        "label": exception_label(row.id),
        "type": row.type,
        "state": row.state,
        "state_note": row.state_note,
        "customer_id": row.customer_id,
        "customer_name": row.customer_name,
        "customer_tier": row.customer_tier,
        "invoice_key": row.invoice_key,
        "invoice_number": row.invoice_number,
        "currency": row.currency,
        "amount": str(row.amount),
        "reason": row.reason,
        "requested_by_slack": row.requested_by_slack,
        "requested_by_email": row.requested_by_email,
        "created_at": at_text(row.created_at),
        "updated_at": at_text(row.updated_at),
    }


def _event(event: BillingEventRow | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {
        "source": event.source,
        "event_id": event.event_id,
        "via": event.via,
        "received_at": at_text(event.received_at),
        "sha256": event.sha256,
        "payload": event.payload,
    }


def _decision(
    decision: DecisionRow, entry: EntryText | None, detail: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": decision.id,
        "audit_seq": entry.seq if entry is not None else None,
        "set_aside": False,
        "step": decision.step + 1,
        "outcome": decision.outcome,
        "slack_id": decision.approver,
        "email": (detail or {}).get("email"),
        "name": (detail or {}).get("name"),
        "on_behalf_of": on_behalf_of(decision, detail),
        "reason": decision.reason,
        "decided_at": at_text(decision.decided_at),
        "via": (detail or {}).get("via"),
    }


def _set_aside(entry: EntryText, detail: dict[str, Any]) -> dict[str, Any]:
    """A decision whose step was asked again (changes requested, the invoice changed after
    approval): its row is gone, its audit entry says everything about it."""
    return {
        "id": detail.get("decision"),
        "audit_seq": entry.seq,
        "set_aside": True,
        "step": int(detail.get("step", -1)) + 1,
        "outcome": detail.get("outcome"),
        "slack_id": entry.actor.split(" for ")[0],
        "email": detail.get("email"),
        "name": detail.get("name"),
        "on_behalf_of": detail.get("on_behalf_of"),
        "reason": detail.get("reason"),
        "decided_at": entry.at,
        "via": detail.get("via"),
    }


def _invoice(
    row: ExceptionRow, entries: list[EntryText], details: list[dict[str, Any]]
) -> dict[str, Any]:
    claimed = InvoiceSnapshot(row.invoice_key, row.customer_id, row.currency, Decimal(row.amount))
    # A full (v2:) fingerprint was taken from the invoice as Intacct stated it, lines included;
    # an exception approved before that read carries the claim fingerprint of its event.
    stored = InvoiceSnapshot.from_material(row.invoice_snapshot) if row.invoice_snapshot else None
    full = row.invoice_fingerprint.startswith(FULL_PREFIX) and stored is not None
    recomputed = stored.fingerprint() if full and stored else claimed.claim_fingerprint()
    released = None
    for entry, detail in zip(entries, details, strict=True):
        if entry.action in RELEASE_ACTIONS:
            released = {"seq": entry.seq, "at": entry.at, "outcome": entry.action} | detail
    return {
        "as_approved": {
            "key": row.invoice_key,
            "number": row.invoice_number,
            "customer_id": row.customer_id,
            "currency": row.currency,
            "total": str(row.amount),
            "fingerprint": row.invoice_fingerprint,
            "fingerprint_recomputed": recomputed,
            "as_read_from_intacct": row.invoice_snapshot,
        },
        "as_released": released,
    }


def _proof(
    view: Any,
    entries: list[EntryText],
    head: tuple[int, str] | None,
    anchors: Anchors | None,
) -> dict[str, Any] | None:
    """Every link from the exception's first entry to the nearest checkpoint at or after its
    last entry (else to the database's head), with each linked entry's canonical text."""
    if not entries:
        return None
    first, last = entries[0].seq, entries[-1].seq
    checkpoint = None
    if anchors is not None:
        covering = [c for c in anchors.checkpoints if int(c["seq"]) >= last]
        if covering:
            checkpoint = min(covering, key=lambda c: int(c["seq"]))
    if checkpoint is not None:
        end: dict[str, Any] = {"kind": "checkpoint", "file": str(anchors.path) if anchors else None}
        end |= {name: checkpoint[name] for name in ("seq", "hash", "at", "host", "sig")}
        note = "the chain up to a signed checkpoint kept outside the database"
    else:
        assert head is not None
        end = {"kind": "head", "seq": head[0], "hash": head[1]}
        note = (
            "no anchor file is configured: the proof ends at the database's own head"
            if anchors is None
            else "no checkpoint covers these entries yet: the proof ends at the database's head"
        )
    links = [
        {"seq": e.seq, "hash": e.hash, "canonical": e.canonical}
        for e in view.entries(after=first - 1, upto=int(end["seq"]))
    ]
    return {"from_seq": first, "start_prev_hash": entries[0].prev_hash, "links": links} | {
        "ends_at": end,
        "note": note,
    }
