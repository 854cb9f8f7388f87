"""`countersign`: serve, sandbox, db, audit, policies, events."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.config import ConfigError, Settings, load_settings

cli = typer.Typer(
    help="Countersign: approvals for billing exceptions, in Slack, released to Sage Intacct.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="The database: create or upgrade its schema.", no_args_is_help=True)
audit_cli = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
events_cli = typer.Typer(help="Billing events: import them from a file.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(events_cli, name="events")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        typer.echo(f"countersign: configuration error: {error}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: PORT).")] = None,
) -> None:
    """Run the web server: Slack at /slack/events, billing events at /billing-events."""
    import uvicorn

    from app.logs import configure_logging
    from app.routing import PolicyLoadError
    from app.runtime import Runtime
    from app.web import create_web_app

    settings = _settings()
    configure_logging(settings.LOG_FORMAT, settings.LOG_LEVEL)
    try:
        runtime = Runtime(settings)
    except ConfigError as error:
        typer.echo(f"countersign: configuration error: {error}", err=True)
        raise typer.Exit(2) from None
    except PolicyLoadError as error:
        typer.echo(f"countersign: the policies do not load:\n{error}", err=True)
        raise typer.Exit(2) from None
    signal.signal(signal.SIGHUP, lambda *_: runtime.reload_policies())
    settings.COUNTERSIGN_PID_FILE.write_text(f"{os.getpid()}\n")
    if settings.SLACK_APP_TOKEN is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler
        from slack_sdk.errors import SlackApiError

        handler = SocketModeHandler(runtime.bolt, settings.SLACK_APP_TOKEN.get_secret_value())
        try:
            handler.connect()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped
        except SlackApiError as error:
            reason = error.response.get("error", "unknown error")
            typer.echo(
                f"countersign: Socket Mode could not connect ({reason}); SLACK_APP_TOKEN must be "
                "the app-level token (xapp-…) with connections:write",
                err=True,
            )
            raise typer.Exit(2) from None
    uvicorn.run(
        create_web_app(runtime),
        host=host or settings.HOST,
        port=port or settings.PORT,
        log_config=None,
        access_log=False,
    )


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create the tables, or bring them to the newest schema (safe to run on every deploy)."""
    from app.store.migrate import current, upgrade

    settings = _settings()
    upgrade(settings.DATABASE_URL)
    typer.echo(f"database at revision {current(settings.DATABASE_URL)}")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain; exit 1 naming the first entry that does not hold."""
    from app.store import audit
    from app.store.db import Database

    database = Database(_settings().DATABASE_URL)
    with database.transaction() as session:
        result = audit.verify(session)
    database.dispose()
    if result.ok:
        typer.echo(f"audit chain intact: {result.entries} entries")
        return
    typer.echo(f"audit chain BROKEN at entry {result.bad_seq}: {result.problem}", err=True)
    raise typer.Exit(1)


@events_cli.command("import")
def events_import(
    file: Annotated[
        Path, typer.Argument(help='A JSON file: one event, a list, or {"events": [...]}.')
    ],
) -> None:
    """Import billing events from a file, exactly as if they came over the webhook."""
    from app.clock import SystemClock
    from app.domain.batch import parse_item, split_events
    from app.flows.intake import Intake
    from app.routing import load_policy_set
    from app.store.db import Database

    settings = _settings()
    text = file.read_text(encoding="utf-8")
    if isinstance(parse_item(text), list):
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


def reload_policies() -> None:
    """Ask the running server (its pid in COUNTERSIGN_PID_FILE) to reload its policies.

    The server loads the folder again; if anything is wrong it keeps the policy in force,
    logs why and posts it to the policy's admin_channel. Run `policies check` first."""
    pid_file = _settings().COUNTERSIGN_PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as error:
        typer.echo(f"countersign: no running server found via {pid_file}: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"asked server {pid} to reload its policies; its log says whether it did")


def _mount_subcommands() -> None:
    from app.routing.cli import policies_app
    from app.sandbox.cli import sandbox_app

    policies_app.command("reload")(reload_policies)
    cli.add_typer(policies_app, name="policies")
    cli.add_typer(sandbox_app, name="sandbox")


_mount_subcommands()


def main() -> None:
    sys.exit(cli())
