"""`/billing-exceptions reassign BX-000123 @from @to reason…`: an admin moves a pending step's
seat from one approver to another (app/flows/reassign.py). Who is an admin: the `access`
section's admins, else the `admins` group (app/routing/admins.py). A line that cannot be one
is answered inside the ack."""

from __future__ import annotations

from app.domain.lifecycle import parse_label
from app.flows.decide import UnknownException
from app.flows.reassign import ReassignCommand, reassign
from app.routing.admins import is_admin
from app.slack.deps import SlackDeps
from app.slack.listeners.mentions import person
from app.slack.mrkdwn import escape

USAGE = "Usage: `/billing-exceptions reassign BX-000123 @from @to reason`."


def _parse(rest: str) -> tuple[int, str, str, str] | str:
    words = rest.split(maxsplit=3)
    if len(words) < 4:
        return USAGE
    try:
        exception_id = parse_label(words[0])
    except ValueError as error:
        return escape(str(error))
    old, new = person(words[1]), person(words[2])
    if old is None or new is None:
        bad = words[1] if old is None else words[2]
        return (
            f"{escape(bad)} is not a person Countersign can name: pick them with @ so Slack "
            "fills in the mention, or give their member ID (U…)."
        )
    return exception_id, old, new, words[3].strip()


def quick_answer(text: str) -> str | None:
    parsed = _parse(text.strip().partition(" ")[2].strip())
    return parsed if isinstance(parsed, str) else None


def answer(deps: SlackDeps, user: str, text: str) -> str:
    parsed = _parse(text.strip().partition(" ")[2].strip())
    if isinstance(parsed, str):
        return parsed
    exception_id, old, new, reason = parsed
    by = deps.actor(user)
    admin = deps.policy is not None and is_admin(deps.policy(), by)
    command = ReassignCommand(exception_id, by, deps.actor(old), deps.actor(new), reason, admin)
    try:
        return reassign(deps.db, command, now=deps.clock.now()).message
    except UnknownException as missing:
        return escape(str(missing))
