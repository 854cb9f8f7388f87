"""`countersign outbox …`: see the outbox's waiting and parked jobs, retry or cancel one.

Exit codes: 0 done; 1 no such job, or it cannot change (already done); 2 the database is
missing, unreachable or behind (nothing is created)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import settings

if TYPE_CHECKING:
    from app.store.db import Database

outbox_app = typer.Typer(
    help="The outbox: Slack and Intacct work waiting, retrying or parked.", no_args_is_help=True
)


class Shown(StrEnum):
    open = "open"  # pending or dead: what needs looking at
    pending = "pending"
    dead = "dead"
    cancelled = "cancelled"
    done = "done"
    all = "all"


JOB_ID = "The job's id (see `countersign outbox list`)."
_STATES = {
    Shown.open: ("pending", "dead"),
    Shown.all: ("pending", "dead", "cancelled", "done"),
}


@contextmanager
def _database() -> Iterator[Database]:
    """The configured database, if it exists, answers and is at the head; else one line, exit 2."""
    from app.store.db import Database
    from app.store.migrate import DatabaseNotReady, require_head

    url = settings().DATABASE_URL
    try:
        require_head(url)
    except DatabaseNotReady as problem:
        typer.echo(f"countersign: {problem}", err=True)
        raise typer.Exit(2) from None
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


@outbox_app.command("list")
def outbox_list(
    state: Annotated[
        Shown, typer.Option(help="Which jobs: open (pending and dead), one state, or all.")
    ] = Shown.open,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
) -> None:
    """Show jobs, newest first: id, kind, state, attempts, exception, last error."""
    from app.domain.lifecycle import exception_label
    from app.store import outbox

    with _database() as database:
        rows = outbox.listing(database, states=_STATES.get(state, (state.value,)), limit=limit)
    if not rows:
        typer.echo(f"no {state.value} outbox jobs")
        return
    typer.echo(f"{'id':>6}  {'kind':<22} {'state':<9} {'tries':>5}  {'exception':<10} last error")
    for row in rows:
        label = exception_label(row.exception_id) if row.exception_id else "-"
        error = " ".join((row.last_error or "-").split())[:100]
        typer.echo(
            f"{row.id:>6}  {row.kind:<22} {row.state:<9} {row.attempts:>5}  {label:<10} {error}"
        )


def _stop_unless_open(job_id: int, before: str | None, kind: str | None) -> str:
    """Exit 1 with one line when there is no such job or it is already done; else `before`."""
    if before is None:
        typer.echo(f"countersign: there is no outbox job {job_id}", err=True)
        raise typer.Exit(1)
    if before == "done":
        typer.echo(f"countersign: outbox job {job_id} ({kind}) is already done", err=True)
        raise typer.Exit(1)
    return before


@outbox_app.command("retry")
def outbox_retry(job_id: Annotated[int, typer.Argument(help=JOB_ID)]) -> None:
    """Try a parked (dead) or cancelled job again with a fresh budget, or a waiting one now."""
    from app.store import outbox

    with _database() as database:
        before, kind = outbox.retry(database, job_id, now=datetime.now(UTC))
    before = _stop_unless_open(job_id, before, kind)
    was = {
        "pending": "was waiting; it is due now",
        "running": "is running now; nothing to retry",
    }.get(before, f"was {before}; pending again")
    typer.echo(f"outbox job {job_id} ({kind}) {was}")


@outbox_app.command("cancel")
def outbox_cancel(job_id: Annotated[int, typer.Argument(help=JOB_ID)]) -> None:
    """Retire a pending or parked job for good (it stays listed as cancelled)."""
    from app.store import outbox

    with _database() as database:
        before, kind = outbox.cancel(database, job_id, now=datetime.now(UTC))
    before = _stop_unless_open(job_id, before, kind)
    if before == "cancelled":
        typer.echo(f"outbox job {job_id} ({kind}) was already cancelled")
        return
    typer.echo(f"outbox job {job_id} ({kind}) cancelled (it was {before})")
