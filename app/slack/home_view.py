"""The Home tab of one person, from their queue (app/flows/home.py) and blocks/home.json.j2.

Slack allows 100 blocks in a Home view: the queue is already capped (20 waiting, 5 as a
delegate, 8 requests, 8 decisions: at most 85 blocks with the headings), the rest is named in a
"N more — use /billing-exceptions mine" line, and the view is fitted to Block Kit's limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.flows.home import DecidedItem, HomeQueue, RequestItem, WaitingItem
from app.flows.queue import QueueLine
from app.slack import ids
from app.slack.mrkdwn import escape
from app.slack.render import BlockRenderer, person

WHEN = "%Y-%m-%d %H:%M UTC"


def _what(line: QueueLine) -> str:
    return (
        f"*{line.label}* {escape(line.type)} · {escape(line.customer)} · {escape(line.amount)}"
        f" · route {escape(line.route)}"
    )


def due_text(item: WaitingItem) -> str:
    """Overdue since, due, or nothing: against the step's escalation or expiry."""
    if item.sla_due is None:
        return ""
    if item.overdue:
        return f"⚠️ *overdue* since {item.sla_due.strftime(WHEN)}"
    return f"due {item.sla_due.strftime(WHEN)}"


def waiting_text(item: WaitingItem) -> str:
    parts = [escape(item.step_text), f"waiting since {item.opened_at.strftime(WHEN)}"]
    if due := due_text(item):
        parts.append(due)
    if item.on_behalf_of:
        parts.append(f"for {person(item.on_behalf_of)}")
    return f"{_what(item.line)}\n" + " · ".join(parts)


def request_text(item: RequestItem) -> str:
    return f"{_what(item.line)}\n{escape(item.line.state)} · {escape(item.step_text)}"


def decided_text(item: DecidedItem) -> str:
    verb = "approved" if item.outcome == "approve" else "rejected"
    return (
        f"{_what(item.line)}\nyou {verb} it at {item.decided_at.strftime(WHEN)} · now "
        f"{escape(item.line.state)}"
    )


def _waiting(items: tuple[WaitingItem, ...]) -> list[dict[str, str]]:
    return [
        {
            "text": waiting_text(item),
            "value": ids.decision_value(item.exception_id, item.step, item.version),
        }
        for item in items
    ]


def home_view(renderer: BlockRenderer, queue: HomeQueue, now: datetime) -> dict[str, Any]:
    """The Home view (type "home") showing `queue`, within Slack's limits."""
    count = len(queue.waiting) + queue.waiting_more
    heading = f"*Waiting for you* ({count}" + (
        f", {queue.overdue} overdue)" if queue.overdue else ")"
    )
    more = (
        f"{queue.waiting_more} more — use `/billing-exceptions mine`" if queue.waiting_more else ""
    )
    return renderer.view(
        "home.json.j2",
        f"home of {queue.user_id}",
        waiting_heading=heading,
        waiting=_waiting(queue.waiting),
        more=more,
        delegated=_waiting(queue.as_delegate),
        requests=[request_text(item) for item in queue.requests],
        decided=[decided_text(item) for item in queue.decided],
        footer=f"Updated {now.strftime(WHEN)} · `/billing-exceptions help` for more",
    )


def home_text(view: dict[str, Any]) -> list[str]:
    """A published Home view as lines of text (what `countersign sandbox home` prints)."""
    lines: list[str] = []
    for block in view.get("blocks") or []:
        kind = block.get("type")
        if kind in ("header", "section"):
            lines.append(str((block.get("text") or {}).get("text", "")))
        elif kind == "context":
            lines += [str(e.get("text", "")) for e in block.get("elements") or []]
        elif kind == "actions":
            names = [str((e.get("text") or {}).get("text", "")) for e in block["elements"]]
            lines.append("  [" + "] [".join(names) + "]")
        elif kind == "divider":
            lines.append("—" * 20)
    return lines
