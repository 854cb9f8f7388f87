"""Sage Intacct REST adapter: the client behind InvoicePort, its token cache and typed errors."""

from __future__ import annotations

from app.intacct.client import IntacctClient
from app.intacct.errors import (
    IntacctAuthError,
    IntacctConflict,
    IntacctError,
    IntacctForbidden,
    IntacctNotFound,
    IntacctOutcomeUnknown,
    IntacctRejected,
    IntacctRetryable,
)

__all__ = [
    "IntacctAuthError",
    "IntacctClient",
    "IntacctConflict",
    "IntacctError",
    "IntacctForbidden",
    "IntacctNotFound",
    "IntacctOutcomeUnknown",
    "IntacctRejected",
    "IntacctRetryable",
]
