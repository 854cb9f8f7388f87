"""`python -m app.sandbox.intacct_emulator [--port 3002] [--seed-example]`: serve until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Sequence

from app.sandbox.intacct_emulator.emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_KEY,
    IntacctEmulator,
)

EXAMPLE_INVOICES = (
    ("INV-KEY-1001", "INV-1001", "C-ACME", "Acme Logistics Inc.", "USD", "12450.00"),
    ("INV-KEY-1002", "INV-1002", "C-NORD", "Nordlicht Software GmbH", "EUR", "8730.50"),
    ("INV-KEY-1003", "INV-1003", "C-BLUE", "Bluewater Health Partners", "USD", "1999.99"),
    ("INV-KEY-1004", "INV-1004", "C-ATEL", "Atelier Rousseau SARL", "EUR", "46200.00"),
)


def seed_example(emulator: IntacctEmulator) -> None:
    """Add a few draft invoices with realistic customers and USD/EUR amounts."""
    for key, number, customer_id, customer_name, currency, amount in EXAMPLE_INVOICES:
        emulator.add_invoice(
            key,
            number=number,
            customer_id=customer_id,
            customer_name=customer_name,
            currency=currency,
            amount=amount,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Sage Intacct REST emulator (sandbox)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3002)
    parser.add_argument("--client-id", default=SANDBOX_CLIENT_ID)
    parser.add_argument("--client-secret", default=SANDBOX_CLIENT_KEY)
    parser.add_argument("--token-ttl", type=int, default=3600)
    parser.add_argument("--seed-example", action="store_true", help="add example drafts")
    args = parser.parse_args(argv)
    emulator = IntacctEmulator(
        client_id=args.client_id,
        client_secret=args.client_secret,
        host=args.host,
        port=args.port,
        token_ttl=args.token_ttl,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with emulator:
        if args.seed_example:
            seed_example(emulator)
        print(emulator.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()


if __name__ == "__main__":
    main()
