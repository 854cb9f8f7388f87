"""The small interfaces through which flows talk to Slack and Intacct. Adapters live in
app/slack and app/intacct; flows hand them plain values (an ExceptionCard, never blocks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from app.domain.invoice import InvoiceSnapshot


class RetryLater(Exception):
    """The other side is busy or down: try this delivery again after `after` seconds."""

    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


class NeedsAttention(RetryLater):
    """A person must fix something outside Countersign (credentials, a permission, a sender id)
    before this can succeed: not a refusal of this item. Retried later like any RetryLater; a
    worker may park the job and tell an admin, showing `reason`."""

    def __init__(self, reason: str, after: float | None = 60, *, code: str | None = None) -> None:
        super().__init__(reason, after=after)
        self.reason = reason
        self.code = code  # the other side's error code, for metrics (e.g. "not_in_channel")


class Paced(RetryLater):
    """Not now, by the rate limits (ours or a 429's Retry-After): due again after exactly
    `after` seconds. Our own pacing is not a failure and gives the attempt back; a 429 that
    Slack actually answered (`refused=True`) counts against the job's waiting budget, so a job
    Slack refuses for ever still comes to rest."""

    def __init__(self, message: str, after: float, *, refused: bool = False) -> None:
        super().__init__(message, after=after)
        self.wait, self.refused = after, refused


class OutcomeUnknown(RetryLater):
    """The request was sent but its answer was lost (timeout, connection cut, 5xx): a write may
    have been applied. Re-read the other side before deciding; retrying blindly may repeat it."""


class DeliveryFailed(Exception):
    """The other side refused for good (bad channel, unknown user): retrying will not help."""


@dataclass(frozen=True)
class DecisionLine:
    who: str  # Slack user id
    outcome: str  # approve | reject
    at: str  # already formatted for people
    reason: str | None = None
    on_behalf_of: str | None = None  # the delegator, when `who` decided as their delegate


@dataclass(frozen=True)
class ChangesLine:
    """An open request for changes: who asked, when (formatted), what."""

    who: str
    at: str
    note: str
    resubmitting: bool = False  # the requester resubmitted; the invoice is being re-read


@dataclass(frozen=True)
class ExceptionCard:
    """Everything an approval card shows, as plain text; the Slack adapter renders it."""

    exception_id: int
    label: str
    type_label: str
    customer: str
    invoice: str
    amount: str
    figures: tuple[tuple[str, str], ...]
    reason: str | None
    requester: str | None  # a Slack user id or an e-mail address
    route: str
    state: str
    step_text: str  # e.g. "step 1 of 2: quorum 1 of U0FINMGR1, U0FINMGR2"
    approvers: tuple[str, ...]
    decisions: tuple[DecisionLine, ...] = field(default=())
    note: str | None = None
    open: bool = True  # buttons shown only while a decision is possible
    step: int = 0  # the current step (0-based) and the card's version (decisions so far):
    version: int = 0  # the buttons carry both, so a click on an outdated card is refused
    # Active delegations of the current step's approvers: (delegate, delegator, until date).
    stand_ins: tuple[tuple[str, str, str], ...] = ()
    changes: ChangesLine | None = None  # while changes are requested
    resubmit: bool = False  # the requester's copy: a Resubmit button instead of decisions


class ChatPort(Protocol):
    def card_slot(self, channel: str) -> None:
        """Take the rate-limit slot for the next post_card in `channel`; raise Paced when
        there is none now (the caller comes back at the moment it names)."""

    def post_card(self, channel: str, card: ExceptionCard) -> str:
        """Post the approval card, tagged with its exception id; return the message ts. The
        caller took its slot with card_slot first."""

    def find_cards(self, channel: str, exception_id: int, since: datetime) -> list[str]:
        """The ts of every card of this exception posted in `channel` since `since`, oldest
        first (how a post whose answer was lost is found again)."""

    def delete_card(self, channel: str, ts: str) -> None:
        """Remove a card (a duplicate); one already gone is not an error."""

    def update_card(self, channel: str, ts: str, card: ExceptionCard) -> None:
        """Replace the card in place."""

    def post_thread(self, channel: str, ts: str, text: str) -> None:
        """Add a note in the card's thread."""

    def post_text(self, channel: str, text: str) -> None:
        """A plain message in a channel (admin notices)."""

    def tell_user(self, channel: str, user: str, text: str) -> None:
        """An ephemeral message only `user` sees."""

    def notify_user(self, user: str, text: str) -> None:
        """A direct message to one person (a Slack user id or an e-mail address)."""

    def dm_card(self, user: str, intro: str, card: ExceptionCard) -> None:
        """DM one person the card, under a line saying why they get it."""


class InvoicePort(Protocol):
    def get_invoice(self, key: str) -> InvoiceSnapshot:
        """Read an invoice as it is now."""

    def submit_invoice(self, key: str, *, idempotency_key: str) -> InvoiceSnapshot:
        """Post a draft invoice; a repeat with the same key must not post twice."""


class InvoiceRefused(Exception):
    """Intacct refused the read or the release for good (not found, not a draft, conflict)."""


@dataclass(frozen=True)
class PostedInvoice:
    """An invoice Intacct holds in a posted state, and when Intacct last changed it."""

    invoice: InvoiceSnapshot
    modified_at: str | None = None  # Intacct's audit.modifiedDateTime, as it sent it


class InvoiceLedgerPort(Protocol):
    """The reads reconciliation needs: one invoice by key, and what was posted since a time."""

    def get_invoice(self, key: str) -> InvoiceSnapshot:
        """Read an invoice as it is now (InvoiceRefused when Intacct has none by that key)."""

    def posted_since(self, since: datetime) -> list[PostedInvoice]:
        """Every invoice in a posted state that Intacct changed at or after `since`."""
