"""The end-to-end stack, fresh for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Stack, start_stack, stop_stack

POLICIES = str(Path(__file__).parent / "policies")


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    """Slack and Intacct emulators plus Countersign over HTTP, on a fresh database."""
    running = start_stack(database_url, POLICIES)
    try:
        yield running
    finally:
        stop_stack(running)
