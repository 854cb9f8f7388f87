"""Schema migrations with Alembic, driven from code (`countersign db upgrade`), and the checks
that keep a server (or a read-only command) off a database that is missing, unreachable or
behind: each problem is one sentence that says what to do."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, column, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.store.db import make_engine, normalize_url

MIGRATIONS = Path(__file__).parent / "migrations"
UPGRADE_HINT = "run `countersign db upgrade`"
VERSION_TABLE = "alembic_version"


class DatabaseNotReady(Exception):
    """The database cannot be used as it is; the message is one line naming the fix."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (the newest by default)."""
    command.upgrade(alembic_config(url), revision)


@cache
def head() -> str:
    """The newest revision this code knows."""
    found = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert found is not None, "no migrations found"
    return found


def revision_of(connection: Connection) -> str | None:
    """The revision a connected database is at, or None when it has no schema. Read directly
    (Alembic's MigrationContext logs two lines each time: /readyz asks often)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = table(VERSION_TABLE, column("version_num"))
    return connection.execute(select(versions.c.version_num)).scalar()


def schema_problem(revision: str | None) -> str | None:
    """Why a database at `revision` cannot be served, or None when it is at the head."""
    if revision == head():
        return None
    if revision is None:
        return f"the database has no Countersign schema; {UPGRADE_HINT}"
    return f"the database schema is at revision {revision}, not {head()}; {UPGRADE_HINT}"


def shown(url: str) -> str:
    """The URL without its password, fit for a message."""
    return make_url(url).render_as_string(hide_password=True)


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist (connecting would create it)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def current(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return revision_of(connection)
    finally:
        engine.dispose()


def require_head(url: str) -> None:
    """Raise DatabaseNotReady unless the database exists, answers and is at the head.
    Never creates a database (a missing SQLite file stays missing)."""
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise DatabaseNotReady(f"there is no database at {missing}; {UPGRADE_HINT} to create it")
    try:
        revision = current(url)
    except DBAPIError as error:
        reason = (str(error.orig or error).strip().splitlines() or ["no answer"])[0]
        raise DatabaseNotReady(
            f"cannot reach the database at {shown(url)} ({reason[:200]}); check DATABASE_URL"
        ) from None
    problem = schema_problem(revision)
    if problem is not None:
        raise DatabaseNotReady(problem)
