"""`countersign sandbox`: run Countersign against the local emulators and click through it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from app.sandbox.local import (
    INVOICES,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    Ports,
    emulator_settings,
    walkthrough,
)

sandbox_app = typer.Typer(
    help="The local sandbox: emulated Slack and Intacct on this machine.", no_args_is_help=True
)
SANDBOX_DB = "sqlite:///./countersign-sandbox.db"


def _database_url() -> str:
    return os.environ.get("DATABASE_URL", SANDBOX_DB)


@contextmanager
def _reaching(what: str) -> Iterator[None]:
    """Nothing listening is one clear line, not a traceback."""
    try:
        yield
    except httpx.TransportError as error:
        typer.echo(
            f"countersign: cannot reach {what} ({error}). Is `countersign sandbox up` (make run) "
            "running, on these ports?",
            err=True,
        )
        raise typer.Exit(1) from None


@sandbox_app.command("up")
def up(
    port: Annotated[int, typer.Option(help="Countersign's port.")] = 3000,
    slack_port: Annotated[int, typer.Option(help="The Slack emulator's port.")] = 3001,
    intacct_port: Annotated[int, typer.Option(help="The Intacct emulator's port.")] = 3002,
) -> None:
    """Start the emulators and Countersign wired to them, then print what to try."""
    import uvicorn

    from app.config import load_settings
    from app.logs import configure_logging
    from app.runtime import Runtime
    from app.sandbox.intacct_emulator import IntacctEmulator
    from app.sandbox.slack_emulator import SlackEmulator
    from app.store.migrate import upgrade
    from app.web import create_web_app

    ports = Ports(port, slack_port, intacct_port)
    slack = SlackEmulator(port=ports.slack).start()
    intacct = IntacctEmulator(port=ports.intacct).start()
    for invoice in INVOICES:
        intacct.add_invoice(
            invoice.key,
            number=invoice.number,
            customer_id=invoice.customer_id,
            customer_name=invoice.customer_name,
            currency=invoice.currency,
            amount=invoice.amount,
        )
    settings = load_settings(
        **emulator_settings(slack, intacct),
        DATABASE_URL=_database_url(),
        LOG_FORMAT=os.environ.get("LOG_FORMAT", "console"),
    )
    configure_logging(settings.LOG_FORMAT, settings.LOG_LEVEL)
    upgrade(settings.DATABASE_URL)
    runtime = Runtime(settings)
    typer.echo(walkthrough(ports))
    try:
        uvicorn.run(
            create_web_app(runtime),
            host="127.0.0.1",
            port=ports.app,
            log_config=None,
            access_log=False,
        )
    finally:
        slack.stop()
        intacct.stop()


@sandbox_app.command("send")
def send(
    file: Annotated[Path, typer.Argument(help='A billing event (or {"events": [...]}) as JSON.')],
    port: Annotated[int, typer.Option(help="Countersign's port.")] = 3000,
) -> None:
    """Sign a billing event with the sandbox webhook secret and POST it to Countersign."""
    from app import webhook
    from app.cli.common import read_bytes

    body = read_bytes(file)
    stamp = int(time.time())
    url = f"{Ports(app=port).app_url}/billing-events"
    with _reaching(f"Countersign at {url}"):
        response = httpx.post(
            url,
            content=body,
            headers=webhook.signed_headers(WEBHOOK_SECRET, stamp, body),
            timeout=10,
        )
    typer.echo(f"{response.status_code} {response.text}")


@sandbox_app.command("click")
def click(
    exception: Annotated[str, typer.Argument(help="The exception, e.g. BX-000001.")],
    action: Annotated[str, typer.Argument(help="approve or reject.")],
    user: Annotated[str, typer.Option("--as", help="The Slack user who clicks, e.g. U0FINMGR1.")],
    reason: Annotated[str, typer.Option(help="Why, when rejecting.")] = "Rejected in the sandbox",
    port: Annotated[int, typer.Option(help="Countersign's port.")] = 3000,
    slack_port: Annotated[int, typer.Option(help="The Slack emulator's port.")] = 3001,
) -> None:
    """Click Approve or Reject on an exception's card, signed as Slack would sign it."""
    from app.domain.lifecycle import parse_label
    from app.sandbox.slack_delivery import SlackDelivery
    from app.slack.ids import REJECT_REASON_ACTION, ActionId, BlockId
    from app.store.db import Database
    from app.store.tables import ExceptionRow

    if action not in ("approve", "reject"):
        raise typer.BadParameter("approve or reject", param_hint="ACTION")
    database = Database(_database_url())
    with database.transaction() as session:
        row = session.get(ExceptionRow, parse_label(exception))
    database.dispose()
    if row is None or not row.message_ts or not row.channel:
        typer.echo(f"{exception} has no card (yet).", err=True)
        raise typer.Exit(1)
    ports = Ports(port, slack_port)
    with (
        _reaching(f"Countersign at {ports.app_url} or Slack at {ports.slack_url}"),
        SlackDelivery(
            app_url=f"{ports.app_url}/slack/events",
            signing_secret=SIGNING_SECRET,
            emulator_url=ports.slack_url,
        ) as delivery,
    ):
        views_url = f"{ports.slack_url}_emulator/views"
        opened_before = len(httpx.get(views_url, timeout=10).json()["opened"])
        action_id = ActionId.APPROVE if action == "approve" else ActionId.REJECT
        answer = delivery.click(row.channel, row.message_ts, action_id, user)
        typer.echo(f"click: {answer.status_code}")
        if action == "reject":
            view = _new_view(views_url, opened_before)
            if view is None:
                typer.echo("no reason dialog opened (see the ephemeral notice: `show`)", err=True)
                raise typer.Exit(1)
            answer = delivery.submit_view(
                view["id"], user, {BlockId.REJECT_REASON: {REJECT_REASON_ACTION: reason}}
            )
            typer.echo(f"reason submitted: {answer.status_code} {answer.text}")


def _new_view(views_url: str, opened_before: int, wait: float = 5.0) -> dict[str, Any] | None:
    """The modal the click opened, once the app has opened it; None if none came."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        opened = httpx.get(views_url, timeout=10).json()["opened"]
        if len(opened) > opened_before:
            return dict(opened[-1])
        time.sleep(0.05)
    return None


@sandbox_app.command("show")
def show(
    slack_port: Annotated[int, typer.Option(help="The Slack emulator's port.")] = 3001,
    raw: Annotated[bool, typer.Option(help="Print the emulator's whole state as JSON.")] = False,
) -> None:
    """Print what the emulated Slack shows: cards, their threads, private notices and DMs."""
    url = f"{Ports(slack=slack_port).slack_url}_emulator/state"
    with _reaching(f"the Slack emulator at {url}"):
        state = httpx.get(url, timeout=10).json()
    if raw:
        typer.echo(json.dumps(state, indent=2))
        return
    for line in describe_workspace(state):
        typer.echo(line)


def describe_workspace(state: dict[str, Any]) -> list[str]:
    """One readable line per message: where, what, and the buttons still on it."""
    names: dict[str, str] = state.get("channels", {})
    dms = {channel: user for user, channel in state.get("dm_channels", {}).items()}
    lines: list[str] = []
    for message in state.get("messages", []):
        channel = message["channel"]
        where = f"DM to {dms[channel]}" if channel in dms else f"#{names.get(channel, channel)}"
        indent = "    ↳ " if message.get("thread_ts") else ""
        buttons = [
            element.get("text", {}).get("text", "?")
            for block in message.get("blocks") or []
            if block.get("type") == "actions"
            for element in block.get("elements", [])
        ]
        suffix = f"  [{' | '.join(buttons)}]" if buttons else ""
        lines.append(f"{indent}{where} {message['ts']}: {message['text']}{suffix}")
    for notice in state.get("ephemerals", []):
        lines.append(f"(only {notice['user']} sees, in {notice['channel']}): {notice['text']}")
    return lines or ["Nothing posted yet."]
