"""`countersign policies history` and `policies diff A B`: the stored policy versions."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import fail, open_database, settings

if TYPE_CHECKING:
    from app.store.tables import PolicyVersionRow


class Format(StrEnum):
    table = "table"
    json = "json"


def _status(row: PolicyVersionRow, in_force_id: int | None) -> str:
    shown = "pending approval" if row.status == "pending" else row.status
    return f"{shown}, in force" if row.id == in_force_id else shown


def _json(row: PolicyVersionRow, in_force_id: int | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "content_hash": row.content_hash,
        "status": row.status,
        "pending_approval": row.status == "pending",
        "in_force": row.id == in_force_id,
        "loaded_at": row.loaded_at.isoformat(),
        "host": row.host,
        "pid": row.pid,
        "trigger": row.trigger,
        "requested_by": row.requested_by,
        "files": [f["path"] for f in row.files],
        "base_hash": row.base_hash,
        "approvers": row.approvers,
        "channel": row.channel,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
    }


def history(
    output: Annotated[
        Format, typer.Option("--format", help="table for people, json for tools.")
    ] = Format.table,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most this many, newest first.")
    ] = 50,
) -> None:
    """List every policy set loaded by a server (newest first), from the database.

    Each line: the content hash, whether it was applied, is pending approval (change_control),
    was approved, rejected or superseded, which is in force, when and by which host and process
    it was loaded, and who decided it. Compare two with `policies diff`."""
    from app.store import policy_versions

    database = open_database(settings().DATABASE_URL)
    try:
        with database.transaction() as session:
            rows = policy_versions.history(session, limit)
            current = policy_versions.in_force(session)
            in_force_id = current.id if current is not None else None
            if output is Format.json:
                typer.echo(json.dumps([_json(r, in_force_id) for r in rows], indent=2))
                return
            if not rows:
                typer.echo("no policy set has been loaded by a server yet")
                return
            table = [
                (
                    str(r.id),
                    r.content_hash[:12],
                    _status(r, in_force_id),
                    f"{r.loaded_at:%Y-%m-%d %H:%M:%S}",
                    f"{r.host}/{r.pid}" + (f" ({r.requested_by})" if r.requested_by else ""),
                    r.trigger,
                    f"{r.decided_by} {r.decided_at:%Y-%m-%d %H:%M}"
                    if r.decided_by and r.decided_at
                    else "—",
                )
                for r in rows
            ]
    finally:
        database.dispose()
    head = ("ID", "HASH", "STATUS", "LOADED (UTC)", "BY", "TRIGGER", "DECIDED")
    widths = [max(len(line[i]) for line in [head, *table]) for i in range(len(head))]
    for line in [head, *table]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def _folder(path: Path) -> list[tuple[str, str]]:
    """The *.yml files of a folder on disk, as the loader reads them."""
    files = sorted(
        p
        for p in path.rglob("*.yml")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    try:
        return [(p.relative_to(path).as_posix(), p.read_text("utf-8", "replace")) for p in files]
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror or error}")


def diff(
    old: Annotated[
        str,
        typer.Argument(
            metavar="A", help="`current`, a hash prefix (4+ hex digits) or a policy folder."
        ),
    ],
    new: Annotated[
        str,
        typer.Argument(
            metavar="B", help="`current`, a hash prefix (4+ hex digits) or a policy folder."
        ),
    ],
) -> None:
    """Show what changed from policy version A to B: a unified diff per file.

    `current` is the version in force (per the database); a hash prefix names a stored version
    (see `policies history`); a folder (e.g. policies/) is read from disk, to see what a reload
    would change. Exit code 0, or 2 when a version is unknown or ambiguous."""
    from app.routing.policy_diff import policy_diff
    from app.store import policy_versions

    sides: list[tuple[str, list[tuple[str, str]]]] = []
    database = None
    try:
        for ref in (old, new):
            if ref != "current" and Path(ref).is_dir():
                sides.append((Path(ref).name or ref, _folder(Path(ref))))
                continue
            if database is None:
                database = open_database(settings().DATABASE_URL)
            with database.transaction() as session:
                try:
                    row = policy_versions.find(session, ref)
                except policy_versions.VersionNotFound as missing:
                    fail(str(missing))
                sides.append((row.content_hash[:12], policy_versions.texts(row)))
    finally:
        if database is not None:
            database.dispose()
    (old_label, old_files), (new_label, new_files) = sides
    if old_label == new_label:
        old_label, new_label = f"a/{old_label}", f"b/{new_label}"
    text = policy_diff(old_files, new_files, old_label, new_label)
    typer.echo(text.rstrip("\n") if text else f"no differences between {old} and {new}")


def register(app: typer.Typer) -> None:
    app.command("history")(history)
    app.command("diff")(diff)
