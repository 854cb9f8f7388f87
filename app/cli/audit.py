"""`countersign audit …`: the tamper-evident audit log, its exports and its anchors.

Exit codes: 0 the evidence holds; 1 it does not (the line names what and where); 2 it could not
be checked (a mistake in the command, the settings, or an unreadable database or file)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from app.cli.common import database_reason, fail, open_database, settings
from app.config import Settings

if TYPE_CHECKING:
    from app.store.db import Database

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

BROKEN = 1


@contextmanager
def _database(config: Settings) -> Iterator[Database]:
    """The existing, migrated database (else one line, exit 2); a read error is one line too."""
    from sqlalchemy.exc import SQLAlchemyError

    database = open_database(config.DATABASE_URL)
    driver_error = database.engine.dialect.loaded_dbapi.Error
    try:
        yield database
    except (SQLAlchemyError, driver_error) as error:
        fail(f"cannot read the audit log: {database_reason(error)}")
    finally:
        database.dispose()


def _anchor_hashes(config: Settings, anchors: Path | None) -> tuple[dict[int, str], Path] | None:
    from app.store import anchor

    path = anchors or config.AUDIT_ANCHOR_FILE
    if path is None:
        return None
    key = settings("AUDIT_ANCHOR_KEY").AUDIT_ANCHOR_KEY
    assert key is not None
    try:
        points = anchor.read_checkpoints(path, key.get_secret_value())
        return anchor.expected_hashes(points), path
    except anchor.AnchorError as error:
        if error.broken:
            fail(f"audit anchors BROKEN: {error}", BROKEN)
        fail(str(error))


@audit_app.command("verify")
def audit_verify(
    since: Annotated[
        int | None,
        typer.Option(
            help="Start after this entry, trusting its stored hash (a known-good point).", min=1
        ),
    ] = None,
    anchors: Annotated[
        Path | None,
        typer.Option(help="Checkpoint file to check against (default: AUDIT_ANCHOR_FILE)."),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Check this export file and its manifest instead, without the database."),
    ] = None,
) -> None:
    """Check the audit hash chain (or an export); exit 1 naming the first entry that fails."""
    config = settings()
    if export is not None:
        if since is not None:
            fail("--since applies to the database, not to --export")
        _verify_export(export, _anchor_hashes(config, anchors))
        return
    from app.store import audit
    from app.store.audit_read import snapshot

    checkpoints = _anchor_hashes(config, anchors)
    with _database(config) as database, snapshot(database) as view:
        result = audit.verify(view, since, None if checkpoints is None else checkpoints[0])
    if not result.ok:
        fail(f"audit chain BROKEN at entry {result.bad_seq}: {result.problem}", BROKEN)
    after = f" after entry {since}" if since else ""
    first = (since or 0) + 1
    line = f"audit chain intact: {result.entries} entries{after} ({first}..{result.last_seq})"
    if checkpoints is not None:
        line += f"; {result.checkpoints} checkpoints of {checkpoints[1]} match"
    typer.echo(line)


def _verify_export(path: Path, checkpoints: tuple[dict[int, str], Path] | None) -> None:
    from app.store.audit_export import ExportError, verify_export

    try:
        check = verify_export(path, None if checkpoints is None else checkpoints[0])
    except ExportError as error:
        if error.broken:
            fail(f"audit export BROKEN: {error}", BROKEN)
        fail(str(error))
    what = "a contiguous run of the chain" if check.contiguous else "selected rows, each hash holds"
    seqs = f"entries {check.first_seq}..{check.last_seq}"
    line = f"audit export intact: {check.rows} rows, {seqs}, {what}"
    if not check.contiguous:
        line += " (rows left out of a selection cannot be detected from the file)"
    if checkpoints is not None:
        line += f"; {check.checkpoints} checkpoints match"
    typer.echo(line)


def _moment(value: str | None) -> datetime | None:
    """A date or date-time from the command line, read as UTC unless it names its zone."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date such as 2026-11-01 or 2026-11-01T09:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _exception(value: str | None) -> int | None:
    from app.domain.lifecycle import parse_label

    if value is None:
        return None
    try:
        return parse_label(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


@audit_app.command("export")
def audit_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    since: Annotated[
        str | None, typer.Option(help="Entries at or after this UTC date/time (e.g. 2026-10-01).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Entries before this UTC date/time.")] = None,
    exception: Annotated[str | None, typer.Option(help="Only the entries of BX-…")] = None,
    out: Annotated[
        Path | None, typer.Option(help="The file (default audit-export-<time>.<format>).")
    ] = None,
) -> None:
    """Write audit entries to a file plus FILE.manifest.json (count, seqs, end hash, sha256)."""
    from app.store.audit_export import ExportError, Filters, Format, export

    if fmt not in ("csv", "jsonl"):
        fail(f"--format must be csv or jsonl, not {fmt!r}")
    try:
        filters = Filters(_moment(since), _moment(until), _exception(exception))
    except typer.BadParameter as error:
        fail(str(error))
    if filters.since and filters.until and filters.since >= filters.until:
        fail("--since must be before --until")
    now = datetime.now(UTC)
    target = out or Path(f"audit-export-{now:%Y%m%dT%H%M%SZ}.{fmt}")
    config = settings()
    try:
        with _database(config) as database:
            manifest = export(database, target, cast(Format, fmt), filters, now)
    except ExportError as error:
        fail(str(error))
    typer.echo(
        f"exported {manifest['rows']} entries ({manifest['first_seq']}..{manifest['last_seq']})"
        f" to {target}; manifest {target}.manifest.json"
    )


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Append a signed checkpoint of the chain's head to AUDIT_ANCHOR_FILE now (e.g. from cron)."""
    from app.store.anchor import AnchorError, write_checkpoint

    config = settings("AUDIT_ANCHOR_FILE", "AUDIT_ANCHOR_KEY")
    assert config.AUDIT_ANCHOR_FILE is not None
    assert config.AUDIT_ANCHOR_KEY is not None
    try:
        with _database(config) as database:
            point = write_checkpoint(
                database,
                config.AUDIT_ANCHOR_FILE,
                config.AUDIT_ANCHOR_KEY.get_secret_value(),
                datetime.now(UTC),
            )
    except (AnchorError, OSError) as error:
        fail(f"cannot write the checkpoint: {error}")
    typer.echo(
        f"checkpoint written: entry {point.seq} ({point.hash[:12]}) to {config.AUDIT_ANCHOR_FILE}"
    )
