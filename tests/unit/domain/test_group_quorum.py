"""Quorum across groups: approvals matched to each group's seats, a person counting once."""

from __future__ import annotations

from app.domain.approval import Outcome, StepRule, after_decision
from app.domain.lifecycle import State
from app.domain.quorum import Requirement, describe_needs, met, names_of, reachable, shortfall

OPS = Requirement("billing_ops", ("U0ANA", "U0BOTH"), 1)
FIN = Requirement("finance", ("U0BOTH", "fin@example.com"), 1)


def test_one_from_each_group_meets_the_step() -> None:
    """One approval from billing ops and one from finance meet a two-group step."""
    assert met([OPS, FIN], [names_of("U0ANA"), names_of("U0FIN", "FIN@example.com")])


def test_a_person_in_two_groups_counts_for_one() -> None:
    """Someone in both groups fills one seat: the other group is still short."""
    assert sum(n for _, n in shortfall([OPS, FIN], [names_of("U0BOTH")])) == 1
    assert met([OPS, FIN], [names_of("U0BOTH"), names_of("U0ANA")])


def test_the_matching_moves_a_two_group_person_to_where_they_are_needed() -> None:
    """U0BOTH first counted for ops moves to finance when U0ANA (ops only) approves."""
    assert met([OPS, FIN], [names_of("U0BOTH"), names_of("U0ANA")])
    assert describe_needs(shortfall([OPS, FIN], [names_of("U0ANA")])) == "1 more from finance"


def test_a_stand_in_outside_every_group_fills_any_seat() -> None:
    """An escalated approver in no group stands in for the group that is short."""
    assert met([OPS, FIN], [names_of("U0ANA"), names_of("U0CTRL")])


def test_reachable_counts_who_is_left() -> None:
    """With only ops members left, a step still missing finance cannot be met."""
    assert not reachable([OPS, Requirement("finance", ("U0FIN",), 1)], [names_of("U0ANA")], [])
    assert reachable([OPS, Requirement("finance", ("U0FIN",), 1)], [names_of("U0ANA")], ["U0FIN"])


def test_after_decision_waits_for_every_group() -> None:
    """A step with groups does not pass on a count alone: each group must be met."""
    ops = Requirement("billing_ops", ("U0ANA", "U0AL"), 1)
    step = StepRule(("U0ANA", "U0AL", "U0BOTH", "fin@example.com"), 2, (ops, FIN))
    one_group = [names_of("U0ANA"), names_of("U0AL")]
    progress = after_decision(
        Outcome.APPROVE, step=0, steps=[step], approvals_in_step=2, approved=one_group
    )
    assert progress.state is State.OPEN
    both = [names_of("U0ANA"), names_of("U0X", "fin@example.com")]
    done = after_decision(Outcome.APPROVE, step=0, steps=[step], approvals_in_step=2, approved=both)
    assert done.state is State.APPROVED
