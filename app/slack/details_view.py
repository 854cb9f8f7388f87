"""The Details of one exception as mrkdwn sections: the modal (blocks/details_modal.json.j2)
and `/billing-exceptions show` (the same sections as text) both come from here.

The modal opens with what Countersign stores and "Reading Intacct…"; it is then updated with
the Intacct part (LiveContext). Every external value is escaped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.flows.details import LiveContext, StoredDetails
from app.slack.mrkdwn import escape
from app.slack.render import BlockRenderer, person

WHEN = "%Y-%m-%d %H:%M UTC"
MOST_OPEN_SHOWN = 10
LOADING = "_Reading the invoice and the customer's receivables from Intacct…_"


def _bullets(pairs: tuple[tuple[str, str], ...]) -> str:
    return "\n".join(f"• {escape(name)}: {escape(value)}" for name, value in pairs)


def stored_sections(d: StoredDetails, now: datetime) -> list[str]:
    """What Countersign holds, one mrkdwn text per section."""
    summary = [
        f"*{escape(d.state)}* · {escape(d.step_text)}",
        f"*Customer* {escape(d.customer)} ({escape(d.customer_id)})",
        f"*Invoice* {escape(d.invoice)} · *Amount* {escape(d.amount)}",
        f"*Requested by* {person(d.requester)}",
    ]
    if d.approvers:
        summary.append("*Waiting for* " + ", ".join(person(a) for a in d.approvers))
    if d.reason:
        summary.append(f"*Reason* {escape(d.reason)}")
    if d.note:
        summary.append(f"⚠️ {escape(d.note)}")
    sections = ["\n".join(summary)]
    sections.append("*Figures*\n" + (_bullets(d.figures) or "none"))
    sections.append("*Contract*\n" + (_bullets(d.contract) or "none given"))
    received = f" · received {d.received_at.strftime(WHEN)}" if d.received_at else ""
    sections.append(
        f"*Route* {escape(d.route)}\n*Why it matched* {escape(d.route_reason)}\n"
        f"*Policy* `{escape(d.policy_hash)}`\n*Event* {escape(d.source)} / "
        f"{escape(d.event_id)}{received}"
    )
    decided = [
        f"{'✅' if x.outcome == 'approve' else '❌'} {person(x.who)}"
        + (f" for {person(x.on_behalf_of)}" if x.on_behalf_of else "")
        + f" {'approved' if x.outcome == 'approve' else 'rejected'} step {x.step + 1}"
        f" at {x.at.strftime(WHEN)}" + (f": {escape(x.reason)}" if x.reason else "")
        for x in d.decisions
    ]
    sections.append("*Decisions*\n" + ("\n".join(decided) or "none yet"))
    timers = [
        f"• {escape(t.kind)}"
        + (f" (level {t.level + 1})" if t.kind == "escalate" else "")
        + f" of step {t.step + 1} due {t.due_at.strftime(WHEN)}"
        for t in d.timers
    ]
    if d.sla_due is not None:
        late = "⚠️ *overdue* since" if d.sla_due <= now else "due"
        timers.insert(0, f"*SLA* {late} {d.sla_due.strftime(WHEN)}")
    sections.append("*Timers*\n" + ("\n".join(timers) or "none pending"))
    sections.append(
        f"*Evidence* `countersign evidence {d.label}` writes this exception's evidence packet"
        " (the event as received, the policy, every card and decision, the audit entries and"
        " their proof; HTML, JSON and PDF)."
    )
    return sections


def live_sections(live: LiveContext | None) -> list[str]:
    """What Intacct says now, or the loading line."""
    if live is None:
        return [LOADING]
    sections: list[str] = []
    if live.invoice is not None:
        inv = live.invoice
        lines = [f"• {escape(x.description)}: {escape(x.amount)}" for x in inv.lines]
        sections.append(
            f"*Invoice in Intacct* {escape(inv.number)} · *{escape(inv.state)}*\n"
            f"dated {escape(inv.invoice_date or '—')} · due {escape(inv.due_date or '—')} · "
            f"total {escape(inv.total)} · still due {escape(inv.due)}\n"
            + ("\n".join(lines) if lines else "_no lines returned_")
        )
    if live.open_total:
        shown = [
            f"• {escape(o.number)} {escape(o.state)} · due "
            f"{o.due_date.isoformat() if o.due_date else '—'} · {o.amount_due}"
            for o in live.open_invoices[:MOST_OPEN_SHOWN]
        ]
        hidden = len(live.open_invoices) - len(shown)
        if hidden > 0:
            shown.append(f"_…and {hidden} more_")
        sections.append(
            f"*Customer's receivables* open {escape(live.open_total)} in "
            f"{len(live.open_invoices)} invoice(s) · overdue {escape(live.overdue_total)} in "
            f"{live.overdue_count}\n" + ("\n".join(shown) or "_nothing open_")
        )
    sections += [f"⚠️ {escape(problem)}" for problem in live.problems]
    return sections


def details_modal(
    renderer: BlockRenderer, d: StoredDetails, live: LiveContext | None, now: datetime
) -> dict[str, Any]:
    """The Details modal (type "modal"), within Block Kit's limits."""
    return renderer.view(
        "details_modal.json.j2",
        f"details of {d.label}",
        title=f"{d.label} details",
        header=f"{d.label} · {d.type_label}",
        sections=stored_sections(d, now),
        live=live_sections(live),
    )


def details_text(d: StoredDetails, live: LiveContext | None, now: datetime) -> str:
    """The same content as one mrkdwn text (for `/billing-exceptions show`)."""
    parts = [f"*{d.label} · {escape(d.type_label)}*", *stored_sections(d, now)]
    return "\n\n".join([*parts, *live_sections(live)])
