"""A local Sage Intacct REST emulator (AR invoices: read, submit; OAuth2; idempotency).

Run it for another process with `python -m app.sandbox.intacct_emulator --port 3002`.
"""

from __future__ import annotations

from app.sandbox.intacct_emulator.emulator import IntacctEmulator
from app.sandbox.intacct_emulator.failures import FailureKind, Operation
from app.sandbox.intacct_emulator.recording import RecordedRequest

__all__ = ["FailureKind", "IntacctEmulator", "Operation", "RecordedRequest"]
