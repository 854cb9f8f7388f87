"""Details through a running `countersign serve`: the card's Details button opens a modal at
once with what Countersign stores (figures, contract, route and why, policy hash, decisions,
timers and SLA due), then views.update fills in what the Intacct emulator returns (the invoice's
state and dates, the customer's open and overdue receivables, read with the query service).
Each test ends at rest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from app.slack.ids import ActionId
from tests.e2e.harness import assert_at_rest, wait_for
from tests.e2e.home_stack import Served, served_stack


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Countersign served over the emulators, for this module."""
    with served_stack(tmp_path_factory.mktemp("details")) as running:
        yield running


def _receivables(served: Served, customer: tuple[str, str]) -> None:
    """Two posted invoices with money due (one overdue) and one paid, for the customer."""
    for key, amount, due, state in (
        ("AR-OLD", "300.00", date(2026, 10, 1), "posted"),
        ("AR-NEW", "500.00", date(2027, 1, 31), "partiallyPaid"),
        ("AR-PAID", "900.00", date(2026, 9, 1), "paid"),
    ):
        served.intacct.add_invoice(
            f"{key}-{customer[0]}", number=f"{key}-{customer[0]}", customer_id=customer[0],
            customer_name=customer[1], currency="USD", amount=amount, state=state,
            invoice_date=date(2026, 9, 1), due_date=due,
        )  # fmt: skip


def _modal(served: Served, label: str, having: str) -> str:
    def probe() -> str | None:
        for view in served.slack.opened_views():
            shown = json.dumps(view["blocks"], ensure_ascii=False)
            if label in shown and having in shown:
                return shown
        return None

    return wait_for(probe, timeout=20, what=f"the Details of {label} showing {having!r}")


def test_details_opens_with_stored_facts_then_shows_intacct(served: Served) -> None:
    """Details on the card: the modal opens with the stored facts, then is updated in place
    with the invoice as Intacct has it and the customer's open and overdue receivables."""
    customer = ("C-GLOBEX", "Globex & Co")
    _receivables(served, customer)
    label = served.open_exception(customer=customer)
    card = served.card(label)
    buttons = [e["action_id"] for e in card.blocks[-1]["elements"]]
    assert buttons == [
        ActionId.APPROVE,
        ActionId.REJECT,
        ActionId.REQUEST_CHANGES,
        ActionId.DETAILS,
    ]
    answer = served.delivery.click("C0BILLING", card.ts, ActionId.DETAILS, "U0FINMGR1")
    assert answer.status_code == 200
    shown = _modal(served, label, "Customer's receivables")
    views: list[dict[str, Any]] = served.slack.opened_views()
    assert len(views) == 1  # one modal, updated in place (views.update), not a second one
    assert served.slack.calls("views.update")
    assert "usage_units: 1400" in shown
    assert "CT-2026-001" in shown
    assert "*Route* catch-all" in shown
    assert "*Policy* `" in shown
    assert "escalate (level 1) of step 1 due" in shown
    assert "*SLA* due" in shown
    assert f"`countersign evidence {label}` writes this exception's evidence packet" in shown
    assert "Globex &amp; Co" in shown
    assert "*draft*" in shown  # the invoice's state, read live
    assert "open USD 800.00 in 2 invoice(s)" in shown
    assert "overdue USD 300.00 in 1" in shown
    assert "AR-PAID" not in shown
    assert "Reading the invoice" not in shown
    assert_at_rest(served.env["DATABASE_URL"])


def test_details_shows_decisions_with_who_and_when(served: Served) -> None:
    """After an approval, Details lists the decision with who and when."""
    label = served.open_exception()
    card = served.card(label)
    served.delivery.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR2")
    wait_for(lambda: "approved at" in json.dumps(served.card(label).blocks), what="the decision")
    card = served.card(label)
    served.delivery.click("C0BILLING", card.ts, ActionId.DETAILS, "U0CFO1")
    shown = _modal(served, label, "approved step 1 at")
    assert "<@U0FINMGR2> approved step 1 at" in shown
    assert_at_rest(served.env["DATABASE_URL"])
