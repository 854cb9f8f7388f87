"""The App Home "my queue" through a running `countersign serve`: published on app_home_opened
with what waits for the person (oldest first, overdue marked, the card's buttons), their
requests and their recent decisions; refreshed through the outbox after a decision, for the
approver and the requester, with no app_home_opened. Each test ends at rest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.slack.ids import ActionId
from tests.e2e.harness import assert_at_rest, wait_for
from tests.e2e.home_stack import Served, served_stack


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Countersign served over the emulators, for this module."""
    with served_stack(tmp_path_factory.mktemp("home")) as running:
        yield running


def _buttons(view: dict[str, Any], label_value: str) -> list[str]:
    """The action ids of the actions block whose buttons carry `label_value`."""
    for block in view["blocks"]:
        if block["type"] == "actions" and block["elements"][0].get("value") == label_value:
            return [e["action_id"] for e in block["elements"]]
    return []


def test_home_is_published_on_app_home_opened(served: Served) -> None:
    """app_home_opened publishes the queue: oldest first, the overdue one marked, each with
    Approve, Reject and Details carrying the card's value; empty sections say so."""
    first = served.open_exception()
    served.card(first)
    dispute = served.open_exception("invoice_dispute", details={"disputed_amount": "200.00"})
    served.card(dispute)
    answer = served.delivery.app_home_opened("U0FINMGR1")
    assert answer.status_code == 200
    shown = served.home("U0FINMGR1", first)
    assert "Waiting for you" in shown
    assert "You are not standing in for anyone right now" in shown
    assert "You have no requests" in shown
    assert dispute not in shown  # billing ops' step, not a finance manager's
    view = served.slack.home_view("U0FINMGR1")
    assert view is not None
    card_value = served.card(first).blocks[-1]["elements"][0]["value"]
    assert _buttons(view, card_value) == [ActionId.APPROVE, ActionId.REJECT, ActionId.DETAILS]
    served.delivery.app_home_opened("U0BILLOPS1")
    ops = served.home("U0BILLOPS1", dispute, absent=first)
    assert "*Waiting for you* (1" in ops
    time.sleep(1.5)  # the dispute's escalation (1 s) is due: the next visit marks it
    served.delivery.app_home_opened("U0BILLOPS1")
    late = served.home("U0BILLOPS1", "*overdue* since")
    assert "(1, 1 overdue)" in late
    served.delivery.app_home_opened("U0OUTSIDER")
    empty = served.home("U0OUTSIDER", "Nothing is waiting for your decision")
    assert "You have not decided anything yet" in empty
    assert_at_rest(served.env["DATABASE_URL"])


def test_home_is_refreshed_after_a_decision(served: Served) -> None:
    """After an approval the approver's and the requester's Homes are republished through the
    outbox (no app_home_opened): it leaves "waiting", shows under "decided by you", the next
    step's approver sees it waiting and the requester sees where it stands."""
    label = served.open_exception(requester="U0BILLOPS1")
    card = served.card(label)
    served.delivery.app_home_opened("U0FINMGR2")
    served.home("U0FINMGR2", label)
    assert_at_rest(served.env["DATABASE_URL"])
    published = len(served.slack.calls("views.publish"))
    click = served.delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR2")
    assert click.status_code == 200
    after = served.home("U0FINMGR2", "you approved it")
    decided = after.split("Decided by you recently", 1)[1]
    assert label in decided
    waiting = after.split("Waiting for you as a delegate", 1)[0]
    assert label not in waiting
    served.home("U0CFO1", label)  # step 2 waits for the CFO: published without a visit
    requester = served.home("U0BILLOPS1", "Step 2 of 2")
    assert label in requester.split("Your requests", 1)[1]
    assert_at_rest(served.env["DATABASE_URL"])
    assert len(served.slack.calls("views.publish")) > published


def test_buttons_on_home_work_as_on_the_card(served: Served) -> None:
    """Details on Home opens the Details modal; Approve on Home records the decision (no
    response_url from a Home click), and the Home is republished without it."""
    label = served.open_exception()
    value = served.card(label).blocks[-1]["elements"][0]["value"]
    served.delivery.app_home_opened("U0FINMGR1")
    served.home("U0FINMGR1", label)
    before = len(served.slack.opened_views())
    assert served.delivery.home_click("U0FINMGR1", ActionId.DETAILS, value).status_code == 200
    modal = wait_for(
        lambda: (
            [
                v
                for v in served.slack.opened_views()[before:]
                if "Customer's receivables" in str(v["blocks"])
            ]
            or None
        ),
        timeout=20,
        what="the Details modal opened from Home",
    )
    assert label in str(modal[-1]["blocks"])
    assert served.delivery.home_click("U0FINMGR1", ActionId.APPROVE, value).status_code == 200
    after = served.home("U0FINMGR1", "you approved it")
    assert label in after.split("Decided by you recently", 1)[1]
    assert label not in after.split("Waiting for you as a delegate", 1)[0]
    assert_at_rest(served.env["DATABASE_URL"])


def test_a_delegate_sees_and_decides_what_waits_for_the_person_they_stand_in_for(
    served: Served,
) -> None:
    """While U0FINMGR1's delegation to U0OUTSIDER runs, the outsider's Home lists what waits
    for U0FINMGR1 under "as a delegate", "for" them, with the card's buttons; Approve there is
    recorded for U0FINMGR1; after `delegate off` the section is empty again."""
    label = served.open_exception()
    value = served.card(label).blocks[-1]["elements"][0]["value"]
    until = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    answer = served.delivery.slash_command(f"delegate <@U0OUTSIDER> until {until}", "U0FINMGR1")
    assert answer.status_code == 200
    wait_for(
        lambda: any("decides your approvals" in str(p["text"])
                    for p in served.slack.response_url_posts()) or None,
        timeout=15, what="the delegation's answer",
    )  # fmt: skip
    served.delivery.app_home_opened("U0OUTSIDER")
    shown = served.home("U0OUTSIDER", "for <@U0FINMGR1>")
    delegated = shown.split("Waiting for you as a delegate", 1)[1].split("Your requests", 1)[0]
    assert label in delegated
    view = served.slack.home_view("U0OUTSIDER")
    assert view is not None
    assert _buttons(view, value) == [ActionId.APPROVE, ActionId.REJECT, ActionId.DETAILS]
    assert served.delivery.home_click("U0OUTSIDER", ActionId.APPROVE, value).status_code == 200
    served.home("U0OUTSIDER", "you approved it")
    assert "for <@U0FINMGR1>" in str(served.card(label).blocks)
    served.delivery.slash_command("delegate off", "U0FINMGR1")
    # ending the delegation refreshes the delegate's Home by itself (no visit needed)
    served.home("U0OUTSIDER", "You are not standing in for anyone right now")
    assert_at_rest(served.env["DATABASE_URL"])
