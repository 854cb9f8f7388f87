"""The invoice as approvers saw it, and the test that it is still the same invoice at release.

Two fingerprints exist. The *claim* fingerprint (key, customer, currency, total) is what a
billing event states about its invoice; intake stores it, and exceptions opened before lines
were read still carry it (64 hex digits, no prefix). The *full* fingerprint, `v2:` and 61 hex
digits (it fits the same 64-character column), is taken from Intacct's invoice record and covers
the customer, currency, total, invoice and due dates and every line. `matches` compares a
stored fingerprint with the invoice as it is now in the stored one's own version, so an old
fingerprint keeps its meaning.

Sage's AR invoice line (objects.accounts-receivable.invoice-line) carries no quantity, unit
price or service period: a line is its number, GL account, dimensions (the item among them),
amount and memo. Those are what the full fingerprint covers; order-entry documents, which hold
quantities and prices, are not read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

FULL_PREFIX = "v2:"


def _money(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class InvoiceLine:
    """One line of an AR invoice, as Intacct states it."""

    number: int
    amount: Decimal
    gl_account: str | None = None
    item: str | None = None
    memo: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()  # (dimension, id), e.g. ("location", "US")

    def material(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "amount": _money(self.amount),
            "gl_account": self.gl_account,
            "item": self.item,
            "memo": self.memo,
            "dimensions": [list(pair) for pair in self.dimensions],
        }

    def describe(self) -> str:
        """One line for people: "2 · PLATFORM-PACK · 1200.00 (Platform pack, annual)"."""
        parts = [str(self.number), self.item or self.gl_account or "—", _money2(self.amount)]
        return " · ".join(parts) + (f" ({self.memo})" if self.memo else "")

    @classmethod
    def from_material(cls, data: dict[str, Any]) -> InvoiceLine:
        return cls(
            number=int(data["number"]),
            amount=Decimal(str(data["amount"])),
            gl_account=data.get("gl_account"),
            item=data.get("item"),
            memo=data.get("memo"),
            dimensions=tuple((str(a), str(b)) for a, b in data.get("dimensions") or []),
        )


def _money2(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


@dataclass(frozen=True)
class InvoiceSnapshot:
    """The material facts of an invoice: what an approver agrees to when they approve."""

    key: str
    customer_id: str
    currency: str
    total: Decimal
    state: str = "draft"
    number: str | None = None
    invoice_date: date | None = None
    due_date: date | None = None
    lines: tuple[InvoiceLine, ...] = field(default=())

    def claim_fingerprint(self) -> str:
        """The hash of what a billing event states: key, customer, currency and total."""
        material = "|".join([self.key, self.customer_id, self.currency, _money(self.total)])
        return hashlib.sha256(material.encode()).hexdigest()

    def fingerprint(self) -> str:
        """`v2:` and a hash of every material fact read from Intacct; state is excluded (it is
        checked on its own)."""
        text = json.dumps(self.material(), sort_keys=True, separators=(",", ":"))
        return FULL_PREFIX + hashlib.sha256(text.encode()).hexdigest()[: 64 - len(FULL_PREFIX)]

    def matches(self, stored: str) -> bool:
        """Whether this invoice is still the one a stored fingerprint (either version) names."""
        if stored.startswith(FULL_PREFIX):
            return self.fingerprint() == stored
        return self.claim_fingerprint() == stored

    def material(self) -> dict[str, Any]:
        """The facts the full fingerprint covers, as JSON values (what is stored to show later)."""
        return {
            "key": self.key,
            "number": self.number,
            "customer_id": self.customer_id,
            "currency": self.currency,
            "total": _money(self.total),
            "invoice_date": self.invoice_date.isoformat() if self.invoice_date else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "lines": [line.material() for line in self.lines],
        }

    @classmethod
    def from_material(cls, data: dict[str, Any], state: str = "draft") -> InvoiceSnapshot:
        """A snapshot back from `material()` (as stored on the exception)."""
        return cls(
            key=str(data["key"]),
            customer_id=str(data["customer_id"]),
            currency=str(data["currency"]),
            total=Decimal(str(data["total"])),
            state=state,
            number=data.get("number"),
            invoice_date=date.fromisoformat(data["invoice_date"])
            if data.get("invoice_date")
            else None,
            due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
            lines=tuple(InvoiceLine.from_material(line) for line in data.get("lines") or []),
        )


def differences(approved: InvoiceSnapshot, current: InvoiceSnapshot) -> list[str]:
    """What changed between the approved invoice and the current one, one sentence each."""
    found: list[str] = []
    if approved.customer_id != current.customer_id:
        found.append(f"customer {approved.customer_id} → {current.customer_id}")
    if approved.currency != current.currency or approved.total != current.total:
        found.append(
            f"total {approved.currency} {_money2(approved.total)} → "
            f"{current.currency} {_money2(current.total)}"
        )
    for name in ("invoice_date", "due_date"):
        before, after = getattr(approved, name), getattr(current, name)
        if before != after:
            found.append(f"{name.replace('_', ' ')} {before or '—'} → {after or '—'}")
    old = {line.number: line for line in approved.lines}
    new = {line.number: line for line in current.lines}
    for number in sorted(old.keys() | new.keys()):
        was, now = old.get(number), new.get(number)
        if was == now:
            continue
        if was is None and now is not None:
            found.append(f"line added: {now.describe()}")
        elif now is None and was is not None:
            found.append(f"line removed: {was.describe()}")
        elif was is not None and now is not None:
            found.append(f"line {number}: {was.describe()} → {now.describe()}")
    return found
