"""The card as people read it: the pending step while open, the outcome once decided, and
exception types spelled as finance writes them."""

from __future__ import annotations

import json
from typing import Any

from app.domain.approval import Actor, Outcome
from app.domain.events import ExceptionType
from app.flows.decide import DecisionCommand, decide
from app.flows.notify import build_card
from app.slack.render import BlockRenderer
from app.store.db import Database
from app.store.tables import ExceptionRow
from tests.factories import T0, open_exception

TWO_STEPS = [
    {"approvers": ["U0FINMGR1", "U0FINMGR2"], "quorum": 1},
    {"approvers": ["U0CFO1"], "quorum": 1},
]


def rendered(db: Database, exception_id: int) -> tuple[str, list[dict[str, Any]]]:
    """The card's fallback text and blocks, built from the stored exception as the outbox does."""
    with db.transaction() as session:
        row = session.get(ExceptionRow, exception_id)
        assert row is not None
        card = build_card(session, row)
    return BlockRenderer().card(card)


def context_line(blocks: list[dict[str, Any]]) -> str:
    (context,) = [block for block in blocks if block["type"] == "context"]
    return str(context["elements"][0]["text"])


def approve(db: Database, exception_id: int, user: str) -> None:
    decide(db, DecisionCommand(exception_id, Actor(user), Outcome.APPROVE), now=T0)


def test_open_card_shows_the_pending_step(db: Database) -> None:
    """While open, the card names the step, the quorum in words and who may approve."""
    exception_id = open_exception(db, steps=TWO_STEPS)
    _, blocks = rendered(db, exception_id)
    assert context_line(blocks) == (
        "Step 1 of 2: 1 of 2 approvers must approve: <@U0FINMGR1>, <@U0FINMGR2>"
    )


def test_finally_approved_card_shows_the_outcome_not_the_pending_line(db: Database) -> None:
    """After the last step's approval the card says the approval is complete, with no buttons."""
    exception_id = open_exception(db, steps=TWO_STEPS)
    approve(db, exception_id, "U0FINMGR1")
    approve(db, exception_id, "U0CFO1")
    text, blocks = rendered(db, exception_id)
    assert context_line(blocks) == "Approval complete: 2 steps approved"
    assert "must approve" not in json.dumps(blocks)
    assert all(block["type"] != "actions" for block in blocks)
    assert "Non-standard discount" in blocks[0]["text"]["text"]
    assert "Non-standard discount" in text


def test_rejected_card_says_at_which_step(db: Database) -> None:
    """A rejection on step 2 shows "Rejected at step 2 of 2" and who rejected."""
    exception_id = open_exception(db, steps=TWO_STEPS)
    approve(db, exception_id, "U0FINMGR1")
    decide(
        db,
        DecisionCommand(exception_id, Actor("U0CFO1"), Outcome.REJECT, reason="too deep"),
        now=T0,
    )
    _, blocks = rendered(db, exception_id)
    assert context_line(blocks) == "Rejected at step 2 of 2"
    assert "<@U0CFO1> rejected at" in json.dumps(blocks)


def test_type_labels_read_as_finance_writes_them() -> None:
    """Each exception type has the label finance people use, hyphens included."""
    assert [t.label for t in ExceptionType] == [
        "Non-standard discount",
        "Mid-cycle amendment",
        "Invoice dispute",
        "Usage anomaly",
        "Credit request",
    ]
