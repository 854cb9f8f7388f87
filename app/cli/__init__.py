"""`countersign`: one command, a module per command group (serve, sandbox, db, audit, policies,
events, outbox), assembled here."""

from __future__ import annotations

import sys

import typer

from app.cli.audit import audit_app
from app.cli.db import db_app
from app.cli.events import events_app
from app.cli.outbox import outbox_app
from app.cli.policies import policies_app
from app.cli.sandbox import sandbox_app
from app.cli.serve import serve

cli = typer.Typer(
    help="Countersign: approvals for billing exceptions, in Slack, released to Sage Intacct.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cli.command()(serve)
cli.add_typer(db_app, name="db")
cli.add_typer(audit_app, name="audit")
cli.add_typer(events_app, name="events")
cli.add_typer(outbox_app, name="outbox")
cli.add_typer(policies_app, name="policies")
cli.add_typer(sandbox_app, name="sandbox")


def main() -> None:
    sys.exit(cli())
