"""`countersign db …`: create or upgrade the schema."""

from __future__ import annotations

import typer

from app.cli.common import settings

db_app = typer.Typer(help="The database: create or upgrade its schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the tables, or bring them to the newest schema (safe to run on every deploy)."""
    from app.store.migrate import current, upgrade

    url = settings().DATABASE_URL
    upgrade(url)
    typer.echo(f"database at revision {current(url)}")
