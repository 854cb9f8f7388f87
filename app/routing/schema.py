"""The policy as written: plain records with the place of every value, and the value readers.

Stage one of loading. These readers check shapes and local values (types, durations, channel
and approver formats, zones, regexes); cross-references are checked when compiling.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from functools import lru_cache

from app.routing.conditions import Cond
from app.routing.durations import DurationError, parse_duration
from app.routing.errors import WARNING, Problem
from app.routing.fields import did_you_mean
from app.routing.source import Pos, YMap, YNode, YScalar, YSeq, describe

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
EMAIL = re.compile(r"^[^@\s:]+@[^@\s]+\.[^@\s]+$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
CHANNEL_NAME = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ON_EXPIRE = ("escalate", "reject", "keep")
ON_RESUBMIT = ("restart", "continue")  # a corrected submission: back to step 1, or stay
ON_INVOICE_CHANGE = ("reapprove", "reject", "report")  # the invoice changed after approval
TOP_LEVEL = "a policy file"
_STEP = ("on a step", "e.g. steps: [{approvers: [group:billing_ops], quorum: 1}]")
_TIMER = ("on a step, on a route or in `defaults`", None)
# Where each key of the policy language belongs (and an example), for a key in the wrong place.
KEY_HOMES: dict[str, tuple[str, str | None]] = {
    **dict.fromkeys(
        (
            "version",
            "admin_channel",
            "access",
            "calendars",
            "groups",
            "defaults",
            "routes",
            "unmatched",
            "change_control",
        ),
        ("at the top of the file", None),
    ),
    **dict.fromkeys(("viewers", "admins"), ("under `access`", "e.g. access: {viewers: [...]}")),
    "timezone": ("at the top of the file or in a calendar", None),
    **dict.fromkeys(
        ("channel", "calendar", "on_resubmit", "on_invoice_change"),
        ("on a route or in `defaults`", None),
    ),
    **dict.fromkeys(("remind_every", "expire_after", "on_expire"), _TIMER),
    **dict.fromkeys(("name", "when", "continue"), ("on a route", None)),
    **dict.fromkeys(
        ("description", "auto_approve", "steps"), ("on a route or in `unmatched`", None)
    ),
    **dict.fromkeys(
        ("approvers", "quorum", "require", "escalate_after", "escalate_to", "escalations"), _STEP
    ),
    **dict.fromkeys(
        ("after", "to"), ("in an escalation level", "e.g. escalations: [{after: 8h, to: [...]}]")
    ),
    **dict.fromkeys(("days", "hours", "holidays"), ("in a calendar", None)),
    **dict.fromkeys(("country", "subdiv", "extra"), ("under a calendar's `holidays`", None)),
}


@dataclass
class Ref:
    """A value with the place it was written."""

    value: str
    pos: Pos


@dataclass
class Timers:
    """Settings a route inherits from `defaults` and may override (a step: the timers only)."""

    channel: Ref | None = None
    calendar: Ref | None = None
    remind_every: tuple[timedelta, Pos] | None = None
    expire_after: tuple[timedelta, Pos] | None = None
    on_expire: Ref | None = None
    one_person_one_step: tuple[bool, Pos] | None = None
    on_resubmit: Ref | None = None
    on_invoice_change: Ref | None = None


@dataclass
class LevelDoc:
    """One escalation level as written (`escalate_after` + `escalate_to` make one too).

    `after` is None when it was missing or wrong: its `to` are still checked."""

    pos: Pos
    after: tuple[timedelta, Pos] | None
    to: list[Ref]


@dataclass
class RequireDoc:
    """One entry of a step's `require`: `count` approvals from the members of `group`."""

    pos: Pos
    group: Ref | None  # None when missing or wrong (reported)
    count: Ref | None = None  # as written: a number, all or majority; None means 1


@dataclass
class StepDoc:
    pos: Pos
    approvers: list[Ref]
    quorum: Ref | None = None
    require: list[RequireDoc] = field(default_factory=list)  # quorum across groups
    escalate_after: tuple[timedelta, Pos] | None = None
    escalate_to: list[Ref] = field(default_factory=list)
    escalations: list[LevelDoc] = field(default_factory=list)
    timers: Timers = field(default_factory=Timers)  # remind_every, expire_after, on_expire
    broken: bool = False  # had errors: its references are still checked, nothing else


@dataclass
class RouteDoc:
    pos: Pos
    name: Ref
    when: Cond | None  # None: no `when` (a catch-all)
    timers: Timers
    auto_approve: bool = False
    steps: list[StepDoc] = field(default_factory=list)
    notify_only: bool = False  # `continue: true`
    broken: bool = False  # had errors; skip cross-checks that would only repeat them
    has_when: bool = False  # `when` was written (even if wrong): not a catch-all


@dataclass
class CalendarDoc:
    name: str
    pos: Pos
    timezone: Ref | None
    days: frozenset[int]
    start: time
    end: time
    holiday_country: str | None = None
    holiday_subdiv: str | None = None
    extra_holidays: frozenset[date] = frozenset()


@dataclass
class ChangeControlDoc:
    """`change_control:` as written: who approves a policy change, and where they are asked."""

    pos: Pos
    approvers: list[Ref]
    channel: Ref | None = None


@dataclass
class AccessDoc:
    """The `access` section as written: who may look at the queue, who administers it."""

    pos: Pos
    viewers: list[Ref] = field(default_factory=list)
    admins: list[Ref] = field(default_factory=list)


@dataclass
class FileDoc:
    """One policy file as written."""

    file: str
    pos: Pos
    sections: dict[str, Pos] = field(default_factory=dict)
    timezone: Ref | None = None
    admin_channel: Ref | None = None
    access: AccessDoc | None = None
    calendars: dict[str, CalendarDoc] = field(default_factory=dict)
    broken_calendars: set[str] = field(default_factory=set)
    groups: dict[str, tuple[Pos, list[Ref]]] = field(default_factory=dict)
    broken_groups: set[str] = field(default_factory=set)
    defaults: Timers = field(default_factory=Timers)
    routes: list[RouteDoc] = field(default_factory=list)
    routes_unreadable: bool = False  # `routes` or one of its items was not even a mapping
    unmatched: RouteDoc | None = None
    change_control: ChangeControlDoc | None = None


class Values:
    """Readers for single values; each reports its own problem and returns None on error."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def err(self, pos: Pos, message: str, hint: str | None = None) -> None:
        self.problems.append(pos.problem(message, hint))

    def warn(self, pos: Pos, message: str, hint: str | None = None) -> None:
        self.problems.append(pos.problem(message, hint, WARNING))

    def keys(
        self,
        node: YNode,
        where: str,
        allowed: tuple[str, ...],
        required: tuple[str, ...] = (),
        hints: Mapping[str, str] | None = None,
    ) -> dict[str, tuple[YScalar, YNode]] | None:
        """The entries of a mapping whose keys are all allowed; unknown keys are reported."""
        if not isinstance(node, YMap):
            self.err(node.pos, f"{where} must be a mapping (key: value), not {describe(node)}")
            return None
        found: dict[str, tuple[YScalar, YNode]] = {}
        for key, value in node.entries:
            if key.text in allowed:
                found[key.text] = (key, value)
            elif key.text in KEY_HOMES and key.text not in (hints or {}):
                home, example = KEY_HOMES[key.text]
                here = "at the top of the file" if where == TOP_LEVEL else f"in {where}"
                self.err(key.pos, f"`{key.text}` belongs {home}, not {here}", example)
            else:
                hint = (hints or {}).get(key.text) or did_you_mean(key.text, allowed)
                hint = hint or "allowed keys: " + ", ".join(allowed)
                self.err(key.pos, f"unknown key `{key.text}` in {where}", hint)
        for name in required:
            if name not in found:
                self.err(node.pos, f"{where} is missing `{name}`")
        return found

    def text(self, node: YNode, what: str) -> Ref | None:
        if isinstance(node, YScalar) and node.kind in ("str", "int") and node.text.strip():
            return Ref(node.text.strip(), node.pos)
        self.err(node.pos, f"{what} must be text, not {describe(node)}")
        return None

    def flag(self, node: YNode, what: str) -> bool | None:
        if isinstance(node, YScalar) and node.kind == "bool":
            return node.text.lower() == "true"
        self.err(
            node.pos,
            f"{what} must be true or false, not {describe(node)}",
            "write true or false without quotes",
        )
        return None

    def duration(self, node: YNode, what: str) -> tuple[timedelta, Pos] | None:
        if isinstance(node, YScalar) and node.kind in ("str", "int"):
            try:
                return parse_duration(node.text), node.pos
            except DurationError as exc:
                self.err(node.pos, f"bad {what}: {exc}", "units: s, m, h, d")
                return None
        self.err(node.pos, f"{what} must be a duration such as 4h, not {describe(node)}")
        return None

    def channel(self, node: YNode, what: str) -> Ref | None:
        ref = self.text(node, what)
        if ref is None:
            return None
        if CHANNEL_ID.match(ref.value) or CHANNEL_NAME.match(ref.value):
            return ref
        self.err(
            ref.pos,
            f"{what} {ref.value!r} is neither a channel id nor a #name",
            "write a channel id such as C0BILLING or a name such as #billing-approvals",
        )
        return None

    def approver(self, node: YNode, what: str, allow_groups: bool = True) -> Ref | None:
        ref = self.text(node, what)
        if ref is None:
            return None
        value = ref.value
        if value.startswith("group:") and allow_groups and NAME.match(value[6:]):
            return ref
        if SLACK_USER.match(value) or EMAIL.match(value):
            return ref
        if value.startswith("group:"):
            self.err(
                ref.pos,
                f"groups cannot contain other groups ({value})",
                "list the members' Slack user ids or e-mail addresses",
            )
        elif value.startswith("@"):
            self.err(
                ref.pos,
                f"{value!r}: Slack display names change",
                "use the Slack user id (U…) or the e-mail address",
            )
        else:
            hint = "e.g. group:finance_managers, U0FINMGR1 or ana@example.com"
            message = f"{value!r} is not a group:<name>, Slack user id or e-mail address"
            self.err(ref.pos, message, hint)
        return None

    def approvers(self, node: YNode, what: str, allow_groups: bool = True) -> list[Ref] | None:
        if isinstance(node, YScalar):
            node = YSeq((node,), node.pos)
        if not isinstance(node, YSeq) or not node.items:
            what_it_is = "an empty list" if isinstance(node, YSeq) else describe(node)
            self.err(
                node.pos,
                f"{what} must be a list of approvers, not {what_it_is}",
                "e.g. [group:finance_managers, U0CTRL1]",
            )
            return None
        refs = [self.approver(item, "approver", allow_groups) for item in node.items]
        seen: dict[str, Ref] = {}
        for ref in refs:
            if ref is None:
                continue
            first = seen.setdefault(ref.value.casefold(), ref)
            if first is not ref:
                line = first.pos.line
                also = f" (first at line {line})" if line != ref.pos.line else ""
                self.warn(
                    ref.pos,
                    f"{ref.value} is listed twice in {what}{also}",
                    "each person counts once; remove one, or write the person you meant",
                )
        if any(ref is None for ref in refs):
            return None
        return [ref for ref in refs if ref is not None]

    def zone(self, node: YNode, what: str) -> Ref | None:
        ref = self.text(node, what)
        if ref is None:
            return None
        if ref.value in _zones():
            return ref
        hint = (
            did_you_mean(ref.value, sorted(_zones())) or "use an IANA name such as America/New_York"
        )
        self.err(ref.pos, f"unknown time zone {ref.value!r}", hint)
        return None

    def choice(self, node: YNode, name: str, allowed: tuple[str, ...]) -> Ref | None:
        """A text that must be one of `allowed` (reported with the choices when it is not)."""
        ref = self.text(node, name)
        if ref is not None and ref.value not in allowed:
            choices = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
            self.err(ref.pos, f"{name} {ref.value!r} is not allowed", f"choose {choices}")
            return None
        return ref

    def timers(self, found: Mapping[str, tuple[YScalar, YNode]], into: Timers) -> bool:
        """Fill the inheritable settings present in `found`; False if any was wrong."""
        ok = True
        if "channel" in found:
            into.channel = self.channel(found["channel"][1], "channel")
            ok &= into.channel is not None
        if "calendar" in found:
            into.calendar = self.text(found["calendar"][1], "calendar")
            ok &= into.calendar is not None
        for name in ("remind_every", "expire_after"):
            if name in found:
                value = self.duration(found[name][1], name)
                setattr(into, name, value)
                ok &= value is not None
        if "on_expire" in found:
            into.on_expire = self.text(found["on_expire"][1], "on_expire")
            if into.on_expire is not None and into.on_expire.value not in ON_EXPIRE:
                self.err(
                    into.on_expire.pos,
                    f"on_expire {into.on_expire.value!r} is not allowed",
                    "choose escalate, reject or keep",
                )
                into.on_expire = None
            ok &= into.on_expire is not None
        if "on_resubmit" in found:
            into.on_resubmit = self.choice(found["on_resubmit"][1], "on_resubmit", ON_RESUBMIT)
            ok &= into.on_resubmit is not None
        if "on_invoice_change" in found:
            into.on_invoice_change = self.choice(
                found["on_invoice_change"][1], "on_invoice_change", ON_INVOICE_CHANGE
            )
            ok &= into.on_invoice_change is not None
        if "one_person_one_step" in found:
            node = found["one_person_one_step"][1]
            flag = self.flag(node, "one_person_one_step")
            into.one_person_one_step = None if flag is None else (flag, node.pos)
            ok &= flag is not None
        return ok


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
