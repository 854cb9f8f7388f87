"""What every command shares: reading the settings, opening the database, and turning a mistake
into one line. Exit code 2 means the command could not run as asked (usage, configuration,
database); commands use 1 for a problem they found."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from app.config import ConfigError, Settings, settings_for

if TYPE_CHECKING:
    from app.store.db import Database

USAGE = 2


def fail(message: str, code: int = USAGE) -> NoReturn:
    """Print `countersign: message` on stderr and exit with `code`."""
    typer.echo(f"countersign: {message}", err=True)
    raise typer.Exit(code)


def settings(*required: str) -> Settings:
    """The settings from the environment; every bad or missing one is named in one line, exit 2."""
    try:
        return settings_for(*required)
    except ConfigError as error:
        fail(f"configuration error: {error}")


def read_bytes(path: Path) -> bytes:
    """The file's content; a file that cannot be read is one line, exit 2."""
    try:
        return path.read_bytes()
    except OSError as error:
        fail(cannot_read(path, error))


def cannot_read(path: Path, error: OSError) -> str:
    return f"cannot read {path}: {error.strerror or error}"


def shown_url(url: str) -> str:
    """The database URL as it may be printed: any password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable DATABASE_URL)"


def database_reason(error: BaseException) -> str:
    """The driver's own first line for a database error, without SQLAlchemy's decoration."""
    origin = getattr(error, "orig", None) or error
    lines = str(origin).strip().splitlines()
    return lines[0] if lines else type(origin).__name__


def check_database(url: str) -> None:
    """Stop with one line (exit 2) unless the database exists, answers, and has the newest
    schema. Never creates anything: a missing SQLite file is reported, not made."""
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from app.store.db import normalize_url
    from app.store.migrate import alembic_config, current

    shown = shown_url(url)
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            fail(f"DATABASE_URL {shown} must name a file, e.g. sqlite:///./countersign.db")
        if not Path(parsed.database).is_file():
            fail(
                f"no database at {parsed.database} (DATABASE_URL {shown}); "
                "create it with `countersign db upgrade`"
            )
    try:
        revision = current(url)
    except SQLAlchemyError as error:
        fail(f"cannot open the database {shown}: {database_reason(error)}")
    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head()
    if revision == head:
        return
    if revision is None:
        fail(f"the database {shown} has no schema yet; run `countersign db upgrade`")
    if revision in {script.revision for script in scripts.walk_revisions()}:
        fail(
            f"the database {shown} is at schema {revision}, not the newest ({head}); "
            "run `countersign db upgrade`"
        )
    fail(
        f"the database {shown} is at schema {revision}, which this version of Countersign "
        "does not know; upgrade Countersign"
    )


def open_database(url: str) -> Database:
    """A handle on an existing database at the newest schema (else one line, exit 2)."""
    from app.store.db import Database

    check_database(url)
    return Database(url)
