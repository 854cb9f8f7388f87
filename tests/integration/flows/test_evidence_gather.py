"""Evidence packets on each database: a decided exception's packet verifies on its own, proves
its entries to the database head or to a signed checkpoint, and an edit is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.domain.approval import Actor, Outcome
from app.evidence.check import PacketBroken, sums_text, verify
from app.evidence.gather import Anchors, gather, read_anchor_lines
from app.evidence.write import write
from app.flows.decide import DecisionCommand, decide
from app.flows.notify import build_card, card_record
from app.store import anchor, audit
from app.store.db import Database
from app.store.tables import ExceptionRow
from tests.factories import T0, open_exception

KEY = "test-anchor-key-not-a-real-secret"


def test_packet_proves_to_the_head_then_to_a_checkpoint(db: Database, tmp_path: Path) -> None:
    """Without anchors the proof ends at the head (said so); with a checkpoint it ends there,
    its signature checked; the decision shows the name Slack gave."""
    exception_id = open_exception(db)
    actor = Actor("U0FINMGR1", "fin.one@example.com", name="Finley One")
    decide(db, DecisionCommand(exception_id, actor, Outcome.APPROVE), now=T0)

    plain = gather(db, exception_id, T0, None)
    write(plain, tmp_path / "plain", pdf=False)
    checked = verify(tmp_path / "plain", None)
    assert checked.ends_at == "head"
    assert plain["audit"]["proof"]["note"].startswith("no anchor file is configured")
    assert plain["decisions"][0]["name"] == "Finley One"
    assert plain["event"] is None  # the factory stores no event: the packet says so

    anchors = tmp_path / "anchors.jsonl"
    anchor.write_checkpoint(db, anchors, KEY, T0)
    signed = gather(db, exception_id, T0, Anchors(anchors, read_anchor_lines(anchors)))
    write(signed, tmp_path / "signed", pdf=False)
    result = verify(tmp_path / "signed", KEY)
    assert (result.ends_at, result.signature_checked) == ("checkpoint", True)
    with pytest.raises(PacketBroken, match="signature does not match"):
        verify(tmp_path / "signed", "another-key-of-sixteen-chars")


def test_an_edited_audit_entry_is_caught(db: Database, tmp_path: Path) -> None:
    """Rewriting an entry's actor (and re-sealing SHA256SUMS) breaks the packet."""
    exception_id = open_exception(db)
    decide(db, DecisionCommand(exception_id, Actor("U0FINMGR1"), Outcome.APPROVE), now=T0)
    folder = tmp_path / "packet"
    packet = gather(db, exception_id, T0, None)
    packet["audit"]["entries"][0]["actor"] = "U0SOMEONE"
    write(packet, folder, pdf=False)
    (folder / "SHA256SUMS").write_text(sums_text(folder, ["packet.json", "packet.html"]))
    with pytest.raises(PacketBroken, match="is not what was hashed"):
        verify(folder, None)
    assert json.loads((folder / "packet.json").read_text())["exception"]["id"] == exception_id


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        ("card", "the card of audit entry"),
        ("decision", "the decision of audit entry"),
        ("entry", "of this exception is missing from the packet"),
    ],
)
def test_a_left_out_part_is_caught(db: Database, tmp_path: Path, cut: str, problem: str) -> None:
    """Dropping a card, a decision or an audit entry from the packet (and re-sealing it) is
    caught against the audit entries and the chain."""
    exception_id = open_exception(db)
    with db.transaction() as session:  # the card posted, recorded as the Slack job records it
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        detail = {"channel": "C0BILLING", "ts": "1.2"} | card_record(build_card(session, row))
        audit.append(
            session,
            at=T0,
            actor="countersign",
            action="card.posted",
            exception_id=exception_id,
            detail=detail,
        )
    decide(db, DecisionCommand(exception_id, Actor("U0FINMGR1"), Outcome.APPROVE), now=T0)
    packet = gather(db, exception_id, T0, None)
    assert [card["action"] for card in packet["cards"]] == ["card.posted"]
    if cut == "card":
        packet["cards"] = []
    elif cut == "decision":
        packet["decisions"] = []
    else:  # the card's entry and the card: only the chain still shows them
        packet["cards"] = []
        packet["audit"]["entries"] = packet["audit"]["entries"][1:]
    folder = tmp_path / "packet"
    write(packet, folder, pdf=False)
    with pytest.raises(PacketBroken, match=problem):
        verify(folder, None)
