"""The invoice as approvers saw it, and the test that it is still the same invoice at release."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class InvoiceSnapshot:
    """The material facts of an invoice: what an approver agrees to when they approve."""

    key: str
    customer_id: str
    currency: str
    total: Decimal
    state: str = "draft"
    number: str | None = None

    def fingerprint(self) -> str:
        """A hash of the material facts; state is excluded (it is checked on its own)."""
        material = "|".join(
            [self.key, self.customer_id, self.currency, format(self.total.normalize(), "f")]
        )
        return hashlib.sha256(material.encode()).hexdigest()
