"""`/billing-exceptions delegate @person until YYYY-MM-DD [reason]`, `delegate off` (and
`reassign`, answered by reassign_command.py).

The dispatcher (commands.py, its table in app/slack/command_verbs.py) hands these verbs here.
A line that cannot be one (a missing date, a person not given as an @mention) is answered
inside the ack (`quick_answer`); the rest is acked at once and `answer` runs on Countersign's
workers, its reply going through the command's response_url. The date is a day in the
policy's time zone (UTC when the policy sets none): the delegation holds through that whole
day there."""

from __future__ import annotations

from datetime import date

from app.domain.delegation import DelegationRefused
from app.flows import delegation
from app.slack.deps import SlackDeps
from app.slack.listeners import reassign_command
from app.slack.listeners.mentions import person
from app.slack.mrkdwn import escape

VERBS = ("delegate", "reassign")
USAGE = (
    "Usage: `/billing-exceptions delegate @person until YYYY-MM-DD [reason]`, "
    "or `/billing-exceptions delegate off`."
)


def handles(text: str) -> bool:
    """Whether the command line is one of this module's verbs."""
    return text.strip().partition(" ")[0] in VERBS


def _parse(rest: str) -> tuple[str, date, str | None] | str:
    """(delegate, until, reason) from "@person until YYYY-MM-DD [reason]", or what is wrong."""
    words = rest.split(maxsplit=3)
    if len(words) < 3 or words[1] != "until":
        return USAGE
    who = person(words[0])
    if who is None:
        return (
            f"{escape(words[0])} is not a person Countersign can name: pick them with @ so Slack "
            "fills in the mention, or give their member ID (U…)."
        )
    try:
        until = date.fromisoformat(words[2])
    except ValueError:
        return f"{escape(words[2])} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-24."
    reason = words[3].strip() if len(words) > 3 else None
    return who, until, reason or None


def quick_answer(text: str) -> str | None:
    """The answer when the line is wrong as written (no database needed); None otherwise."""
    if text.strip().startswith("reassign"):
        return reassign_command.quick_answer(text)
    rest = text.strip().partition(" ")[2].strip()
    if rest == "off":
        return None
    parsed = _parse(rest)
    return parsed if isinstance(parsed, str) else None


def answer(deps: SlackDeps, user: str, text: str) -> str:
    """Make or end the caller's delegation (or reassign); the sentence to show them."""
    if text.strip().startswith("reassign"):
        return reassign_command.answer(deps, user, text)
    rest = text.strip().partition(" ")[2].strip()
    now = deps.clock.now()
    if rest == "off":
        ended = delegation.revoke(deps.db, user, now=now)
        if not ended:
            return "You have no active delegation."
        names = ", ".join(f"<@{d.delegate}>" for d in ended)
        return f"Delegation ended: {names} no longer decides for you."
    parsed = _parse(rest)
    if isinstance(parsed, str):
        return parsed
    delegate, until, reason = parsed
    zone = deps.policy().timezone if deps.policy else "UTC"
    command = delegation.DelegateCommand(deps.actor(user), delegate, until, zone, reason)
    try:
        made = delegation.create(deps.db, command, now=now)
    except DelegationRefused as refusal:
        return escape(str(refusal))
    return (
        f"<@{made.delegate}> decides your approvals until the end of {made.until} "
        f"({made.timezone}) and gets your reminders; each decision names you both. "
        "`/billing-exceptions delegate off` ends it sooner."
    )
