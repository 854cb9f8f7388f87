"""The end-to-end stack, fresh for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Stack, assert_at_rest, start_stack, stop_stack

POLICIES = str(Path(__file__).parent / "policies")


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    """Slack and Intacct emulators plus Countersign over HTTP, on a fresh database; the test
    fails unless the outbox and timers come to rest after it."""
    running = start_stack(database_url, POLICIES)
    try:
        yield running
        assert_at_rest(database_url)
    finally:
        stop_stack(running)
