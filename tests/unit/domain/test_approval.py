"""Who may decide, and what a decision does to the exception."""

from __future__ import annotations

import pytest

from app.domain.approval import (
    Actor,
    Outcome,
    Requester,
    StepRule,
    after_decision,
    authorize,
)
from app.domain.errors import InvalidTransition, NotAuthorized
from app.domain.lifecycle import State, exception_label, move, parse_label

MANAGERS = StepRule(("U0FINMGR1", "fin.two@example.com"), quorum=1)
NOBODY = Requester(None, None)


def test_approver_by_id_may_decide() -> None:
    """A Slack user id listed on the step may decide."""
    authorize(Actor("U0FINMGR1"), MANAGERS, NOBODY)


def test_approver_by_email_may_decide_case_insensitively() -> None:
    """A person listed by e-mail may decide when Slack gives their address, in any case."""
    authorize(Actor("U0FINMGR2", "Fin.Two@Example.com"), MANAGERS, NOBODY)


def test_outsider_is_refused() -> None:
    """Someone not on the step is refused with a message fit to show them."""
    with pytest.raises(NotAuthorized, match="not an approver"):
        authorize(Actor("U0OUTSIDER", "outsider@example.com"), MANAGERS, NOBODY)


def test_requester_cannot_approve_own_request() -> None:
    """Separation of duties: the requester is refused even when listed as an approver."""
    with pytest.raises(NotAuthorized, match="requested this exception"):
        authorize(Actor("U0FINMGR1"), MANAGERS, Requester("U0FINMGR1", None))


TWO_STEPS = [StepRule(("A", "B", "C"), quorum=2), StepRule(("D",), quorum=1)]


@pytest.mark.parametrize(
    ("outcome", "step", "approvals", "expected"),
    [
        (Outcome.APPROVE, 0, 1, (State.OPEN, 0, False)),
        (Outcome.APPROVE, 0, 2, (State.OPEN, 1, False)),
        (Outcome.APPROVE, 1, 1, (State.APPROVED, 1, True)),
        (Outcome.REJECT, 0, 0, (State.REJECTED, 0, True)),
        (Outcome.REJECT, 1, 0, (State.REJECTED, 1, True)),
    ],
)
def test_quorum_and_chain(
    outcome: Outcome, step: int, approvals: int, expected: tuple[State, int, bool]
) -> None:
    """Quorum holds a step open, a met quorum advances, the last step approves, a no rejects."""
    progress = after_decision(outcome, step=step, steps=TWO_STEPS, approvals_in_step=approvals)
    assert (progress.state, progress.step, progress.final) == expected


def test_final_states_cannot_move() -> None:
    """A released exception can never be reopened or rejected."""
    with pytest.raises(InvalidTransition):
        move(State.RELEASED, State.REJECTED)


def test_labels_round_trip() -> None:
    """BX labels are zero-padded and parse back from several spellings."""
    assert exception_label(123) == "BX-000123"
    assert parse_label("BX-000123") == parse_label("bx-123") == parse_label("123") == 123
    with pytest.raises(ValueError, match="not an exception id"):
        parse_label("INV-1")
