"""Shared fixtures: a migrated database on SQLite and, when available, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.store.db import Database
from app.store.migrate import upgrade
from tests.databases import scratch_postgres

PG_URL = os.environ.get("COUNTERSIGN_TEST_PG_URL")
IN_CI = os.environ.get("CI") == "true"


def _postgres_database() -> Iterator[str]:
    if not PG_URL:
        if IN_CI:
            pytest.fail("CI=true but COUNTERSIGN_TEST_PG_URL is unset: PostgreSQL tests must run")
        pytest.skip("COUNTERSIGN_TEST_PG_URL not set (make test sets it up)")
    with scratch_postgres(PG_URL, "cs_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'countersign.db'}"
        return
    yield from _postgres_database()


@pytest.fixture
def database_url(blank_database_url: str) -> str:
    """A migrated, empty database URL on each backend."""
    upgrade(blank_database_url)
    return blank_database_url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A Database handle on a migrated, empty database (both backends)."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database URL, for tests that need only one backend."""
    url = f"sqlite:///{tmp_path / 'countersign.db'}"
    upgrade(url)
    return url
