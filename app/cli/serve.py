"""`countersign serve`: the web server with its outbox worker and timer sweep."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from app.cli.common import settings as load
from app.cli.signals import reload_on_sighup
from app.config import ConfigError


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
    reload_on_sighup(runtime.reload_policies)
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
