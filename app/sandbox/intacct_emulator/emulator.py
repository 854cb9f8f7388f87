"""IntacctEmulator: the Sage Intacct REST API (AR invoice subset) on a loopback port."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from app.sandbox.emulator_kit.background import BackgroundServer
from app.sandbox.intacct_emulator.failures import FailureKind, FailureQueue, Operation
from app.sandbox.intacct_emulator.recording import RecordedRequest, RequestLog
from app.sandbox.intacct_emulator.server import API_PREFIX, EmulatorServer, Router
from app.sandbox.intacct_emulator.state import CompanyState

# Obviously fake sandbox credentials (the client secret the emulator expects by default).
SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_KEY = "sandbox-client-secret-not-real"


class IntacctEmulator(BackgroundServer[EmulatorServer]):
    """A real HTTP server in a background thread, with test controls for state and failures.

    Credentials default to obviously fake sandbox values; nothing here talks to Sage.
    """

    thread_name = "intacct-emulator"

    def __init__(
        self,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl: int = 3600,
    ) -> None:
        super().__init__()
        self._host = host
        self._port = port
        self._state = CompanyState(
            client_id=client_id, client_secret=client_secret, token_ttl=token_ttl
        )
        self._failures = FailureQueue()
        self._log = RequestLog()

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"IntacctEmulator({where})"

    def _make_server(self) -> EmulatorServer:
        return EmulatorServer(
            (self._host, self._port), Router(self._state, self._failures, self._log), self._log
        )

    def _before_shutdown(self, server: EmulatorServer) -> None:
        server.stopping.set()  # wake handlers stalled by an injected timeout

    @property
    def base_url(self) -> str:
        return f"{self._base_url()}{API_PREFIX}"

    # -- state ----------------------------------------------------------------------------------

    def add_invoice(
        self,
        key: str,
        *,
        number: str,
        customer_id: str,
        customer_name: str,
        currency: str,
        amount: str | Decimal,
        state: str = "draft",
        invoice_date: date | None = None,
        due_date: date | None = None,
        lines: list[dict[str, Any]] | None = None,
    ) -> None:
        """Store an AR invoice (draft by default); amounts are decimal strings or Decimal.
        `lines` ({item, amount, memo?}) must add up to `amount`; by default one line holds it."""
        self._state.add_invoice(
            key,
            number=number,
            customer_id=customer_id,
            customer_name=customer_name,
            currency=currency,
            amount=amount,
            state=state,
            invoice_date=invoice_date,
            due_date=due_date,
            lines=lines,
        )

    def invoice(self, key: str) -> dict[str, Any]:
        """The stored record, in the objects.accounts-receivable.invoice shape."""
        return self._state.invoice(key)

    def set_amount(self, key: str, amount: str | Decimal) -> None:
        """Simulate someone editing the invoice total after it was approved."""
        self._state.set_amount(key, amount)

    def post_outside(self, key: str) -> None:
        """Simulate someone posting the draft in Intacct itself, not through Countersign."""
        self._state.post_outside(key)

    def edit_invoice(
        self, key: str, *, lines: list[dict[str, Any]] | None = None, due_date: date | None = None
    ) -> None:
        """Simulate someone editing the invoice's lines (the totals follow) or due date."""
        self._state.edit(key, lines=lines, due_date=due_date)

    def submissions(self, key: str | None = None) -> int:
        """How many draft→posted transitions happened (for one invoice, or in total)."""
        return self._state.submissions(key)

    def requests(self, path_contains: str | None = None) -> list[RecordedRequest]:
        """API requests received so far (admin calls excluded), credentials redacted."""
        return self._log.select(path_contains)

    # -- failures -------------------------------------------------------------------------------

    def fail_next(
        self,
        operation: Operation,
        kind: FailureKind,
        *,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 2.0,
        after: int = 0,
    ) -> None:
        """Make the next `times` requests of an operation fail this way (see failures.Failure),
        after letting `after` of them through."""
        self._failures.add(
            operation, kind, times=times, retry_after=retry_after, delay=delay, after=after
        )

    def expire_tokens(self, *, status: Literal[400, 401] = 401) -> None:
        """Invalidate every issued token; the next API call gets `status` with an ia::error.

        status=400 reproduces the SDK-reported variant whose message is "Invalid token".
        """
        self._state.expire_tokens(status)
