"""Fixtures for the Intacct client and emulator tests: a running emulator, a movable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.intacct import IntacctClient
from app.sandbox.intacct_emulator import IntacctEmulator

INTACCT_CLIENT_ID = "sandbox-client-id"
INTACCT_CLIENT_SECRET = "sandbox-client-secret-not-real"
INTACCT_USERNAME = "countersign-bot@DEMO-CO"
DRAFT_KEY = "INV-KEY-1001"


class ManualClock:
    """An aware-UTC clock that only moves when a test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def intacct_clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))


@pytest.fixture
def intacct_emulator() -> Iterator[IntacctEmulator]:
    with IntacctEmulator(client_id=INTACCT_CLIENT_ID, client_secret=INTACCT_CLIENT_SECRET) as emu:
        emu.add_invoice(
            DRAFT_KEY,
            number="INV-1001",
            customer_id="C-ACME",
            customer_name="Acme Logistics Inc.",
            currency="USD",
            amount="1234.50",
        )
        yield emu


@pytest.fixture
def make_intacct_client(
    intacct_emulator: IntacctEmulator, intacct_clock: ManualClock
) -> Iterator[Callable[..., IntacctClient]]:
    clients: list[IntacctClient] = []

    def make(**overrides: Any) -> IntacctClient:
        settings: dict[str, Any] = {
            "base_url": intacct_emulator.base_url,
            "client_id": INTACCT_CLIENT_ID,
            "client_secret": INTACCT_CLIENT_SECRET,
            "username": INTACCT_USERNAME,
            "clock": intacct_clock,
            "timeout": 5.0,
        }
        settings.update(overrides)
        client = IntacctClient(**settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def intacct_client(make_intacct_client: Callable[..., IntacctClient]) -> IntacctClient:
    return make_intacct_client()
