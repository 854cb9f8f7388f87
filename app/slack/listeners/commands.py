"""/billing-exceptions: help, list, show BX-000123. Answers are ephemeral.

`help` (and a line that is no command) is answered inside the ack. `list` and `show` need the
database: the command is acked at once and the answer follows through the command's
response_url from Countersign's workers, or "busy, try again" inside the ack when they are
full."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from app.domain.lifecycle import parse_label
from app.flows.queue import QueueLine, one_exception, open_exceptions
from app.slack.deps import SlackDeps
from app.slack.executor import BUSY, Busy
from app.slack.ids import SLASH_COMMAND
from app.slack.listeners import delegate_command
from app.slack.listeners.reply import reply, response_url
from app.slack.mrkdwn import escape as escape_mrkdwn
from app.slack.payloads import MAX_EXCEPTION_ID
from app.slack.render import person

HELP = (
    "*/billing-exceptions* — the billing exception queue\n"
    "• `list` — open exceptions waiting for a decision\n"
    "• `show BX-000123` — one exception\n"
    "• `delegate @person until YYYY-MM-DD [reason]` / `delegate off` — hand over your approvals\n"
    "• `reassign BX-000123 @from @to reason` — admins: move a pending step to someone else\n"
    "• `help` — this text"
)


def _describe(line: QueueLine) -> str:
    who = ", ".join(person(a) for a in line.approvers) or "—"
    return (
        f"*{line.label}* {escape_mrkdwn(line.type)} · {escape_mrkdwn(line.customer)} · "
        f"{escape_mrkdwn(line.amount)} · {line.state} · route {escape_mrkdwn(line.route)} · {who}"
    )


def quick_answer(text: str) -> str | None:
    """The reply when it needs no database (help, an unknown verb, an id that cannot be one);
    None when it does."""
    verb, _, rest = text.strip().partition(" ")
    if verb in ("", "help"):
        return HELP
    if verb == "list":
        return None
    if verb == "show":
        try:
            wanted = parse_label(rest)
        except ValueError as error:
            return escape_mrkdwn(str(error))
        return None if 0 < wanted <= MAX_EXCEPTION_ID else f"{escape_mrkdwn(rest)} does not exist."
    return f"Unknown command `{escape_mrkdwn(verb)}`.\n{HELP}"


def answer(deps: SlackDeps, text: str) -> str:
    """The reply to one command line."""
    quick = quick_answer(text)
    if quick is not None:
        return quick
    verb, _, rest = text.strip().partition(" ")
    if verb == "list":
        lines = open_exceptions(deps.db)
        return "\n".join(_describe(line) for line in lines) or "Nothing is waiting. 🎉"
    found = one_exception(deps.db, parse_label(rest))
    return _describe(found) if found else f"{escape_mrkdwn(rest)} does not exist."


def register(app: App, deps: SlackDeps) -> None:
    @app.command(SLASH_COMMAND)
    def billing_exceptions(ack: Ack, command: dict[str, Any]) -> None:
        text = str(command.get("text") or "")
        if delegate_command.handles(text):  # delegate, delegate off, reassign
            return delegate_command.run(ack, deps, command)
        quick = quick_answer(text)
        if quick is not None:
            ack(quick)
            return None
        url = response_url(command)
        user, channel = command.get("user_id"), command.get("channel_id")

        def run() -> None:
            reply(deps, url, channel, user, answer(deps, text))

        try:
            deps.work.submit(run, "command")
        except Busy:
            ack(BUSY)
            return None
        ack()
        return None
