"""`/billing-exceptions` filters are parsed strictly, and the `access` rules decide who may
look: viewers and admins everything, others only what concerns them, everyone without rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.approval import Actor
from app.flows import access
from app.flows.listing import Filters
from app.routing.admins import is_admin
from app.routing.loader import load_policy_set
from app.routing.policy_set import Access, PolicySet
from app.slack.command_verbs import Refused, parse_filters, wanted_label
from app.slack.listeners.commands import quick_answer

RULES = Access(viewers=("U0VIEW1", "ops@example.com"), admins=("U0ADMIN1",))


def test_filters_are_read_with_quotes_and_the_overdue_flag() -> None:
    """key=value and key:value both work; quoted values keep their spaces."""
    assert parse_filters('type=invoice_dispute customer:"Acme Inc" overdue') == Filters(
        type="invoice_dispute", customer="Acme Inc", overdue=True
    )
    assert parse_filters("") == Filters()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("colour=red", "Unknown filter `colour=red`"),
        ("type=refund", "Unknown type `refund`"),
        ('customer="open', "Cannot read the filters"),
        ("route=", "Unknown filter `route=`"),
    ],
)
def test_a_bad_filter_is_one_line(text: str, said: str) -> None:
    """Each mistake in the filters is refused with one line naming it."""
    with pytest.raises(Refused) as refused:
        parse_filters(text)
    assert str(refused.value).startswith(said)
    assert "\n" not in str(refused.value)


def test_show_ids_are_checked_before_any_work() -> None:
    """`show` with something that is no id is answered in the ack; a real id is not."""
    assert wanted_label("BX-000012") == 12
    assert "is not an exception id" in (quick_answer("show banana") or "")
    assert quick_answer("show BX-000012") is None
    assert "Unknown command `approve`" in (quick_answer("approve BX-1") or "")


def test_access_rules() -> None:
    """Viewers (by id or e-mail) and admins see everything; others what concerns them."""
    assert access.may_view_all(RULES, Actor("U0VIEW1"))
    assert access.may_view_all(RULES, Actor("U0OPS9", "OPS@example.com"))
    assert access.may_view_all(RULES, Actor("U0ADMIN1"))
    assert not access.may_view_all(RULES, Actor("U0OUTSIDER"))
    assert access.may_view(RULES, Actor("U0OUTSIDER"), ("U0OUTSIDER",))
    assert not access.may_view(RULES, Actor("U0OUTSIDER"), ("U0OTHER",))
    assert access.may_view_all(None, Actor("U0OUTSIDER"))  # no section: as before


def test_admins_are_the_access_admins_else_the_admins_group(tmp_path: Path) -> None:
    """With an `access` section its admins are the admins (the `admins` group is not); without
    one, the `admins` group's members are; with neither, nobody is."""
    without = _policy(tmp_path / "without", "admins: [U0GROUPADM]\n")
    assert is_admin(without, Actor("U0GROUPADM"))
    assert not is_admin(without, Actor("U0CFO1"))
    section = "access: {viewers: [U0VIEW1], admins: [group:cfo]}\n"
    with_access = _policy(tmp_path / "with", "admins: [U0GROUPADM]\n", section)
    assert is_admin(with_access, Actor("U0CFO1"))
    assert not is_admin(with_access, Actor("U0GROUPADM"))
    neither = _policy(tmp_path / "neither", "")
    assert not is_admin(neither, Actor("U0CFO1"))


def _policy(folder: Path, admins_group: str, section: str = "") -> PolicySet:
    folder.mkdir()
    (folder / "policy.yml").write_text(
        "version: 1\ngroups:\n  cfo: [U0CFO1]\n"
        + (f"  {admins_group}" if admins_group else "")
        + "defaults: {channel: C0BILLING, calendar: none}\n"
        + "routes: [{name: all, steps: [{approvers: [U0CFO1]}]}]\n"
        + section
    )
    return load_policy_set(folder)
