"""`/billing-exceptions` through a running `countersign serve`: every verb is acked at once and
answered through the command's response_url: `list` with each filter, `mine`, `show` (the
Details content as text, Intacct included), `stats`, `help`; the policy's `access` section
refuses people who are not viewers with one line (while `mine` and the exceptions that
concern them stay open to them). Each test ends at rest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.slack.ids import ActionId
from tests.e2e.harness import assert_at_rest, wait_for
from tests.e2e.home_stack import Served, served_stack

ACK = 1.5  # seconds; Slack's deadline is 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Countersign served over the emulators, for this module."""
    with served_stack(tmp_path_factory.mktemp("slash")) as running:
        yield running


def run(served: Served, text: str, user: str) -> str:
    """Type the command as `user`; the reply that comes back through its response_url."""
    before = len(served.slack.response_url_posts())
    started = time.perf_counter()
    answer = served.delivery.slash_command(text, user)
    took = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    assert took < ACK, f"acked after {took:.2f}s"
    if answer.content:  # answered inside the ack (help, a mistake that needs no database)
        return answer.text

    def reply() -> str | None:
        posts: list[dict[str, Any]] = served.slack.response_url_posts()[before:]
        return str(posts[0]["text"]) if posts else None

    return wait_for(reply, timeout=15, what=f"the answer to {text!r}")


@pytest.fixture(scope="module")
def opened(served: Served) -> dict[str, str]:
    """Three open exceptions: two usage anomalies (Acme, Globex) and a dispute (overdue)."""
    labels = {
        "acme": served.open_exception(),
        "globex": served.open_exception(customer=("C-GLOBEX", "Globex & Co")),
        "dispute": served.open_exception("invoice_dispute", details={"disputed": "200.00"}),
    }
    for label in labels.values():
        served.card(label)
    time.sleep(1.2)  # the dispute's escalation (1 s) falls due: it is overdue
    return labels


def test_list_filters_by_type_route_customer_and_overdue(
    served: Served, opened: dict[str, str]
) -> None:
    """`list` shows every open one; each filter narrows it; a bad filter gets one line."""
    everything = run(served, "list", "U0FINMGR1")
    assert all(label in everything for label in opened.values())
    disputes = run(served, "list type=invoice_dispute", "U0FINMGR1")
    assert opened["dispute"] in disputes
    assert opened["acme"] not in disputes
    routed = run(served, "list route=catch-all", "U0BILLOPS1")
    assert opened["acme"] in routed
    assert opened["dispute"] not in routed
    customer = run(served, 'list customer="globex & co"', "U0FINMGR1")
    assert opened["globex"] in customer
    assert opened["acme"] not in customer
    assert "Globex &amp; Co" in customer
    overdue = run(served, "list overdue", "U0FINMGR1")
    assert opened["dispute"] in overdue
    assert "*overdue* since" in overdue
    assert opened["acme"] not in overdue
    wrong = run(served, "list colour=red", "U0FINMGR1")
    assert wrong.startswith("Unknown filter `colour=red`")
    assert_at_rest(served.env["DATABASE_URL"])


def test_mine_show_and_help(served: Served, opened: dict[str, str]) -> None:
    """`mine` lists what waits for the person; `show` gives the Details as text with what
    Intacct says; `help` names every verb, inside the ack."""
    mine = run(served, "mine", "U0BILLOPS1")
    assert opened["dispute"] in mine
    assert opened["acme"] not in mine
    shown = run(served, f"show {opened['globex']}", "U0FINMGR2")
    assert "*Figures*" in shown
    assert "CT-2026-001" in shown
    assert "*Route* catch-all" in shown
    assert "*Invoice in Intacct*" in shown
    assert "Customer's receivables" in shown
    helped = run(served, "help", "U0OUTSIDER")
    for verb in ("list", "mine", "show", "stats", "delegate", "delegate off", "reassign", "help"):
        assert f"`{verb}" in helped
    assert_at_rest(served.env["DATABASE_URL"])


def test_stats_counts_open_decided_and_sla(served: Served, opened: dict[str, str]) -> None:
    """`stats 7d` shows open by route, the time to decision, the share within SLA and the
    oldest open one; a period it does not know gets one line."""
    extra = served.open_exception()
    card = served.card(extra)
    served.delivery.click("C0BILLING", card.ts, ActionId.REJECT, "U0FINMGR1")
    view = wait_for(lambda: served.slack.opened_views() or None, what="the reject modal")
    served.delivery.submit_view(
        view[-1]["id"], "U0FINMGR1", {"cs_reject_reason": {"cs_reject_reason_input": "no, sorry"}}
    )

    def counted() -> str | None:
        answer = run(served, "stats 7d", "U0CFO1")
        return answer if "Decided: 1 " in answer else None

    text = wait_for(counted, timeout=20, what="stats counting the rejection")
    assert "Open by route: catch-all 2, disputes 1" in text
    assert "median" in text
    assert "p90" in text
    assert "Decided within SLA: 100 % (1 of 1 with an SLA)" in text
    assert f"Oldest open: *{opened['acme']}*" in text
    assert run(served, "stats 1y", "U0CFO1").startswith("Unknown period `1y`")
    assert_at_rest(served.env["DATABASE_URL"])


def test_access_refuses_people_who_are_not_viewers(served: Served, opened: dict[str, str]) -> None:
    """Someone outside `access` is refused `list`, `show` and `stats` with one line; `mine`
    still answers them, and so does `show` of an exception they requested."""
    for text in ("list", f"show {opened['acme']}", "stats"):
        refused = run(served, text, "U0OUTSIDER")
        assert refused.startswith("You are not allowed to look at billing exceptions"), text
        assert "\n" not in refused
    assert "Nothing is waiting for you" in run(served, "mine", "U0OUTSIDER")
    own = served.open_exception(requester="U0OUTSIDER")
    served.card(own)
    assert "*Figures*" in run(served, f"show {own}", "U0OUTSIDER")
    assert_at_rest(served.env["DATABASE_URL"])


def test_delegate_and_reassign_go_through_the_same_dispatcher(
    served: Served, opened: dict[str, str]
) -> None:
    """`delegate` and `reassign` are verbs of the one dispatcher: a mistake is answered in the
    ack, `delegate off` with none running says so, and `reassign` is open to the `access`
    admins only (this policy has no `admins` group)."""
    assert "not a date" in run(served, "delegate <@U0FINMGR2> until 24/12/2026", "U0FINMGR1")
    assert "Usage" in run(served, f"reassign {opened['acme']} <@U0FINMGR1>", "U0CFO1")
    assert run(served, "delegate off", "U0FINMGR1") == "You have no active delegation."
    line = f"reassign {opened['acme']} <@U0FINMGR1> <@U0BILLOPS1> on leave"
    assert "Only Countersign admins" in run(served, line, "U0FINMGR2")
    moved = run(served, line, "U0CFO1")  # an `access` admin
    assert "now decides in place of" in moved, moved
    assert_at_rest(served.env["DATABASE_URL"])
