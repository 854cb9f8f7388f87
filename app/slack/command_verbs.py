"""The verbs of `/billing-exceptions`, each answering one line of text for one person.

A verb is `(deps, actor, rest) -> text` (mrkdwn, external values escaped). `VERBS` is the
dispatcher's table; `delegate` (and `delegate off`) and `reassign` are answered by
app/slack/listeners/delegate_command.py. Who may use which verb follows the policy's `access`
section (app/flows/access.py); who is an admin, app/routing/admins.py."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import timedelta

from app.domain.approval import Actor
from app.domain.events import ExceptionType
from app.domain.lifecycle import parse_label
from app.flows import access, listing
from app.flows.details import live_context, stored_details
from app.flows.home import MINE_LIMIT
from app.flows.queue import QueueLine
from app.routing.durations import format_duration
from app.routing.policy_set import Access
from app.slack.deps import SlackDeps
from app.slack.details_view import details_text
from app.slack.home_view import WHEN, decided_text, request_text, waiting_text
from app.slack.listeners import delegate_command
from app.slack.mrkdwn import escape
from app.slack.payloads import MAX_EXCEPTION_ID

Verb = Callable[[SlackDeps, Actor, str], str]
WINDOWS = {"": timedelta(days=7), "7d": timedelta(days=7), "30d": timedelta(days=30)}
FILTER_KEYS = ("type", "route", "customer")
TYPES = tuple(t.value for t in ExceptionType)
MAX_REPLY = 12_000
CUT = "\n_…cut here: the rest is in Details on the card_"

HELP = (
    "*/billing-exceptions* — the billing exception queue\n"
    "• `list [type=…] [route=…] [customer=…] [overdue]` — open exceptions, oldest first\n"
    "• `mine` — what waits for you, and your requests\n"
    "• `show BX-000123` — everything about one exception (as Details on the card)\n"
    "• `stats [7d|30d]` — open by route, time to decision, share within SLA, oldest open\n"
    "• `delegate @person until YYYY-MM-DD [reason]` / `delegate off` — hand over your approvals\n"
    "• `reassign BX-000123 @from @to reason` — admins: move a pending step to someone else\n"
    "• `help` — this text"
)


class Refused(Exception):
    """One line for the person: a mistake in the command, or not allowed."""


def policy_access(deps: SlackDeps) -> Access | None:
    return deps.policy().access if deps.policy is not None else None


def _viewer(deps: SlackDeps, actor: Actor) -> None:
    if not access.may_view_all(policy_access(deps), actor):
        raise Refused(access.REFUSED)


def _line(line: QueueLine) -> str:
    return (
        f"*{line.label}* {escape(line.type)} · {escape(line.customer)} · {escape(line.amount)}"
        f" · route {escape(line.route)}"
    )


def parse_filters(rest: str) -> listing.Filters:
    """`type=invoice_dispute route=disputes customer="Acme Inc" overdue` → Filters."""
    try:
        words = shlex.split(rest)
    except ValueError as error:
        raise Refused(f"Cannot read the filters: {error}.") from None
    values: dict[str, str] = {}
    overdue = False
    for word in words:
        if word == "overdue":
            overdue = True
            continue
        key, sep, value = word.replace(":", "=", 1).partition("=")
        if not sep or key not in FILTER_KEYS or not value:
            raise Refused(
                f"Unknown filter `{escape(word[:40])}`: use type=…, route=…, customer=… or overdue."
            )
        values[key] = value
    if "type" in values and values["type"] not in TYPES:
        raise Refused(f"Unknown type `{escape(values['type'][:40])}`: one of {', '.join(TYPES)}.")
    return listing.Filters(
        values.get("type"), values.get("route"), values.get("customer"), overdue=overdue
    )


def _late(item: listing.Listed) -> str:
    if not (item.overdue and item.sla_due):
        return ""
    return f" · ⚠️ *overdue* since {item.sla_due.strftime(WHEN)}"


def list_verb(deps: SlackDeps, actor: Actor, rest: str) -> str:
    filters = parse_filters(rest)
    _viewer(deps, actor)
    now = deps.clock.now()
    shown, total = listing.open_listing(deps.db, filters, now)
    if not shown:
        return "Nothing open matches. 🎉" if rest.strip() else "Nothing is waiting. 🎉"
    lines = [f"{_line(item.line)} · open since {item.opened_at.strftime(WHEN)}{_late(item)}"
             for item in shown]  # fmt: skip
    head = f"*{total} open*" + (" (matching)" if rest.strip() else "")
    if total > len(shown):
        lines.append(f"_…and {total - len(shown)} more: narrow it with filters_")
    return "\n".join([head, *lines])


def mine_verb(deps: SlackDeps, actor: Actor, rest: str) -> str:
    queue = deps.home_jobs().queue(actor.user_id, deps.clock.now(), actor, waiting_limit=MINE_LIMIT)
    parts = [f"*Waiting for you* ({len(queue.waiting) + queue.waiting_more})"]
    parts += [waiting_text(item) for item in queue.waiting] or ["Nothing is waiting for you. 🎉"]
    if queue.waiting_more:
        parts.append(f"_…and {queue.waiting_more} more: `list` narrows them with filters_")
    if queue.as_delegate:
        parts.append("*Waiting for you as a delegate*")
        parts += [waiting_text(item) for item in queue.as_delegate]
    parts.append("*Your requests*")
    parts += [request_text(item) for item in queue.requests] or ["You have no requests."]
    if queue.decided:
        parts.append("*Decided by you recently*")
        parts += [decided_text(item) for item in queue.decided]
    return "\n".join(parts)


def wanted_label(rest: str) -> int:
    """The exception id `show` names; Refused when it cannot be one."""
    try:
        wanted = parse_label(rest)
    except ValueError as error:
        raise Refused(escape(str(error))) from None
    if not 0 < wanted <= MAX_EXCEPTION_ID:
        raise Refused(f"{escape(rest.strip()[:40])} does not exist.")
    return wanted


def show_verb(deps: SlackDeps, actor: Actor, rest: str) -> str:
    wanted = wanted_label(rest)
    stored = stored_details(deps.db, wanted)
    if stored is None:
        raise Refused(f"{escape(rest.strip())} does not exist.")
    if not access.may_view(policy_access(deps), actor, stored.people):
        raise Refused(access.REFUSED)
    now = deps.clock.now()
    return details_text(stored, live_context(deps.receivables, stored, now.date()), now)


def _took(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else "—"


def stats_verb(deps: SlackDeps, actor: Actor, rest: str) -> str:
    window = rest.strip()
    if window not in WINDOWS:
        raise Refused(f"Unknown period `{escape(window[:20])}`: use `stats 7d` or `stats 30d`.")
    _viewer(deps, actor)
    now = deps.clock.now()
    figures = listing.stats(deps.db, WINDOWS[window], now)
    routes = ", ".join(f"{escape(r)} {n}" for r, n in figures.open_by_route) or "none"
    share = (
        f"{round(100 * figures.within_sla / figures.with_sla)} % ({figures.within_sla} of "
        f"{figures.with_sla} with an SLA)"
        if figures.with_sla
        else "— (none had an SLA)"
    )
    oldest = "none"
    if figures.oldest_open is not None:
        item = figures.oldest_open
        oldest = f"{_line(item.line)} · open since {item.opened_at.strftime(WHEN)}" + (
            " · ⚠️ overdue" if item.overdue else ""
        )
    return "\n".join(
        [
            f"*Stats since {figures.since.strftime(WHEN)}* ({window or '7d'})",
            f"• Open by route: {routes}",
            f"• Decided: {figures.decided} · time to decision: median {_took(figures.median)}, "
            f"p90 {_took(figures.p90)}",
            f"• Decided within SLA: {share}",
            f"• Oldest open: {oldest}",
        ]
    )


def delegate_verb(deps: SlackDeps, actor: Actor, rest: str) -> str:
    return delegate_command.answer(deps, actor.user_id, f"delegate {rest}")


def reassign_verb(deps: SlackDeps, actor: Actor, rest: str) -> str:
    return delegate_command.answer(deps, actor.user_id, f"reassign {rest}")


def help_verb(deps: SlackDeps, actor: Actor, rest: str) -> str:
    return HELP


VERBS: dict[str, Verb] = {
    "list": list_verb,
    "mine": mine_verb,
    "show": show_verb,
    "stats": stats_verb,
    "delegate": delegate_verb,  # delegate @person until …, delegate off
    "reassign": reassign_verb,
    "help": help_verb,
}


def answer(deps: SlackDeps, actor: Actor, text: str) -> str:
    """The reply to one command line (never raises for a person's mistake)."""
    verb, _, rest = text.strip().partition(" ")
    handler = VERBS.get(verb or "help")
    if handler is None:
        return f"Unknown command `{escape(verb[:40])}`.\n{HELP}"
    try:
        text_out = handler(deps, actor, rest)
    except Refused as refusal:
        return str(refusal)
    if len(text_out) > MAX_REPLY:  # Slack cuts a message's text at 40,000 characters
        text_out = text_out[: MAX_REPLY - len(CUT)] + CUT
    return text_out
