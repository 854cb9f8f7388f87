"""`countersign db …`: create or upgrade the schema."""

from __future__ import annotations

import typer

from app.cli.common import database_reason, fail, settings, shown_url

db_app = typer.Typer(help="The database: create or upgrade its schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the tables, or bring them to the newest schema (safe to run on every deploy).

    Exit code 0 when the schema is at the newest revision; 2 when the database cannot be
    reached or created, or holds a schema this version does not know.
    """
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from app.store.migrate import current, upgrade

    url = settings().DATABASE_URL
    try:
        upgrade(url)
        revision = current(url)
    except SQLAlchemyError as error:
        fail(f"cannot open the database {shown_url(url)}: {database_reason(error)}")
    except CommandError as error:
        fail(f"cannot upgrade the database {shown_url(url)}: {error}")
    typer.echo(f"database at revision {revision}")
