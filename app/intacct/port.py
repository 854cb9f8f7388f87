"""InvoicePort on the Intacct client: Intacct's errors become the outbox's vocabulary."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from app.domain.invoice import InvoiceSnapshot
from app.flows.ports import (
    InvoiceRefused,
    NeedsAttention,
    OutcomeUnknown,
    PostedInvoice,
    RetryLater,
)
from app.intacct.client import IntacctClient
from app.intacct.errors import (
    IntacctAuthError,
    IntacctError,
    IntacctForbidden,
    IntacctOutcomeUnknown,
    IntacctRetryable,
)

T = TypeVar("T")


def translate(call: Callable[[], T]) -> T:
    try:
        return call()
    except IntacctOutcomeUnknown as lost:
        raise OutcomeUnknown(f"Intacct's answer was lost: {lost}", after=lost.retry_after) from None
    except IntacctRetryable as busy:
        raise RetryLater(f"Intacct busy: {busy}", after=busy.retry_after) from None
    except IntacctForbidden as forbidden:
        # A permission is missing (e.g. the sender is not authorised): a person fixes it.
        raise NeedsAttention(f"Intacct refused access (403): {forbidden}") from None
    except IntacctAuthError as auth:
        # Credentials can be fixed without losing the release: keep retrying, loudly.
        raise NeedsAttention(f"Intacct refused our credentials: {auth}") from None
    except IntacctError as refused:
        raise InvoiceRefused(f"Intacct refused: {refused}") from None


class IntacctInvoices:
    def __init__(self, client: IntacctClient) -> None:
        self._client = client

    def get_invoice(self, key: str) -> InvoiceSnapshot:
        return translate(lambda: self._client.get_invoice(key))

    def submit_invoice(self, key: str, *, idempotency_key: str) -> InvoiceSnapshot:
        return translate(lambda: self._client.submit_invoice(key, idempotency_key=idempotency_key))

    def posted_since(self, since: datetime) -> list[PostedInvoice]:
        found = translate(lambda: self._client.posted_since(since))
        return [PostedInvoice(invoice, modified) for invoice, modified in found]
