"""`countersign serve`: the web server with its outbox worker and timer sweep."""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Annotated

import structlog
import typer

from app.cli.common import settings as load
from app.cli.signals import reload_on_sighup
from app.config import ConfigError

if TYPE_CHECKING:
    from app.runtime import Runtime

log = structlog.get_logger("countersign.serve")


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

    settings = load()
    configure_logging(settings.LOG_FORMAT, settings.LOG_LEVEL)
    try:
        runtime = Runtime(settings)
    except ConfigError as error:
        typer.echo(f"countersign: configuration error: {error}", err=True)
        raise typer.Exit(2) from None
    except PolicyLoadError as error:
        typer.echo(f"countersign: the policies do not load:\n{error}", err=True)
        raise typer.Exit(2) from None
    refuse_unless_ready(runtime)
    reload_on_sighup(runtime.reload_policies)
    settings.COUNTERSIGN_PID_FILE.write_text(f"{os.getpid()}\n")
    if settings.SLACK_APP_TOKEN is not None:
        _socket_mode(runtime, settings.SLACK_APP_TOKEN.get_secret_value())
    app = create_web_app(runtime)
    # What start-up built (modules, the policy, the app) lives as long as the process: keep it
    # out of the collector's full passes, which otherwise walk it again and again under load.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=host or settings.HOST,
        port=port or settings.PORT,
        log_config=None,
        access_log=False,
    )


def refuse_unless_ready(runtime: Runtime) -> None:
    """Exit 2 with one line when the database is missing, unreachable or behind, or Slack
    refuses the bot token. Slack merely unreachable is no reason: billing events are taken
    and the cards wait in the outbox until Slack answers."""
    from app.store.migrate import DatabaseNotReady, require_head

    try:
        require_head(runtime.settings.DATABASE_URL)
    except DatabaseNotReady as problem:
        runtime.db.dispose()
        typer.echo(f"countersign: {problem}", err=True)
        raise typer.Exit(2) from None
    slack = runtime.slack_health.check(force=True)
    if slack.bad_token:
        runtime.db.dispose()
        typer.echo(
            f"countersign: {slack.reason}; set SLACK_BOT_TOKEN to the app's bot token (xoxb-…)",
            err=True,
        )
        raise typer.Exit(2) from None
    if not slack.ready:
        log.warning("slack.not_ready", why=slack.reason)


def _socket_mode(runtime: Runtime, app_token: str) -> None:
    """Connect over Socket Mode now, or once Slack answers when it is unreachable now."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    handler = SocketModeHandler(runtime.bolt, app_token)

    def connect() -> None:
        handler.connect()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped

    if not runtime.slack_health.state.ready:
        runtime.slack_health.when_back(connect)
        return
    try:
        connect()
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        typer.echo(
            f"countersign: Socket Mode could not connect ({reason}); SLACK_APP_TOKEN must be "
            "the app-level token (xapp-…) with connections:write",
            err=True,
        )
        raise typer.Exit(2) from None
