"""`countersign`: one command, a module per command group (serve, sandbox, db, audit, policies,
events, outbox), evidence and reconcile, assembled here. `main` guarantees one line, never a
traceback: a usage mistake or a database that cannot be used exits 2; an unexpected error exits
70 with an id whose traceback is in the error log."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence

import typer

from app.cli.audit import audit_app
from app.cli.common import USAGE, database_reason
from app.cli.db import db_app
from app.cli.events import events_app
from app.cli.evidence import evidence
from app.cli.outbox import outbox_app
from app.cli.policies import policies_app
from app.cli.reconcile import reconcile
from app.cli.sandbox import sandbox_app
from app.cli.serve import serve

UNEXPECTED = 70  # EX_SOFTWARE: a fault in Countersign, not in what the user asked

cli = typer.Typer(
    help="Countersign: approvals for billing exceptions, in Slack, released to Sage Intacct.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cli.command()(serve)
cli.command()(evidence)
cli.command()(reconcile)
cli.add_typer(db_app, name="db")
cli.add_typer(audit_app, name="audit")
cli.add_typer(events_app, name="events")
cli.add_typer(outbox_app, name="outbox")
cli.add_typer(policies_app, name="policies")
cli.add_typer(sandbox_app, name="sandbox")


def run(app: typer.Typer, args: Sequence[str] | None = None) -> int:
    """Run `app` and return its exit code; whatever goes wrong is one line on stderr."""
    argv = list(sys.argv[1:] if args is None else args)
    try:
        result = app(args=argv, prog_name="countersign", standalone_mode=False)
    except typer.TyperException as error:  # click's usage errors: a missing argument, a typo
        return _usage(error)
    except typer.Abort:
        typer.echo("countersign: aborted", err=True)
        return 1
    except Exception as error:
        return _unexpected(error, argv)
    return result if isinstance(result, int) else 0


def _usage(error: typer.TyperException) -> int:
    context = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":  # `countersign db` alone: what it offers
        text = error.format_message()  # empty when rich has already printed the help
        if text.strip():
            typer.echo(text)
        return USAGE
    where = f"; see `{context.command_path} --help`" if context is not None else ""
    typer.echo(f"countersign: {error.format_message().rstrip('.')}{where}", err=True)
    return int(getattr(error, "exit_code", USAGE))


def _unexpected(error: Exception, argv: list[str]) -> int:
    from sqlalchemy.exc import OperationalError

    if isinstance(error, OperationalError):  # the database went away or lacks a table
        typer.echo(
            f"countersign: the database failed: {database_reason(error)} (check DATABASE_URL; "
            "`countersign db upgrade` creates or migrates the schema)",
            err=True,
        )
        return USAGE
    from app.config import ConfigError, load_settings
    from app.logs import error_log_path, log_unexpected_error

    try:
        configured = load_settings().COUNTERSIGN_ERROR_LOG
    except ConfigError:
        configured = None
    path = error_log_path(configured)
    error_id = uuid.uuid4().hex[:12]
    if log_unexpected_error(path, error_id, error, argv):
        typer.echo(f"countersign: unexpected error (id {error_id}); details in {path}", err=True)
    else:
        typer.echo(
            f"countersign: unexpected error (id {error_id}): {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''} (cannot write {path})",
            err=True,
        )
    return UNEXPECTED


def main() -> None:
    sys.exit(run(cli))
