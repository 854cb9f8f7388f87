"""`countersign sandbox`: run Countersign against the local emulators and click through it."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer

from app.sandbox.local import (
    APP_PORT_ENV,
    DEFAULT_DB,
    SIGNING_SECRET,
    SLACK_PORT_ENV,
    WEBHOOK_SECRET,
    Ports,
    emulator_settings,
    sqlite_url,
    walkthrough,
)

if TYPE_CHECKING:
    from app.runtime import Runtime
    from app.sandbox.clicks import Card, EmulatedSlack, SandboxRecords

sandbox_app = typer.Typer(
    help="The local sandbox: emulated Slack and Intacct on this machine.", no_args_is_help=True
)
SANDBOX_DB = sqlite_url(DEFAULT_DB)
AppPort = Annotated[int, typer.Option("--port", help="Countersign's port.", envvar=APP_PORT_ENV)]
SlackPort = Annotated[
    int, typer.Option("--slack-port", help="The Slack emulator's port.", envvar=SLACK_PORT_ENV)
]


def _database_url() -> str:
    return os.environ.get("DATABASE_URL", SANDBOX_DB)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"countersign: {message}", err=True)
    return typer.Exit(code)


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
    db: Annotated[
        str, typer.Option(help="The sandbox's SQLite file; emptied at every start.")
    ] = DEFAULT_DB,
) -> None:
    """Start the emulators and Countersign wired to them, from a clean database; print what to
    try. SIGHUP (or `countersign policies reload`) reloads the policies."""
    from app.sandbox.local import start_emulators

    ports = Ports(port, slack_port, intacct_port)
    _refuse_other_database(db)
    _check_free(ports.app)
    try:
        slack, intacct = start_emulators(ports)
    except OSError as error:
        raise _fail(f"cannot listen on port {ports.slack} or {ports.intacct}: {error}") from None
    try:
        runtime = _fresh_runtime(emulator_settings(slack, intacct), db)
        _serve(runtime, ports, db)
    finally:
        slack.stop()
        intacct.stop()


def _fresh_runtime(wiring: dict[str, str], db: str) -> Runtime:
    """Countersign wired to the emulators, on an emptied and migrated sandbox database."""
    from app.config import ConfigError, load_settings
    from app.logs import configure_logging
    from app.routing import PolicyLoadError
    from app.runtime import Runtime
    from app.sandbox.local import start_clean
    from app.store.migrate import upgrade

    try:
        settings = load_settings(
            **wiring,
            DATABASE_URL=sqlite_url(db),
            LOG_FORMAT=os.environ.get("LOG_FORMAT", "console"),
        )
    except ConfigError as error:
        raise _fail(f"configuration error: {error}", 2) from None
    configure_logging(settings.LOG_FORMAT, settings.LOG_LEVEL)
    try:
        start_clean(Path(db))
    except OSError as error:
        raise _fail(f"cannot empty the sandbox database {db}: {error}") from None
    upgrade(settings.DATABASE_URL)
    try:
        return Runtime(settings)
    except PolicyLoadError as error:
        raise _fail(f"the policies do not load:\n{error}", 2) from None


def _serve(runtime: Runtime, ports: Ports, db: str) -> None:
    """Serve until Ctrl-C, reloading the policies on SIGHUP, the pid in COUNTERSIGN_PID_FILE."""
    import uvicorn

    from app.cli.signals import reload_on_sighup
    from app.web import create_web_app

    reload_on_sighup(runtime.reload_policies)
    pid_file = runtime.settings.COUNTERSIGN_PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    named = "COUNTERSIGN_PID_FILE" in os.environ  # then the other terminal needs it too
    typer.echo(walkthrough(ports, db, {"COUNTERSIGN_PID_FILE": str(pid_file)} if named else {}))
    try:
        uvicorn.run(
            create_web_app(runtime),
            host="127.0.0.1",
            port=ports.app,
            log_config=None,
            access_log=False,
        )
    finally:
        _remove_if_ours(pid_file)


def _refuse_other_database(db: str) -> None:
    """The sandbox empties its database at start; never one DATABASE_URL names for other use."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    named = os.environ.get("DATABASE_URL")
    if not named:
        return
    try:
        parsed = make_url(named)
    except ArgumentError:  # a malformed URL is not the sandbox's file either
        parsed = None
    if (
        parsed is not None
        and parsed.get_backend_name() == "sqlite"
        and parsed.database
        and Path(parsed.database).resolve() == Path(db).resolve()
    ):
        return
    raise _fail(
        "DATABASE_URL is set to another database. The sandbox starts from a clean database and "
        f"will not empty that one: unset DATABASE_URL (the sandbox uses {DEFAULT_DB}), or name "
        "a file the sandbox may empty with `countersign sandbox up --db FILE`",
        2,
    )


def _check_free(port: int) -> None:
    """Fail before anything is emptied when Countersign's port is taken (another sandbox?)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise _fail(f"cannot listen on port {port} ({error}); is a sandbox running?") from None


def _remove_if_ours(pid_file: Path) -> None:
    try:
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
    except OSError:
        pass


@sandbox_app.command("send")
def send(
    file: Annotated[Path, typer.Argument(help='A billing event (or {"events": [...]}) as JSON.')],
    port: AppPort = 3000,
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
    if response.status_code >= 400:
        raise typer.Exit(1)


REJECTED_DEFAULT = "Rejected in the sandbox"
ACTIONS = ("approve", "reject", "request-changes", "resubmit", "details")


@sandbox_app.command("click")
def click(
    exception: Annotated[str, typer.Argument(help="The exception, e.g. BX-000001.")],
    action: Annotated[
        str, typer.Argument(help="approve, reject, request-changes, resubmit or details.")
    ],
    user: Annotated[str, typer.Option("--as", help="The Slack user who clicks, e.g. U0FINMGR1.")],
    reason: Annotated[
        str, typer.Option(help="Why, when rejecting; what must change, with request-changes.")
    ] = REJECTED_DEFAULT,
    port: AppPort = 3000,
    slack_port: SlackPort = 3001,
) -> None:
    """Click Approve, Reject, Request changes or Details on an exception's card, or the
    requester's Resubmit button in their DM, signed as Slack would sign it, and say what
    happened (Details: print the modal). Exits 1 when nothing was recorded (refused, a repeat,
    already decided)."""
    from app.sandbox.clicks import EmulatedSlack, NotRecorded, SandboxRecords

    if action not in ACTIONS:
        raise typer.BadParameter(", ".join(ACTIONS), param_hint="ACTION")
    ports = Ports(port, slack_port)
    try:
        records = SandboxRecords(_database_url())
    except NotRecorded as why:
        raise _fail(str(why)) from None
    slack = EmulatedSlack(ports.slack_url)
    try:
        with _reaching(f"Countersign at {ports.app_url} or Slack at {ports.slack_url}"):
            card = records.card(exception)
            if action == "details":
                from app.cli.sandbox_views import details_of, echo_lines

                echo_lines(details_of(ports, card, user))
                return
            typer.echo(_click(records, slack, ports, card, action, user, reason))
    except NotRecorded as why:
        typer.echo(str(why), err=True)
        raise typer.Exit(1) from None
    finally:
        records.close()
        slack.close()


def _click(
    records: SandboxRecords,
    slack: EmulatedSlack,
    ports: Ports,
    card: Card,
    action: str,
    user: str,
    reason: str,
) -> str:
    """Click, then wait for what Countersign did about it; NotRecorded when it recorded nothing."""
    from app.sandbox.clicks import NotRecorded, dialog_error, wait
    from app.sandbox.slack_delivery import SlackDelivery
    from app.slack.ids import REJECT_REASON_ACTION, ActionId, BlockId

    if action in ("request-changes", "resubmit"):
        from app.cli import sandbox_changes

        with SlackDelivery(
            app_url=f"{ports.app_url}/slack/events",
            signing_secret=SIGNING_SECRET,
            emulator_url=ports.slack_url,
        ) as delivery:
            if action == "resubmit":
                return sandbox_changes.resubmit(records, slack, delivery, card, user)
            note = "Please correct it" if reason == REJECTED_DEFAULT else reason
            return sandbox_changes.request_changes(records, slack, delivery, card, user, note)

    decided_before = records.decisions_by(card.exception_id, user)
    notes_before = len(slack.private_notes(user))
    views_before = len(slack.opened_views())
    with SlackDelivery(
        app_url=f"{ports.app_url}/slack/events",
        signing_secret=SIGNING_SECRET,
        emulator_url=ports.slack_url,
    ) as delivery:
        action_id = ActionId.APPROVE if action == "approve" else ActionId.REJECT
        try:
            answer = delivery.click(card.channel, card.ts, action_id, user)
        except LookupError:  # the button is gone: the card shows a decided exception
            raise NotRecorded(
                f"{card.label}: not recorded. Its card has no {action} button any more: "
                f"{slack.card_text(card)}"
            ) from None
        _answered(card, answer)
        if action == "reject":
            views = wait(lambda: slack.opened_views()[views_before:] or None, 5)
            if not views:
                raise NotRecorded(f"{card.label}: no reason dialog opened for {user}")
            answer = delivery.submit_view(
                views[-1]["id"], user, {BlockId.REJECT_REASON: {REJECT_REASON_ACTION: reason}}
            )
            _answered(card, answer)
            refused = dialog_error(answer)
            if refused:
                raise NotRecorded(f"{card.label}: not recorded. The dialog says: {refused}")

    def outcome() -> str | None:
        notes = slack.private_notes(user)[notes_before:]
        if notes:
            raise NotRecorded(
                f"{card.label}: not recorded. Countersign told {user} privately: {notes[-1]}"
            )
        decided = records.decisions_by(card.exception_id, user)
        return "recorded" if decided > decided_before else None

    if wait(outcome, 10) is None:
        raise NotRecorded(f"{card.label}: Countersign did not answer the click within 10 s")
    wait(lambda: records.settled(card.exception_id) or None, 20)
    return f"{records.recorded(card, user)}\ncard: {slack.card_text(card)}"


def _answered(card: Card, answer: httpx.Response) -> None:
    """A click Countersign answers with other than 200 (bad signature, crash) recorded nothing."""
    from app.sandbox.clicks import NotRecorded

    if answer.status_code != 200:
        raise NotRecorded(f"{card.label}: Countersign answered {answer.status_code} {answer.text}")


@contextmanager
def _asking(ports: Ports) -> Iterator[None]:
    """Countersign and the emulated Slack asked something: either one not reached, or the
    answer not what was asked for, is one plain line and exit 1."""
    from app.sandbox.clicks import NotRecorded

    try:
        with _reaching(f"Countersign at {ports.app_url} or Slack at {ports.slack_url}"):
            yield
    except NotRecorded as why:
        raise _fail(str(why)) from None


@sandbox_app.command("home")
def home(
    user: Annotated[str, typer.Option("--as", help="Whose Home tab, e.g. U0FINMGR1.")],
    port: AppPort = 3000,
    slack_port: SlackPort = 3001,
) -> None:
    """Open the person's App Home in the emulated Slack and print what Countersign published."""
    from app.cli.sandbox_views import echo_lines, home_of

    ports = Ports(port, slack_port)
    with _asking(ports):
        echo_lines(home_of(ports, user))


@sandbox_app.command("command")
def command(
    line: Annotated[str, typer.Argument(help='e.g. "/billing-exceptions list overdue".')],
    user: Annotated[str, typer.Option("--as", help="Who types it, e.g. U0FINMGR1.")],
    channel: Annotated[str, typer.Option(help="The channel it is typed in.")] = "C0BILLING",
    port: AppPort = 3000,
    slack_port: SlackPort = 3001,
) -> None:
    """Type a /billing-exceptions command in the emulated Slack and print the answer."""
    from app.cli.sandbox_views import command_answer

    ports = Ports(port, slack_port)
    with _asking(ports):
        typer.echo(command_answer(ports, line, user, channel))


@sandbox_app.command("show")
def show(
    slack_port: SlackPort = 3001,
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
