"""Release against the Intacct emulator over HTTP: lost answers are confirmed by re-reading,
403 needs a person, 422 fails the release, and nothing is ever submitted twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from app.flows.ports import NeedsAttention, OutcomeUnknown, RetryLater
from app.flows.release import Release
from app.intacct import IntacctClient
from app.intacct.port import IntacctInvoices
from app.sandbox.intacct_emulator import FailureKind, IntacctEmulator
from app.store.db import Database
from app.store.tables import AuditEntryRow, ExceptionRow
from tests.factories import T0, open_exception

KEY = "INV-11"  # the invoice tests.factories.open_exception points at
IDEM = "countersign-BX-test-release"


@pytest.fixture
def release(
    db: Database,
    intacct_emulator: IntacctEmulator,
    make_intacct_client: Callable[..., IntacctClient],
) -> Callable[[], int]:
    """An approved exception over a matching Intacct draft; returns a runner of its release."""
    intacct_emulator.add_invoice(
        KEY, number="INV-0011", customer_id="C-ACME", customer_name="Acme Corp",
        currency="USD", amount="1200.00",
    )  # fmt: skip
    exception_id = open_exception(db, state="approved")
    flow = Release(db, IntacctInvoices(make_intacct_client(timeout=0.5)))

    def run() -> int:
        flow({"exception_id": exception_id, "idempotency_key": IDEM}, T0)
        return exception_id

    return run


def _state(db: Database) -> str:
    with db.transaction() as session:
        return session.exec(select(ExceptionRow.state)).one()


def _audit(db: Database, action: str) -> list[dict[str, Any]]:
    with db.transaction() as session:
        rows = session.exec(select(AuditEntryRow).where(AuditEntryRow.action == action)).all()
        return [row.detail for row in rows]


def _submits(emulator: IntacctEmulator) -> list[str | None]:
    return [r.headers.get("Idempotency-Key") for r in emulator.requests("/invoice/submit")]


@pytest.mark.parametrize("kind", ["drop_after_commit", "timeout_after_commit", "500_after_commit"])
def test_lost_submit_answer_is_confirmed_by_rereading(
    db: Database, intacct_emulator: IntacctEmulator, release: Callable[[], int], kind: FailureKind
) -> None:
    """A submit applied but unanswered ends released (confirmed after lost response), one post."""
    intacct_emulator.fail_next("submit", kind, delay=1.0)
    release()
    assert _state(db) == "released"
    (released,) = _audit(db, "invoice.released")
    assert released["confirmed_after_lost_response"] is True
    assert released["intacct_state"] == "posted"
    assert _submits(intacct_emulator) == [IDEM]
    assert intacct_emulator.submissions(KEY) == 1


def test_unapplied_timeout_is_retried_with_the_same_key(
    db: Database, intacct_emulator: IntacctEmulator, release: Callable[[], int]
) -> None:
    """A submit that timed out unapplied leaves a draft: retry later, same Idempotency-Key."""
    intacct_emulator.fail_next("submit", "timeout", delay=1.0)
    with pytest.raises(OutcomeUnknown):
        release()
    assert (_state(db), intacct_emulator.invoice(KEY)["state"]) == ("approved", "draft")
    release()
    assert _state(db) == "released"
    (released,) = _audit(db, "invoice.released")
    assert "confirmed_after_lost_response" not in released
    assert _submits(intacct_emulator) == [IDEM, IDEM]
    assert intacct_emulator.submissions(KEY) == 1
    assert len(_audit(db, "invoice.submit_sent")) == 1


def test_lost_answer_and_failed_reread_confirm_on_the_next_run(
    db: Database, intacct_emulator: IntacctEmulator, release: Callable[[], int]
) -> None:
    """If the re-read fails too, the retried job finds its own submit posted: released, once."""
    intacct_emulator.fail_next("submit", "drop_after_commit")
    intacct_emulator.fail_next("get", "503", after=1, retry_after=0)
    with pytest.raises(RetryLater):
        release()
    assert _state(db) == "approved"
    release()
    assert _state(db) == "released"
    (released,) = _audit(db, "invoice.released")
    assert released["confirmed_after_lost_response"] is True
    assert _submits(intacct_emulator) == [IDEM]


def test_posted_but_changed_after_our_submit_is_blocked_for_a_person(
    db: Database, intacct_emulator: IntacctEmulator, release: Callable[[], int]
) -> None:
    """Our submit posted it, then its total changed: blocked with a note to check Intacct."""
    intacct_emulator.fail_next("submit", "drop_after_commit")
    intacct_emulator.fail_next("get", "503", after=1, retry_after=0)
    with pytest.raises(RetryLater):
        release()
    intacct_emulator.set_amount(KEY, "1300.00")
    release()
    assert _state(db) == "blocked"
    (blocked,) = _audit(db, "invoice.release_blocked")
    assert "posted in Intacct but is no longer the one approved" in blocked["note"]
    assert _submits(intacct_emulator) == [IDEM]


def test_forbidden_submit_needs_a_person_not_a_failed_release(
    db: Database, intacct_emulator: IntacctEmulator, release: Callable[[], int]
) -> None:
    """A 403 raises NeedsAttention and leaves the exception approved; once fixed it releases."""
    intacct_emulator.fail_next("submit", "403")
    with pytest.raises(NeedsAttention) as caught:
        release()
    assert "403" in caught.value.reason
    assert _state(db) == "approved"
    assert _audit(db, "invoice.release_failed") == []
    release()
    assert _state(db) == "released"
    assert intacct_emulator.submissions(KEY) == 1


def test_unprocessable_submit_fails_the_release(
    db: Database, intacct_emulator: IntacctEmulator, release: Callable[[], int]
) -> None:
    """A 422 is Intacct refusing this invoice: the release fails with Intacct's message."""
    intacct_emulator.fail_next("submit", "422")
    release()
    assert _state(db) == "failed"
    (failed,) = _audit(db, "invoice.release_failed")
    assert "cannot be processed" in failed["note"]
    assert intacct_emulator.invoice(KEY)["state"] == "draft"


def test_invoice_posted_outside_countersign_is_blocked_without_a_submit(
    db: Database, intacct_emulator: IntacctEmulator, release: Callable[[], int]
) -> None:
    """An invoice someone else already posted is blocked (it changed); nothing is submitted."""
    intacct_emulator.add_invoice(
        KEY, number="INV-0011", customer_id="C-ACME", customer_name="Acme Corp",
        currency="USD", amount="1200.00", state="posted",
    )  # fmt: skip
    release()
    assert _state(db) == "blocked"
    (blocked,) = _audit(db, "invoice.release_blocked")
    assert "already posted in Intacct, not by Countersign" in blocked["note"]
    assert _submits(intacct_emulator) == []


def test_refused_credentials_need_a_person(
    db: Database,
    intacct_emulator: IntacctEmulator,
    make_intacct_client: Callable[..., IntacctClient],
) -> None:
    """Credentials refused at the token endpoint (401) raise NeedsAttention, not a failure."""
    exception_id = open_exception(db, state="approved")
    flow = Release(db, IntacctInvoices(make_intacct_client(client_secret="rotated-elsewhere")))
    with pytest.raises(NeedsAttention) as caught:
        flow({"exception_id": exception_id, "idempotency_key": IDEM}, T0)
    assert "credentials" in caught.value.reason
    assert _state(db) == "approved"
