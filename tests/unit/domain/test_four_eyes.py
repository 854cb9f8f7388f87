"""Four eyes: a click counts only on the card it was made on, one person decides one step,
identity checks fail closed, and quorum counts people rather than approver entries."""

from __future__ import annotations

import pytest

from app.domain.approval import (
    Actor,
    CardRef,
    IdentityUnknown,
    Requester,
    StaleCard,
    StepRule,
    authorize,
    candidates,
    check_card,
    quorum_reachable,
)
from app.domain.errors import NotAuthorized

STEP = StepRule(("U0FINMGR1", "fin.two@example.com"), quorum=1)
NOBODY = Requester(None, None)
LIMITED = Actor("U0FINMGR2", None, unconfirmed="ratelimited")


def test_current_card_passes() -> None:
    """A click on the current step at the current version is accepted."""
    check_card(CardRef(5, 1, 2), current_step=1, version=2)


def test_click_on_a_decided_step_is_stale() -> None:
    """A click naming step 1 once step 2 is current says step 1 is already decided."""
    with pytest.raises(StaleCard, match="This card changed: step 1 of BX-000005 is already"):
        check_card(CardRef(5, 0, 0), current_step=1, version=1)


def test_click_on_an_older_version_of_the_current_step_counts() -> None:
    """Same step, other approvals recorded since the card was rendered: the click still counts."""
    check_card(CardRef(5, 0, 0), current_step=0, version=1)


@pytest.mark.parametrize(("step", "version"), [(2, 1), (1, 9)])
def test_card_from_the_future_is_refused(step: int, version: int) -> None:
    """A step or version beyond the exception's (a forged value) is refused."""
    with pytest.raises(StaleCard, match="does not match the card of BX-000005"):
        check_card(CardRef(5, step, version), current_step=1, version=1)


def test_card_from_before_steps_were_named_is_refreshed() -> None:
    """A button carrying only the exception id (an old card) is refused as out of date."""
    with pytest.raises(StaleCard, match="out of date and is being refreshed"):
        check_card(CardRef(5, -1, -1), current_step=0, version=0)


def test_approver_by_email_while_directory_fails_is_told_why() -> None:
    """Listed only by e-mail, and Slack could not say who you are: the reason, not 'not an
    approver'."""
    with pytest.raises(IdentityUnknown, match=r"Could not confirm your identity .*\(ratelimited\)"):
        authorize(LIMITED, STEP, NOBODY)


def test_approver_by_id_needs_no_directory_unless_the_requester_is_known_by_email() -> None:
    """Listed by id: the directory's failure does not matter while the requester has an id."""
    actor = Actor("U0FINMGR1", None, unconfirmed="ratelimited")
    authorize(actor, STEP, Requester("U0REQUEST1", "sales.rep@example.com"))
    with pytest.raises(IdentityUnknown):
        authorize(actor, STEP, Requester(None, "sales.rep@example.com"))


def test_requester_by_email_is_refused() -> None:
    """The requester named only by e-mail is recognised through the directory's address."""
    with pytest.raises(NotAuthorized, match="You requested"):
        authorize(
            Actor("U0FINMGR1", "Fin.One@Example.com"), STEP, Requester(None, "fin.one@example.com")
        )


def test_requester_by_email_and_no_address_from_slack_fails_closed() -> None:
    """Slack gives no e-mail for the clicker and the requester is known by e-mail: refused."""
    with pytest.raises(NotAuthorized, match="gives no e-mail address"):
        authorize(Actor("U0FINMGR1", None), STEP, Requester(None, "fin.one@example.com"))


def test_person_who_decided_another_step_is_refused() -> None:
    """One person, one step: having decided step 1 refuses step 2, naming the rule."""
    with pytest.raises(NotAuthorized, match=r"already decided step 1 .* different person"):
        authorize(Actor("U0FINMGR1"), STEP, NOBODY, decided_other_steps=[0])


def test_quorum_counts_people_listed_by_id_and_email_once() -> None:
    """Ana listed as U0ANA and ana@example.com, quorum 2: once she approved, nobody is left."""
    step = StepRule(("U0ANA", "ana@example.com", "U0BEN"), quorum=2)
    ana = Actor("U0ANA", "ana@example.com")
    assert candidates(step, excluded=[ana], requester=NOBODY) == ("U0BEN",)
    assert quorum_reachable(step, 1, excluded=[ana], requester=NOBODY)
    alone = StepRule(("U0ANA", "ana@example.com"), quorum=2)
    assert not quorum_reachable(alone, 1, excluded=[ana], requester=NOBODY)


def test_requester_entries_do_not_count_toward_quorum() -> None:
    """An approver entry naming the requester can never give an approval."""
    step = StepRule(("U0ANA", "ben@example.com"), quorum=2)
    assert not quorum_reachable(step, 0, excluded=[], requester=Requester(None, "Ben@example.com"))
