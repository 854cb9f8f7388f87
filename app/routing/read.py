"""Stage one: read one policy file's located nodes into the as-written model (`FileDoc`)."""

from __future__ import annotations

import re
from datetime import date, time

from app.routing.errors import Problem
from app.routing.holidays_check import check_holidays
from app.routing.schema import (
    NAME,
    TOP_LEVEL,
    AccessDoc,
    CalendarDoc,
    ChangeControlDoc,
    FileDoc,
    LevelDoc,
    Ref,
    RequireDoc,
    RouteDoc,
    StepDoc,
    Timers,
    Values,
)
from app.routing.source import YMap, YNode, YScalar, YSeq, describe
from app.routing.when import WhenReader

TOP = (
    "version",
    "timezone",
    "admin_channel",
    "access",
    "calendars",
    "groups",
    "defaults",
    "routes",
    "unmatched",
    "change_control",
)
CHANGE_CONTROL = ("approvers", "channel")
STEP_TIMER_KEYS = ("remind_every", "expire_after", "on_expire")
TIMER_KEYS = (
    "channel",
    "calendar",
    *STEP_TIMER_KEYS,
    "one_person_one_step",
    "on_resubmit",
    "on_invoice_change",
)
ROUTE = ("name", "description", "when", "continue", "auto_approve", "steps", *TIMER_KEYS)
UNMATCHED = ("description", "auto_approve", "steps", *TIMER_KEYS)
STEP = (
    "approvers",
    "quorum",
    "require",
    "escalate_after",
    "escalate_to",
    "escalations",
    *STEP_TIMER_KEYS,
)
LEVEL = ("after", "to")
ACCESS = ("viewers", "admins")
REQUIRE = ("group", "count")
_REQUIRE_EXAMPLE = "{group: billing_ops, count: 1}"
REQUIRE_HINTS = {
    "quorum": f"in `require` each group has its own `count`: {_REQUIRE_EXAMPLE}",
    "approvers": f"`require` names groups: {_REQUIRE_EXAMPLE}",
    "members": f"`require` names groups: {_REQUIRE_EXAMPLE}",
}
MAX_LEVELS = 5
CALENDAR = ("timezone", "days", "hours", "holidays")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_STEP_HINT = "this belongs inside a step: steps: [{approvers: [...], quorum: 1}]"
_WHEN_HINT = "conditions go under `when:`, e.g. when: {type: invoice_dispute}"
_WHEN_KEYS = ("type", "any", "all", "not", "condition", "conditions", "match", "if")
ROUTE_HINTS = {"approver": _STEP_HINT, **dict.fromkeys(_WHEN_KEYS, _WHEN_HINT)}
_LEVEL_EXAMPLE = "{after: 8h, to: [group:controller]}"
LEVEL_HINTS = {
    "escalate_after": f"in a level the delay is `after`: {_LEVEL_EXAMPLE}",
    "escalate_to": f"in a level the people asked are `to`: {_LEVEL_EXAMPLE}",
    "approvers": f"in a level the people asked are `to`: {_LEVEL_EXAMPLE}",
}
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class FileReader(Values):
    """Reads every section of one file, reporting all problems it finds."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.when = WhenReader(problems)

    def read(self, node: YNode, file: str) -> FileDoc | None:
        found = self.keys(node, TOP_LEVEL, TOP)
        if found is None:
            return None
        assert isinstance(node, YMap)
        doc = FileDoc(file=file, pos=node.pos)
        doc.sections = {name: key.pos for name, (key, _) in found.items()}
        version = found.get("version")
        if version is None:
            self.err(node.pos, "the file has no `version`", "start it with `version: 1`")
        elif not (isinstance(version[1], YScalar) and version[1].text == "1"):
            self.err(
                version[1].pos, "unsupported policy version", "this Countersign reads version: 1"
            )
        if "timezone" in found:
            doc.timezone = self.zone(found["timezone"][1], "timezone")
        if "admin_channel" in found:
            doc.admin_channel = self.channel(found["admin_channel"][1], "admin_channel")
        if "access" in found:
            doc.access = self._access(found["access"][1])
        if "calendars" in found:
            self._calendars(found["calendars"][1], doc)
        if "groups" in found:
            self._groups(found["groups"][1], doc)
        if "defaults" in found:
            fields = self.keys(found["defaults"][1], "`defaults`", TIMER_KEYS)
            if fields is not None:
                self.timers(fields, doc.defaults)
        if "routes" in found:
            self._routes(found["routes"][1], doc)
        if "unmatched" in found:
            key, value = found["unmatched"]
            doc.unmatched = self._route(value, UNMATCHED, Ref("unmatched", key.pos))
        if "change_control" in found:
            doc.change_control = self._change_control(found["change_control"][1])
        return doc

    def _change_control(self, node: YNode) -> ChangeControlDoc | None:
        """`change_control: {approvers: [group:policy_admins], channel: C0ADMIN}`."""
        where = "`change_control`"
        found = self.keys(node, where, CHANGE_CONTROL, required=("approvers",))
        if found is None or "approvers" not in found:
            return None
        approvers = self.approvers(found["approvers"][1], "change_control approvers")
        channel = (
            self.channel(found["channel"][1], "change_control channel")
            if "channel" in found
            else None
        )
        if approvers is None or ("channel" in found and channel is None):
            return None
        return ChangeControlDoc(node.pos, approvers, channel)

    def _named(self, node: YNode, section: str, broken: set[str]) -> list[tuple[YScalar, YNode]]:
        """The well-named entries; bad names are reported and added to `broken`."""
        if not isinstance(node, YMap):
            self.err(
                node.pos, f"`{section}` must be a mapping of name: definition, not {describe(node)}"
            )
            return []
        good = []
        for key, value in node.entries:
            if NAME.match(key.text) and key.text != "none":
                good.append((key, value))
            else:
                broken.add(key.text)
                self.err(
                    key.pos,
                    f"bad name {key.text!r} in {section}",
                    "use lower-case letters, digits, - and _; `none` is reserved",
                )
        return good

    def _access(self, node: YNode) -> AccessDoc | None:
        """access: {viewers: [...], admins: [...]}: groups, Slack ids or e-mails; at least one."""
        fields = self.keys(node, "`access`", ACCESS)
        if fields is None:
            return None
        if not fields:
            self.err(node.pos, "`access` names nobody", "e.g. access: {viewers: [group:cfo]}")
            return None
        access = AccessDoc(node.pos)
        for name in ACCESS:
            if name in fields:
                people = self.approvers(fields[name][1], f"access {name}")
                if people is None:
                    return None
                setattr(access, name, people)
        return access

    def _groups(self, node: YNode, doc: FileDoc) -> None:
        for key, value in self._named(node, "groups", doc.broken_groups):
            members = self.approvers(value, f"group `{key.text}`", allow_groups=False)
            if members is None:
                doc.broken_groups.add(key.text)
            else:
                doc.groups[key.text] = (key.pos, members)

    def _calendars(self, node: YNode, doc: FileDoc) -> None:
        for key, value in self._named(node, "calendars", doc.broken_calendars):
            calendar = self._calendar(key, value)
            if calendar is None:
                doc.broken_calendars.add(key.text)
            else:
                doc.calendars[key.text] = calendar

    def _calendar(self, key: YScalar, node: YNode) -> CalendarDoc | None:
        where = f"calendar `{key.text}`"
        found = self.keys(node, where, CALENDAR, required=("days", "hours"))
        if found is None or "days" not in found or "hours" not in found:
            return None
        zone = self.zone(found["timezone"][1], "timezone") if "timezone" in found else None
        days = self._days(found["days"][1])
        hours = self._hours(found["hours"][1])
        holidays = (
            self._holidays(found["holidays"][1])
            if "holidays" in found
            else (None, None, frozenset())
        )
        if days is None or hours is None or holidays is None or ("timezone" in found and not zone):
            return None
        country, subdiv, extra = holidays
        return CalendarDoc(
            key.text, key.pos, zone, days, hours[0], hours[1], country, subdiv, extra
        )

    def _days(self, node: YNode) -> frozenset[int] | None:
        items = node.items if isinstance(node, YSeq) else ()
        if not items:
            self.err(node.pos, "days must be a list such as [mon, tue, wed, thu, fri]")
            return None
        days = set()
        for item in items:
            text = item.text.lower() if isinstance(item, YScalar) else ""
            if text not in DAYS:
                self.err(
                    item.pos,
                    f"unknown day {getattr(item, 'text', describe(item))!r}",
                    "days are mon, tue, wed, thu, fri, sat, sun",
                )
                return None
            days.add(DAYS.index(text))
        return frozenset(days)

    def _hours(self, node: YNode) -> tuple[time, time] | None:
        if not isinstance(node, YScalar) or (match := _HOURS.match(node.text)) is None:
            self.err(node.pos, 'hours must look like "09:00-18:00"', "24-hour clock, quoted")
            return None
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if (h2, m2) > (24, 0) or (h1, m1) >= (h2, m2):
            self.err(
                node.pos,
                f"hours {node.text!r} end before they start",
                "business hours cannot cross midnight",
            )
            return None
        return time(h1, m1), (time(h2, m2) if h2 < 24 else time.max)

    def _holidays(self, node: YNode) -> tuple[str | None, str | None, frozenset[date]] | None:
        found = self.keys(node, "holidays", ("country", "subdiv", "extra"))
        if found is None:
            return None
        country = self.text(found["country"][1], "country") if "country" in found else None
        subdiv = self.text(found["subdiv"][1], "subdiv") if "subdiv" in found else None
        ok = ("country" not in found or country is not None) and ("subdiv" not in found or subdiv)
        if subdiv is not None and country is None and "country" not in found:
            self.err(subdiv.pos, "`subdiv` needs `country`")
            ok = False
        if country is not None:
            ok = check_holidays(country, subdiv, self.problems) and ok
        extra: set[date] = set()
        node_extra = found["extra"][1] if "extra" in found else YSeq((), node.pos)
        for item in node_extra.items if isinstance(node_extra, YSeq) else (node_extra,):
            try:
                assert isinstance(item, YScalar)
                extra.add(date.fromisoformat(item.text))
            except (AssertionError, ValueError):
                self.err(item.pos, "extra holidays are dates like 2026-12-24")
                ok = False
        if not ok:
            return None
        return (
            country.value if country else None,
            subdiv.value if subdiv else None,
            frozenset(extra),
        )

    def _routes(self, node: YNode, doc: FileDoc) -> None:
        if not isinstance(node, YSeq):
            self.err(
                node.pos,
                f"`routes` must be a list of routes, not {describe(node)}",
                "each route starts with `- name: ...`",
            )
            doc.routes_unreadable = True
            return
        for item in node.items:
            name_node = item.get("name") if isinstance(item, YMap) else None
            name = self.text(name_node, "route name") if name_node is not None else None
            if name is not None and not NAME.match(name.value):
                self.err(
                    name.pos,
                    f"bad route name {name.value!r}",
                    "use lower-case letters, digits, - and _",
                )
            route = self._route(item, ROUTE, name or Ref("", item.pos))
            if route is None:
                doc.routes_unreadable = True
            else:
                route.broken |= name is None
                doc.routes.append(route)

    def _route(self, node: YNode, allowed: tuple[str, ...], name: Ref) -> RouteDoc | None:
        where = f"route `{name.value}`" if name.value else "a route"
        if allowed is UNMATCHED:
            where = "the `unmatched` section"
        required = ("name",) if "name" in allowed else ()
        before = len(self.problems)
        found = self.keys(node, where, allowed, required, ROUTE_HINTS)
        if found is None:
            return None
        timers = Timers()
        route = RouteDoc(pos=node.pos, name=name, when=None, timers=timers)
        self.timers(found, timers)
        if "when" in found:
            route.has_when = True
            route.when = self.when.read(found["when"][1])
        for flag, attr in (("continue", "notify_only"), ("auto_approve", "auto_approve")):
            if flag in found:
                setattr(route, attr, bool(self.flag(found[flag][1], f"`{flag}`")))
        if "steps" in found:
            route.steps = self._steps(found["steps"][1])
        route.broken = _errors_since(self.problems, before)
        return route

    def _steps(self, node: YNode) -> list[StepDoc]:
        """Every step, each read on its own (a broken one is marked, its references kept)."""
        if not isinstance(node, YSeq) or not node.items:
            self.err(
                node.pos,
                "`steps` must be a non-empty list",
                "e.g. steps: [{approvers: [group:billing_ops]}]",
            )
            return []
        steps = [self._step(item, number) for number, item in enumerate(node.items, start=1)]
        return [step for step in steps if step is not None]

    def _step(self, item: YNode, number: int) -> StepDoc | None:
        before = len(self.problems)
        found = self.keys(item, f"step {number}", STEP)
        if found is None:
            return None
        written = found["approvers"][1] if "approvers" in found else None
        approvers = self.approvers(written, "approvers") if written is not None else None
        step = StepDoc(pos=item.pos, approvers=approvers or [])
        if "quorum" in found:
            step.quorum = self.text(found["quorum"][1], "quorum")
        if "require" in found:
            key = found["require"][0]
            if "approvers" in found or "quorum" in found:
                self.err(
                    key.pos,
                    f"step {number} has both `require` and approvers/quorum",
                    "a step lists `approvers` (with a `quorum`) or `require` "
                    "(approvals per group), not both",
                )
            step.require = self._require(found["require"][1], number)
        elif "approvers" not in found:
            self.err(
                item.pos,
                f"step {number} is missing `approvers`",
                "or `require: [{group: billing_ops, count: 1}, {group: finance, count: 1}]`",
            )
        if "escalate_after" in found:
            step.escalate_after = self.duration(found["escalate_after"][1], "escalate_after")
        if "escalate_to" in found:
            step.escalate_to = self.approvers(found["escalate_to"][1], "escalate_to") or []
        if "escalations" in found:
            key, value = found["escalations"]
            if "escalate_after" in found or "escalate_to" in found:
                self.err(
                    key.pos,
                    f"step {number} has both `escalations` and escalate_after/escalate_to",
                    "move them into the list as a level: {after: 8h, to: [...]}",
                )
            step.escalations = self._escalations(value, number)
        self.timers(found, step.timers)
        step.broken = _errors_since(self.problems, before)
        return step

    def _require(self, node: YNode, number: int) -> list[RequireDoc]:
        """Each `{group: <name>, count: N|all|majority}` entry (count 1 when left out)."""
        if not isinstance(node, YSeq) or not node.items:
            self.err(
                node.pos,
                "`require` must be a non-empty list",
                f"e.g. require: [{_REQUIRE_EXAMPLE}, {{group: finance, count: 1}}]",
            )
            return []
        entries: list[RequireDoc] = []
        for index, item in enumerate(node.items, start=1):
            where = f"`require` entry {index} of step {number}"
            found = self.keys(item, where, REQUIRE, required=("group",), hints=REQUIRE_HINTS)
            if found is None:
                continue
            group = self.text(found["group"][1], "group") if "group" in found else None
            if group is not None:
                group.value = group.value.removeprefix("group:")
                if not NAME.match(group.value):
                    self.err(
                        group.pos,
                        f"{group.value!r} is not a group name",
                        "name a group defined under `groups:`, e.g. group: finance_managers",
                    )
                    group = None
            count = self.text(found["count"][1], "count") if "count" in found else None
            entries.append(RequireDoc(item.pos, group, count))
        return entries

    def _escalations(self, node: YNode, number: int) -> list[LevelDoc]:
        """Every level with people to ask; a wrong or missing `after` is None (reported)."""
        if not isinstance(node, YSeq) or not node.items:
            self.err(
                node.pos,
                "`escalations` must be a non-empty list",
                f"e.g. escalations: [{_LEVEL_EXAMPLE}]",
            )
            return []
        if len(node.items) > MAX_LEVELS:
            self.err(
                node.items[MAX_LEVELS].pos,
                f"step {number} has {len(node.items)} escalation levels, more than {MAX_LEVELS}",
                "a level may ask several people at once: to: [group:controller, group:cfo]",
            )
        levels: list[LevelDoc] = []
        for level, item in enumerate(node.items, start=1):
            where = f"escalation level {level} of step {number}"
            found = self.keys(item, where, LEVEL, required=LEVEL, hints=LEVEL_HINTS)
            if found is None:
                continue
            after = self.duration(found["after"][1], "`after`") if "after" in found else None
            to = self.approvers(found["to"][1], "`to`") if "to" in found else None
            if to is not None:
                levels.append(LevelDoc(item.pos, after, to))
        return levels


def _errors_since(problems: list[Problem], before: int) -> bool:
    """True if an error (not a warning) was reported after the first `before` problems."""
    return any(not problem.is_warning for problem in problems[before:])
