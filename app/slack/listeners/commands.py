"""/billing-exceptions: list (with filters), mine, show BX-000123, stats [7d|30d], delegate,
delegate off, reassign, help.

`help` (and an empty line, an unknown verb, an id that cannot be one, a delegate or reassign
line that cannot be one) is answered inside the ack. Every other verb needs the database (and
`show` Intacct): the command is acked at once and the answer follows through the command's
response_url from Countersign's workers, or "busy, try again" inside the ack when they are
full. The verbs and who may use them: app/slack/command_verbs.py; answers
are ephemeral."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from app.slack.command_verbs import HELP, VERBS, Refused, answer, wanted_label
from app.slack.deps import SlackDeps
from app.slack.executor import BUSY, Busy
from app.slack.ids import SLASH_COMMAND
from app.slack.listeners import delegate_command
from app.slack.listeners.reply import reply, response_url
from app.slack.mrkdwn import escape as escape_mrkdwn
from app.slack.mrkdwn import unescape


def quick_answer(text: str) -> str | None:
    """The reply when it needs no database (help, an unknown verb); None when it does."""
    verb, _, rest = text.strip().partition(" ")
    if verb in ("", "help"):
        return HELP
    if verb not in VERBS:
        return f"Unknown command `{escape_mrkdwn(verb[:40])}`.\n{HELP}"
    if delegate_command.handles(text):  # delegate, delegate off, reassign: their own usage
        return delegate_command.quick_answer(text)
    if verb == "show":
        try:
            wanted_label(rest)
        except Refused as refusal:
            return str(refusal)
    return None


def register(app: App, deps: SlackDeps) -> None:
    @app.command(SLASH_COMMAND)
    def billing_exceptions(ack: Ack, command: dict[str, Any]) -> None:
        text = str(command.get("text") or "")
        quick = quick_answer(text)
        if quick is not None:
            ack(quick)
            return
        url = response_url(command)
        user, channel = command.get("user_id"), command.get("channel_id")
        if not isinstance(user, str):
            ack("This command names no Slack user; nothing was done.")
            return

        def run() -> None:
            text_out = answer(deps, deps.actor(user), text)
            # respond() escapes what it sends (keeping <@U…> mentions): hand it plain text
            reply(deps, url, channel, user, unescape(text_out))

        try:
            deps.work.submit(run, "command")
        except Busy:
            ack(BUSY)
            return
        ack()
        return
