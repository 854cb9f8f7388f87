"""`countersign events …`: import billing events from a file; list the rejected ones."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from app.cli.common import cannot_read, fail, open_database
from app.cli.common import settings as load
from app.domain.import_formats import FileFormat, ImportFileError, format_for, read_records

if TYPE_CHECKING:
    from app.flows.importing import Tally
    from app.routing import PolicySet

events_app = typer.Typer(
    help="Billing events: import them from a file; see the rejected ones.", no_args_is_help=True
)


@events_app.command("import")
def events_import(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help='JSON (one event, a list, or {"events": [...]}), JSONL (one event per line) '
            "or CSV (columns named after the event fields: invoice.amount, details.discount_pct…).",
        ),
    ],
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="Read the file as this format (default: from its name)."),
    ] = None,
) -> None:
    """Import billing events from a file, exactly as if they came over the webhook.

    Any number of events, in batches of 500. A line or row that is not a valid event is kept
    as rejected (see `countersign events rejected`) and the rest go on.
    Exit code 0 when every event was created or was a duplicate; 1 when some were rejected;
    2 when nothing could be imported (the file cannot be read as events, or the database or
    the policies cannot be used).
    """
    from app.clock import SystemClock
    from app.flows.importing import import_records
    from app.flows.intake import Intake

    settings = load()
    try:
        chosen = format_for(file, file_format)
        stream = file.open("rb")
    except ImportFileError as error:
        fail(f"{file}: {error}")
    except OSError as error:
        fail(cannot_read(file, error))
    with stream:
        database = open_database(settings.DATABASE_URL)
        try:
            policies = _policies(settings.COUNTERSIGN_POLICIES)
            intake = Intake(database, lambda: policies, wake=lambda: None)
            tally = import_records(
                intake,
                read_records(stream, chosen),
                file_name=file.name,
                now=SystemClock().now,
                progress=_progress(stream, file),
            )
        except ImportFileError as error:
            fail(f"{file}: {error}")
        finally:
            _clear_progress()
            database.dispose()
    typer.echo(_summary(file, tally))
    if tally.rejected:
        raise typer.Exit(1)


def _policies(folder: Path) -> PolicySet:
    from app.routing import PolicyLoadError, load_policy_set

    try:
        return load_policy_set(folder)
    except PolicyLoadError as error:
        count = len(error.problems)
        fail(
            f"the policies in {folder} do not load ({count} problem{'s' if count != 1 else ''}); "
            f"see `countersign policies check {folder}`"
        )


def _summary(file: Path, tally: Tally) -> str:
    line = (
        f"{file.name}: {tally.created} created, {tally.duplicates} "
        f"duplicate{'s' if tally.duplicates != 1 else ''}, {tally.rejected} rejected"
    )
    if tally.rejected:
        line += "; rejected events are kept: see `countersign events rejected`"
    return line


def _progress(stream: IO[bytes], file: Path) -> Callable[[Tally], None]:
    """A counter on stderr after each batch, on a terminal only (nothing when piped)."""
    if not sys.stderr.isatty():
        return lambda _: None
    size = max(file.stat().st_size, 1)

    def show(tally: Tally) -> None:
        share = min(stream.tell() / size, 1.0)
        sys.stderr.write(f"\r{file.name}: {tally.total} events read ({share:.0%})")
        sys.stderr.flush()

    return show


def _clear_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


@events_app.command("rejected")
def events_rejected(
    limit: Annotated[int, typer.Option(min=1, help="How many to show, newest first.")] = 20,
) -> None:
    """List rejected events (webhook or import), newest first, each with why (read-only).

    Exit code 0; 2 when the database is missing, unreachable or not migrated.
    """
    from app.flows.importing import rejected_events

    database = open_database(load().DATABASE_URL)
    try:
        rows = rejected_events(database, limit)
    finally:
        database.dispose()
    if not rows:
        typer.echo("no rejected events")
    for row in rows:
        who = f"{row.source or '?'}/{row.event_id or '?'}"
        first = row.errors[0] if row.errors else {}
        where = f" {first['file']}:{first['line']}" if "file" in first and "line" in first else ""
        why = "; ".join(f"{e.get('field', '(event)')}: {e.get('message', '')}" for e in row.errors)
        when = row.received_at.strftime("%Y-%m-%d %H:%M:%SZ")
        typer.echo(f"#{row.id} {when} via {row.via}{where} {who}: {why}")
