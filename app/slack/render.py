"""Render Block Kit JSON from the Jinja2 templates in blocks/, safely.

The environment is sandboxed; every value goes in through `tojson`; mrkdwn text is escaped;
the result is fitted to Block Kit's limits (truncating with a logged warning) and checked."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import structlog
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from app.domain.approval import CardRef
from app.flows.policy_cards import PolicyChangeCard
from app.flows.ports import ExceptionCard
from app.slack import blockkit, ids, mrkdwn

BLOCKS_DIR = Path(__file__).resolve().parents[2] / "blocks"
# A context text element holds 3,000 characters; the approver list stays well inside that.
APPROVERS_BUDGET = 1500
# A section's text holds 3,000 characters: the diff shown on a policy card stays inside that.
DIFF_BUDGET = 2700
# A section holds 10 fields; one stays free for the "more in Details" line.
MAX_FIGURES = 9
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
log = structlog.get_logger("countersign.slack.render")


def revised(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks with each block_id suffixed by a digest of the message's content, so every
    new iteration of a message carries new block_ids and a repeat render the same ones. Slack:
    "block_id should be unique for each message and each iteration of a message. If a message
    is updated, use a new block_id." (docs.slack.dev/tools/node-slack-sdk/reference/types/
    interfaces/Block)."""
    content = json.dumps(blocks, sort_keys=True, ensure_ascii=False).encode()
    digest = hashlib.sha256(content).hexdigest()[:8]
    return [
        {**block, "block_id": f"{block['block_id']}.{digest}"} if "block_id" in block else block
        for block in blocks
    ]


def person(value: str | None) -> str:
    """A Slack user id becomes a mention; anything else is shown as escaped text."""
    if not value:
        return "—"
    return f"<@{value}>" if _SLACK_USER.match(value) else mrkdwn.escape(value)


def people(values: tuple[str, ...] | list[str], budget: int = APPROVERS_BUDGET) -> str:
    """Everyone, comma-separated, when they fit in `budget` characters; otherwise as many as
    fit and a count: "Ana, Ben and 183 others"."""
    shown: list[str] = []
    for index, value in enumerate(values):
        rest = len(values) - index - 1
        candidate = ", ".join([*shown, person(value)])
        tail = f" and {rest} others" if rest > 1 else (" and 1 other" if rest else "")
        if len(candidate) + len(tail) > budget and shown:
            hidden = len(values) - len(shown)
            return ", ".join(shown) + (f" and {hidden} others" if hidden > 1 else " and 1 other")
        shown.append(person(value))
    return ", ".join(shown)


def stand_in_text(stand_ins: tuple[tuple[str, str, str], ...]) -> str:
    """ " · <@U0BEN> decides for <@U0ANA> until 2026-12-10", one per delegation."""
    return "".join(
        f" · {person(delegate)} decides for {person(delegator)} until {mrkdwn.escape(until)}"
        for delegate, delegator, until in stand_ins
    )


def figure_lines(figures: tuple[tuple[str, str], ...]) -> list[str]:
    """The figures as mrkdwn fields, at most MAX_FIGURES, then a "more in Details" line."""
    lines = [f"{mrkdwn.escape(name)}: {mrkdwn.escape(value)}" for name, value in figures]
    if len(lines) <= MAX_FIGURES + 1:
        return lines
    hidden = len(lines) - MAX_FIGURES
    return [*lines[:MAX_FIGURES], f"_…and {hidden} more in Details_"]


def fitted_diff(diff: str, budget: int = DIFF_BUDGET) -> str:
    """The diff escaped in a code block, cut at a whole line to fit `budget` characters, with
    the number of lines left out; "no changes" when empty."""
    if not diff:
        return "_No changes in the files._"
    lines = diff.splitlines()
    shown: list[str] = []
    size = 0
    for line in lines:
        piece = mrkdwn.escape(line[:300]) + "\n"
        if size + len(piece) > budget:
            break
        shown.append(piece)
        size += len(piece)
    left = len(lines) - len(shown)
    more = f"\n_…{left} more line{'s' if left != 1 else ''}, see the full diff_" if left else ""
    return "```" + "".join(shown) + "```" + more


class BlockRenderer:
    def __init__(self, directory: Path = BLOCKS_DIR) -> None:
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(directory), undefined=StrictUndefined, autoescape=False
        )
        self._env.filters["mrkdwn"] = lambda v: mrkdwn.escape(str(v))
        self._env.filters["person"] = person
        self._env.filters["mrkdwn_mentions"] = lambda v: mrkdwn.escape_keeping_mentions(str(v))

    def _render(self, template: str, **values: Any) -> Any:
        text = self._env.get_template(template).render(ids=ids, **values)
        return json.loads(text)

    def card(
        self, card: ExceptionCard, intro: str | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        """The card's fallback text and blocks, within Block Kit limits; `intro` leads a DM."""
        outcome_lines = [
            f"{'✅' if d.outcome == 'approve' else '❌'} {person(d.who)}"
            + (f" for {person(d.on_behalf_of)} " if d.on_behalf_of else " ")
            + f"{'approved' if d.outcome == 'approve' else 'rejected'} at {d.at}"
            + (f": {mrkdwn.escape(d.reason)}" if d.reason else "")
            for d in card.decisions
        ]
        if card.changes:
            asked = card.changes
            outcome_lines.append(
                f"✏️ {person(asked.who)} asked for changes at {asked.at}: "
                f"{mrkdwn.escape(asked.note)}" + (" (resubmitting…)" if asked.resubmitting else "")
            )
        if card.note:
            outcome_lines.append(f"⚠️ {mrkdwn.escape(card.note)}")
        blocks = self._render(
            "approval_card.json.j2",
            card=card,
            outcome_lines=outcome_lines,
            approvers=people(card.approvers) + stand_in_text(card.stand_ins),
            figures=figure_lines(card.figures),
            intro=intro,
            decision_value=ids.decision_value(card.exception_id, card.step, card.version),
        )
        fitted, warnings = blockkit.fit_message(revised(blocks))
        for warning in warnings:
            log.warning("card.truncated", exception_label=card.label, detail=warning)
        problems = blockkit.check_message(fitted)
        if problems:
            raise ValueError(f"card for {card.label} breaks Block Kit limits: {problems}")
        text = f"{card.label} {card.type_label}: {card.customer}, {card.amount} — {card.state}"
        if intro:
            text = f"{intro} {text}"
        return mrkdwn.escape(text), fitted

    def policy_card(self, card: PolicyChangeCard) -> tuple[str, list[dict[str, Any]]]:
        """A policy change card: the diff (fitted), who may decide, Approve/Reject while open."""
        old = card.in_force[:12] or "current"
        command = f"countersign policies diff {old} {card.proposed[:12]}"
        blocks = self._render(
            "policy_change_card.json.j2",
            card=card,
            diff=fitted_diff(card.diff),
            approvers=people(card.approvers),
            full_diff_command=command,
            value=str(card.version_id),
        )
        fitted, warnings = blockkit.fit_message(blocks)
        for warning in warnings:
            log.warning("policy_card.truncated", version=card.version_id, detail=warning)
        problems = blockkit.check_message(fitted)
        if problems:
            raise ValueError(f"policy card {card.version_id} breaks Block Kit limits: {problems}")
        text = f"Policy change {card.proposed[:12]}: {card.state}"
        return mrkdwn.escape(text), fitted

    def view(self, template: str, what: str, **values: Any) -> dict[str, Any]:
        """A modal or Home view from `template`, fitted to Block Kit's limits (each cut
        logged) and checked; `what` names it in the log."""
        view: dict[str, Any] = self._render(template, **values)
        fitted, warnings = blockkit.fit_view(view)
        for warning in warnings:
            log.warning("view.truncated", view=what, detail=warning)
        problems = blockkit.check_view(fitted)
        if problems:
            raise ValueError(f"{what} breaks Block Kit limits: {problems}")
        return fitted

    def reject_modal(self, card: CardRef, label: str) -> dict[str, Any]:
        """The reason modal for a Reject click on `card`; submitting it decides on that card."""
        return self._modal("reject_modal.json.j2", card, label)

    def changes_modal(self, card: CardRef, label: str) -> dict[str, Any]:
        """The "what must change" modal for a Request changes click on `card`."""
        return self._modal("changes_modal.json.j2", card, label)

    def _modal(self, template: str, card: CardRef, label: str) -> dict[str, Any]:
        value = ids.decision_value(card.exception_id, card.step, card.version)
        view: dict[str, Any] = self._render(template, decision_value=value, label=label)
        fitted, warnings = blockkit.fit_view(view)
        for warning in warnings:
            log.warning("modal.truncated", exception=label, detail=warning)
        return fitted
