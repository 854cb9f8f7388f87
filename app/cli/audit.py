"""`countersign audit …`: the tamper-evident audit log."""

from __future__ import annotations

import typer

from app.cli.common import open_database, settings

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain (read-only).

    Exit code 0 when the chain holds; 1 naming the first entry that does not hold; 2 when the
    database is missing, unreachable or not migrated.
    """
    from app.store import audit

    database = open_database(settings().DATABASE_URL)
    try:
        with database.transaction() as session:
            result = audit.verify(session)
    finally:
        database.dispose()
    if result.ok:
        typer.echo(f"audit chain intact: {result.entries} entries")
        return
    typer.echo(f"audit chain BROKEN at entry {result.bad_seq}: {result.problem}", err=True)
    raise typer.Exit(1)
