"""`countersign events …`: import billing events from a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import settings as load

events_app = typer.Typer(help="Billing events: import them from a file.", no_args_is_help=True)


@events_app.command("import")
def events_import(
    file: Annotated[
        Path, typer.Argument(help='A JSON file: one event, a list, or {"events": [...]}.')
    ],
) -> None:
    """Import billing events from a file, exactly as if they came over the webhook."""
    from app.clock import SystemClock
    from app.domain.batch import split_events
    from app.flows.intake import Intake
    from app.routing import load_policy_set
    from app.store.db import Database

    settings = load()
    text = file.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        text = '{"events": ' + text + "}"  # wrap, keeping each event's bytes as written
    policies = load_policy_set(settings.COUNTERSIGN_POLICIES)
    database = Database(settings.DATABASE_URL)
    outcomes = Intake(database, lambda: policies, wake=lambda: None).receive(
        split_events(text), via="import", now=SystemClock().now()
    )
    database.dispose()
    for outcome in outcomes:
        typer.echo(json.dumps(outcome.as_json()))
    if any(o.status == "rejected" for o in outcomes):
        raise typer.Exit(1)
