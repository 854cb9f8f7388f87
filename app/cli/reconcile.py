"""`countersign reconcile --since 2026-11-01 [--format json]`: what Countersign approved against
what Intacct posted (see app/flows/reconcile.py for the rules).

Exit codes: 0 no findings; 1 findings (one line each: exception, invoice key, what differs);
2 the command could not run (usage, settings, database, Intacct unreachable or refusing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from app.cli.common import fail, open_database, settings

FINDINGS = 1


def reconcile(
    since: Annotated[
        str, typer.Option(help="Exceptions and postings at or after this UTC date (2026-11-01).")
    ],
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Check approved exceptions against Intacct's posted invoices; exit 1 on any finding."""
    from app.flows.ports import InvoiceRefused, RetryLater
    from app.flows.reconcile import reconcile as run
    from app.intacct.client import IntacctClient
    from app.intacct.port import IntacctInvoices

    if fmt not in ("text", "json"):
        fail(f"--format must be text or json, not {fmt!r}")
    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        fail(f"--since {since!r} is not a date such as 2026-11-01")
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    config = settings("INTACCT_CLIENT_ID", "INTACCT_CLIENT_SECRET", "INTACCT_USERNAME")
    assert config.INTACCT_CLIENT_SECRET is not None
    database = open_database(config.DATABASE_URL)
    client = IntacctClient(
        base_url=config.INTACCT_API_URL,
        client_id=config.INTACCT_CLIENT_ID or "",
        client_secret=config.INTACCT_CLIENT_SECRET.get_secret_value(),
        username=config.INTACCT_USERNAME or "",
        entity_id=config.INTACCT_ENTITY_ID,
        clock=lambda: datetime.now(UTC),
    )
    try:
        report = run(database, IntacctInvoices(client), start, datetime.now(UTC))
    except (RetryLater, InvoiceRefused) as error:
        fail(f"cannot read Intacct: {error}")
    finally:
        client.close()
        database.dispose()
    if fmt == "json":
        typer.echo(json.dumps(report.as_json(), indent=1))
    else:
        for finding in report.findings:
            typer.echo(finding.line())
        typer.echo(report.summary().splitlines()[0])
    if report.findings:
        raise typer.Exit(FINDINGS)
