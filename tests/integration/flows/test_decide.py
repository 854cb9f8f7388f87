"""Deciding: authorization, separation of duties, quorum, and one decision per click."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlmodel import select

from app.domain.approval import Actor, Outcome
from app.flows import jobs
from app.flows.decide import DecisionCommand, decide
from app.store.db import Database
from app.store.tables import AuditEntryRow, DecisionRow, ExceptionRow, OutboxRow
from tests.factories import T0, open_exception


def _approve(db: Database, exception_id: int, user: str) -> str:
    result = decide(db, DecisionCommand(exception_id, Actor(user), Outcome.APPROVE), now=T0)
    return result.state


def _rows(db: Database, model: type) -> list:
    with db.transaction() as session:
        return list(session.exec(select(model)).all())


def test_approval_queues_one_release(db: Database) -> None:
    """A final approval commits the decision, the state and exactly one release job."""
    exception_id = open_exception(db)
    assert _approve(db, exception_id, "U0FINMGR1") == "approved"
    kinds = [r.kind for r in _rows(db, OutboxRow)]
    assert kinds.count(jobs.RELEASE) == 1
    assert jobs.UPDATE_CARD in kinds


def test_outsider_is_refused_and_audited(db: Database) -> None:
    """A click by someone not on the step changes nothing and is audited as refused."""
    exception_id = open_exception(db)
    result = decide(db, DecisionCommand(exception_id, Actor("U0OUTSIDER"), Outcome.APPROVE), now=T0)
    assert (result.recorded, result.state) == (False, "open")
    assert _rows(db, DecisionRow) == []
    assert [e.action for e in _rows(db, AuditEntryRow)] == ["decision.refused"]


def test_requester_may_not_approve(db: Database) -> None:
    """The person who requested the exception cannot approve it."""
    exception_id = open_exception(db, requested_by_slack="U0FINMGR1")
    result = decide(db, DecisionCommand(exception_id, Actor("U0FINMGR1"), Outcome.APPROVE), now=T0)
    assert result.recorded is False
    assert "requested" in result.message


def test_two_step_chain_needs_both_steps(db: Database) -> None:
    """Step 1's approval moves to step 2; step 1's approver cannot decide step 2."""
    exception_id = open_exception(
        db,
        steps=[{"approvers": ["U0FINMGR1"], "quorum": 1}, {"approvers": ["U0CFO1"], "quorum": 1}],
    )
    assert _approve(db, exception_id, "U0FINMGR1") == "open"
    assert _approve(db, exception_id, "U0FINMGR1") == "open"  # refused: not on step 2
    assert _approve(db, exception_id, "U0CFO1") == "approved"


def test_quorum_of_two_waits_for_the_second(db: Database) -> None:
    """With quorum 2, one approval keeps it open and the same person cannot count twice."""
    exception_id = open_exception(db, steps=[{"approvers": ["U1A", "U1B", "U1C"], "quorum": 2}])
    assert _approve(db, exception_id, "U1A") == "open"
    assert _approve(db, exception_id, "U1A") == "open"
    assert _approve(db, exception_id, "U1B") == "approved"


def test_reject_records_the_reason(db: Database) -> None:
    """A rejection is final and keeps its reason."""
    exception_id = open_exception(db)
    command = DecisionCommand(exception_id, Actor("U0FINMGR2"), Outcome.REJECT, "price too low")
    assert decide(db, command, now=T0).state == "rejected"
    (decision,) = _rows(db, DecisionRow)
    assert decision.reason == "price too low"
    assert not [r for r in _rows(db, OutboxRow) if r.kind == jobs.RELEASE]


def test_simultaneous_clicks_make_one_decision(db: Database) -> None:
    """Two approvers clicking at once, each twice, yield one decision and one release."""
    exception_id = open_exception(db)
    clicks = ["U0FINMGR1", "U0FINMGR2", "U0FINMGR1", "U0FINMGR2"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(
                lambda u: decide(
                    db, DecisionCommand(exception_id, Actor(u), Outcome.APPROVE), now=T0
                ),
                clicks,
            )
        )
    assert sum(r.recorded for r in results) == 1
    assert len(_rows(db, DecisionRow)) == 1
    assert [r.kind for r in _rows(db, OutboxRow)].count(jobs.RELEASE) == 1
    (row,) = _rows(db, ExceptionRow)
    assert row.state == "approved"
