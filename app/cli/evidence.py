"""`countersign evidence BX-000123 --out DIR` writes the exception's evidence packet;
`countersign evidence verify DIR` re-checks one without the database.

Exit codes: 0 written / the packet holds; 1 no such exception / the packet does not hold (the
line says what); 2 the command could not run (usage, settings, database, unreadable folder)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import fail, open_database, settings

if TYPE_CHECKING:
    from pydantic import SecretStr

    from app.evidence.gather import Anchors

NOT_FOUND = 1


def evidence(
    target: Annotated[str, typer.Argument(help="An exception id (BX-000123), or `verify`.")],
    folder: Annotated[
        Path | None, typer.Argument(help="With `verify`: the packet folder to check.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="The folder to write (default evidence-BX-…).")
    ] = None,
) -> None:
    """Write an exception's evidence packet (HTML, JSON, PDF), or `verify DIR` to check one."""
    if target == "verify":
        if folder is None:
            fail("`evidence verify` needs the packet folder: countersign evidence verify DIR")
        _verify(folder)
        return
    if folder is not None:
        fail(f"unexpected argument {str(folder)!r}; the folder goes after --out")
    from app.domain.lifecycle import exception_label, parse_label

    try:
        exception_id = parse_label(target)
    except ValueError as error:
        fail(str(error))
    label = exception_label(exception_id)
    _write(exception_id, label, out or Path(f"evidence-{label}"))


def _write(exception_id: int, label: str, out: Path) -> None:
    from app.evidence.gather import UnknownException, gather
    from app.evidence.write import write

    config = settings()
    anchors = _anchors(config.AUDIT_ANCHOR_FILE, config.AUDIT_ANCHOR_KEY)
    database = open_database(config.DATABASE_URL)
    try:
        packet = gather(database, exception_id, datetime.now(UTC), anchors)
    except UnknownException:
        fail(f"{label}: no such exception", NOT_FOUND)
    finally:
        database.dispose()
    try:
        written = write(packet, out)
    except OSError as error:
        fail(f"cannot write the packet to {out}: {error.strerror or error}")
    proof = packet["audit"]["proof"]
    ends = f"; proof to {proof['ends_at']['kind']} entry {proof['ends_at']['seq']}" if proof else ""
    typer.echo(
        f"evidence packet for {label} written to {out}: {', '.join(written.files)}, SHA256SUMS"
        f" ({len(packet['audit']['entries'])} audit entries{ends})"
    )
    if written.pdf_note:
        typer.echo(written.pdf_note)


def _anchors(path: Path | None, key: SecretStr | None) -> Anchors | None:
    from app.evidence.gather import Anchors, read_anchor_lines
    from app.store.anchor import AnchorError, read_checkpoints

    if path is None:
        return None
    if key is None:
        fail("configuration error: AUDIT_ANCHOR_FILE is set but AUDIT_ANCHOR_KEY is not")
    if not path.exists():
        return Anchors(path, [])
    try:
        read_checkpoints(path, key.get_secret_value())  # refuses forged or edited lines
        return Anchors(path, read_anchor_lines(path))
    except AnchorError as error:
        fail(f"audit anchors BROKEN: {error}" if error.broken else str(error), 1)


def _verify(folder: Path) -> None:
    from app.evidence.check import PacketBroken, PacketUnreadable, verify

    key = settings().AUDIT_ANCHOR_KEY
    try:
        check = verify(folder, None if key is None else key.get_secret_value())
    except PacketUnreadable as error:
        fail(str(error))
    except PacketBroken as error:
        fail(f"evidence packet BROKEN: {error}", 1)
    except (KeyError, TypeError, ValueError) as error:
        fail(f"evidence packet BROKEN: a field is missing or malformed ({error!r})", 1)
    signed = "signature checked" if check.signature_checked else "signature not checked"
    if check.ends_at == "checkpoint" and not check.signature_checked:
        signed += " (set AUDIT_ANCHOR_KEY to check it)"
    typer.echo(
        f"evidence packet intact: {check.label}, {check.entries} audit entries, chain of"
        f" {check.links} entries to the {check.ends_at}"
        + (f" ({signed})" if check.ends_at == "checkpoint" else "")
    )
