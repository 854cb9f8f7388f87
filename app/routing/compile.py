"""Stage two: merge the files as written, check cross-references, and build the PolicySet."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain.business_time import BusinessCalendar
from app.domain.quorum import Requirement, describe_rule
from app.routing import segregation
from app.routing.conditions import Always, Cond
from app.routing.errors import WARNING, Problem, in_order
from app.routing.fields import did_you_mean
from app.routing.order import check_order
from app.routing.policy_set import (
    Access,
    ChangeControl,
    CompiledRoute,
    EscalationLevel,
    PolicySet,
    StepPlan,
)
from app.routing.schema import (
    SLACK_USER,
    CalendarDoc,
    FileDoc,
    LevelDoc,
    Ref,
    RequireDoc,
    RouteDoc,
    StepDoc,
    Timers,
)
from app.routing.source import Pos

_SINGLE = (
    "timezone",
    "admin_channel",
    "access",
    "change_control",
    "defaults",
    "routes",
    "unmatched",
)


@dataclass
class _Merged:
    sections: dict[str, tuple[FileDoc, Pos]] = field(default_factory=dict)
    calendars: dict[str, CalendarDoc] = field(default_factory=dict)
    groups: dict[str, tuple[Pos, list[Ref]]] = field(default_factory=dict)
    broken_calendars: set[str] = field(default_factory=set)
    broken_groups: set[str] = field(default_factory=set)
    routes_unreadable: bool = False

    def doc(self, section: str) -> FileDoc | None:
        return self.sections[section][0] if section in self.sections else None


class Compiler:
    """Turns the files as written into a PolicySet, or lists every problem it finds."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def err(self, pos: Pos, message: str, hint: str | None = None) -> None:
        self.problems.append(pos.problem(message, hint))

    def warn(self, pos: Pos, message: str, hint: str | None = None) -> None:
        self.problems.append(pos.problem(message, hint, WARNING))

    def compile(self, docs: list[FileDoc], content_hash: str, where: str) -> PolicySet | None:
        merged = self._merge(docs)
        zone_doc, admin_doc = merged.doc("timezone"), merged.doc("admin_channel")
        zone = zone_doc.timezone.value if zone_doc and zone_doc.timezone else None
        calendars = self._calendars(merged, zone)
        defaults_doc = merged.doc("defaults")
        defaults = defaults_doc.defaults if defaults_doc else Timers()
        if defaults.calendar is not None:
            self._calendar_ref(defaults.calendar, merged)
        routes_doc, unmatched_doc = merged.doc("routes"), merged.doc("unmatched")
        written = list(routes_doc.routes) if routes_doc else []
        if unmatched_doc is not None and unmatched_doc.unmatched is not None:
            written.append(unmatched_doc.unmatched)
        self._defaults_on_expire(defaults, written)
        compiled = [self._route(route, defaults, merged) for route in written]
        admin = admin_doc.admin_channel.value if admin_doc and admin_doc.admin_channel else None
        change_control = self._change_control(merged, admin)
        check_order(
            written,
            self.problems,
            where=where,
            routes_section=merged.sections["routes"][1] if "routes" in merged.sections else None,
            has_unmatched="unmatched" in merged.sections,
            routes_unreadable=merged.routes_unreadable,
        )
        access = self._access(merged)
        if any(not p.is_warning for p in self.problems) or any(r is None for r in compiled):
            return None
        return PolicySet(
            content_hash=content_hash,
            timezone=zone or "UTC",
            admin_channel=admin,
            routes=tuple(r[0] for r in compiled if r is not None),
            conditions=tuple(r[1] for r in compiled if r is not None),
            calendars=calendars,
            groups={name: self._members(refs) for name, (_, refs) in merged.groups.items()},
            files=tuple(doc.file for doc in docs),
            warnings=tuple(in_order(p for p in self.problems if p.is_warning)),
            change_control=change_control,
            access=access,
        )

    def _change_control(self, merged: _Merged, admin: str | None) -> ChangeControl | None:
        """Who must approve a new policy hash, and in which channel (default: admin_channel)."""
        doc = merged.doc("change_control")
        written = doc.change_control if doc is not None else None
        if written is None:
            return None
        approvers = self._resolve(written.approvers, merged)
        channel = written.channel.value if written.channel else admin
        if channel is None:
            self.err(
                written.pos,
                "change_control has no channel to ask its approvers in",
                "set `channel:` in change_control, or `admin_channel:` at the top of the file",
            )
            return None
        if approvers is None:
            return None
        return ChangeControl(approvers, channel, written.pos.short)

    def _access(self, merged: _Merged) -> Access | None:
        doc = merged.doc("access")
        if doc is None or doc.access is None:
            return None
        viewers = self._resolve(doc.access.viewers, merged)
        admins = self._resolve(doc.access.admins, merged)
        if viewers is None or admins is None:
            return None
        return Access(viewers, admins)

    def _merge(self, docs: list[FileDoc]) -> _Merged:
        merged = _Merged()
        for doc in docs:
            for section in _SINGLE:
                if section not in doc.sections:
                    continue
                if section in merged.sections:
                    first = merged.sections[section][1]
                    hint = (
                        "keep all routes in one file: their order matters"
                        if section == "routes"
                        else None
                    )
                    self.err(
                        doc.sections[section], f"`{section}` is already set in {first.short}", hint
                    )
                else:
                    merged.sections[section] = (doc, doc.sections[section])
            for kind in ("calendars", "groups"):
                target: dict[str, object] = getattr(merged, kind)
                for name, value in getattr(doc, kind).items():
                    pos = value.pos if isinstance(value, CalendarDoc) else value[0]
                    if name in target:
                        other = target[name]
                        first = other.pos if isinstance(other, CalendarDoc) else other[0]  # type: ignore[index]
                        self.err(pos, f"{kind[:-1]} `{name}` is already defined at {first.short}")
                    else:
                        target[name] = value
            merged.routes_unreadable |= doc.routes_unreadable
            merged.broken_calendars |= doc.broken_calendars
            merged.broken_groups |= doc.broken_groups
        return merged

    def _calendars(self, merged: _Merged, zone: str | None) -> dict[str, BusinessCalendar]:
        specs = {}
        for name, cal in merged.calendars.items():
            tz = cal.timezone.value if cal.timezone else zone
            if tz is None:
                self.err(
                    cal.pos,
                    f"calendar `{name}` has no time zone",
                    "set `timezone:` at the top of the policy or in the calendar",
                )
                continue
            try:
                specs[name] = BusinessCalendar(
                    name,
                    tz,
                    cal.days,
                    cal.start,
                    cal.end,
                    cal.holiday_country,
                    cal.holiday_subdiv,
                    cal.extra_holidays,
                )
            except ValueError as error:  # the reader checked each part; this is a backstop
                self.err(cal.pos, str(error))
        return specs

    def _calendar_ref(self, ref: Ref, merged: _Merged) -> str | None:
        if ref.value == "none":
            return None
        if ref.value not in merged.calendars and ref.value not in merged.broken_calendars:
            names = sorted({*merged.calendars, *merged.broken_calendars})
            hint = did_you_mean(ref.value, [*names, "none"]) or (
                "defined calendars: " + ", ".join(names)
                if names
                else "no calendar is defined; `none` means wall-clock time"
            )
            self.err(ref.pos, f"undefined calendar `{ref.value}`", hint)
        return ref.value

    def _resolve(self, refs: list[Ref], merged: _Merged) -> tuple[str, ...] | None:
        people: list[str] = []
        ok = True
        for ref in refs:
            if not ref.value.startswith("group:"):
                people.append(ref.value)
                continue
            name = ref.value[6:]
            if name in merged.groups:
                people.extend(ref.value for ref in merged.groups[name][1])
            elif name in merged.broken_groups:
                ok = False
            else:
                choices = list(merged.groups)
                hint = did_you_mean(name, choices) or "defined groups: " + (
                    ", ".join(choices) or "none"
                )
                self.err(ref.pos, f"undefined group `{name}`", hint)
                ok = False
        return tuple(dict.fromkeys(people)) if ok else None

    @staticmethod
    def _members(refs: list[Ref]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(ref.value for ref in refs))

    def _route(
        self, route: RouteDoc, defaults: Timers, merged: _Merged
    ) -> tuple[CompiledRoute, Cond] | None:
        name, t = route.name.value, route.timers
        channel = t.channel or defaults.channel
        self._shape(route, defaults)
        calendar_ref = t.calendar or defaults.calendar
        calendar = self._calendar_ref(calendar_ref, merged) if calendar_ref else None
        inherited = Timers(
            remind_every=t.remind_every or defaults.remind_every,
            expire_after=t.expire_after or defaults.expire_after,
            on_expire=t.on_expire or defaults.on_expire,
        )
        if t.on_expire is not None and not _any_expiry(route, defaults):
            self.err(
                t.on_expire.pos,
                "on_expire has no effect without expire_after",
                "add expire_after: 5d to the route, one of its steps or defaults",
            )
        steps = [
            self._step(step, number, merged, inherited)
            for number, step in enumerate(route.steps, 1)
        ]
        if route.broken or channel is None or any(step is None for step in steps):
            return None
        segregation = t.one_person_one_step or defaults.one_person_one_step
        one_person = segregation[0] if segregation else True
        if one_person:
            self._distinct_people(route, [step for step in steps if step is not None])
        on_expire = (inherited.on_expire or Ref("keep", route.pos)).value
        remind, expire = inherited.remind_every, inherited.expire_after
        compiled = CompiledRoute(
            name=name,
            auto_approve=route.auto_approve,
            channel=channel.value,
            steps=tuple(step for step in steps if step is not None),
            calendar=calendar,
            remind_every=remind[0] if remind and not route.auto_approve else None,
            expire_after=expire[0] if expire and not route.auto_approve else None,
            on_expire=on_expire,
            source=route.pos.short,
            notify_only=route.notify_only,
            catch_all=not route.has_when,
            one_person_one_step=one_person,
            on_resubmit=(t.on_resubmit or defaults.on_resubmit or Ref("restart", route.pos)).value,
            on_invoice_change=(
                t.on_invoice_change or defaults.on_invoice_change or Ref("reapprove", route.pos)
            ).value,
        )
        return compiled, route.when or Always()

    def _distinct_people(self, route: RouteDoc, steps: list[StepPlan]) -> None:
        """With one person per step, every step must reach quorum with different people."""
        approvers = [step.approvers for step in steps]
        seats = [
            seat
            for number, step in enumerate(steps)
            for seat in segregation.step_seats(step, number)
        ]
        short = sorted({number + 1 for number in segregation.unfilled(seats)})
        if not short:
            return
        both = ", ".join(sorted(segregation.shared(approvers)))
        self.err(
            route.pos,
            f"route `{route.name.value}`: step {' and '.join(map(str, short))} cannot reach "
            f"its quorum with people who did not decide another step (shared: {both})",
            "add approvers, lower a quorum, or set one_person_one_step: false on the route",
        )

    def _defaults_on_expire(self, defaults: Timers, routes: list[RouteDoc]) -> None:
        if defaults.on_expire is None or defaults.expire_after is not None:
            return
        if not any(_any_expiry(route, defaults) for route in routes):
            self.err(
                defaults.on_expire.pos,
                "on_expire in `defaults` has no effect: no route or step has expire_after",
                "add expire_after: 5d to `defaults`, or remove on_expire",
            )

    def _shape(self, route: RouteDoc, defaults: Timers) -> None:
        name, pos = route.name.value, route.pos
        if route.notify_only:
            if route.steps or route.auto_approve:
                self.err(
                    pos,
                    f"route `{name}` has `continue: true` and also decides",
                    "a continue route only notifies its channel; drop steps/auto_approve",
                )
            if route.timers.channel is None and not route.broken:
                self.err(pos, f"route `{name}` has `continue: true` but no `channel` to notify")
            return
        if route.auto_approve and route.steps:
            self.err(
                pos,
                f"route `{name}` has both auto_approve: true and steps",
                "an auto-approved event needs no approvers; remove one of them",
            )
        elif not route.auto_approve and not route.steps and not route.broken:
            self.err(
                pos,
                f"route `{name}` has no steps",
                "add steps: [{approvers: [...]}] or auto_approve: true",
            )
        if route.timers.channel is None and defaults.channel is None and not route.broken:
            self.err(
                pos,
                f"route `{name}` has no channel",
                "set `channel:` on the route or in `defaults`",
            )
        if route.auto_approve:
            for attr in ("remind_every", "expire_after", "on_expire", "calendar"):
                value = getattr(route.timers, attr)
                if value is not None:
                    where = value.pos if isinstance(value, Ref) else value[1]
                    self.err(where, f"`{attr}` has no effect on an auto-approved route")

    def _step(
        self, step: StepDoc, number: int, merged: _Merged, inherited: Timers
    ) -> StepPlan | None:
        approvers = self._resolve(step.approvers, merged)
        shorthand = LevelDoc(step.pos, step.escalate_after, step.escalate_to)
        written = step.escalations or ([shorthand] if step.escalate_to else [])
        people = [self._resolve(level.to, merged) for level in written]
        required = self._requirements(step.require, number, merged) if step.require else ()
        if step.broken:  # its own mistakes are reported: only its references were checked
            return None
        ok = approvers is not None and all(to is not None for to in people)
        if step.escalate_after is not None and not step.escalate_to:
            self.err(
                step.escalate_after[1],
                f"step {number} has escalate_after but no escalate_to",
                "say who is asked after the delay: escalate_to: [group:controller]",
            )
            ok = False
        if step.escalate_to and step.escalate_after is None:
            self.err(
                step.pos,
                f"step {number} has escalate_to but no escalate_after",
                "say how long to wait first: escalate_after: 8h",
            )
            ok = False
        own = step.timers
        expire = own.expire_after or inherited.expire_after
        if own.on_expire is not None and expire is None:
            self.err(
                own.on_expire.pos,
                "on_expire has no effect without expire_after",
                "add expire_after: 5d to the step, its route or defaults",
            )
            ok = False
        requirements: tuple[Requirement, ...] = ()
        quorum: int | None
        where = step.quorum.pos if step.quorum else step.pos
        if step.require:
            if required is None:
                return None
            requirements = required
            approvers = tuple(dict.fromkeys(p for r in requirements for p in r.members))
            rule, quorum = describe_rule(requirements), sum(r.count for r in requirements)
        else:
            rule = step.quorum.value if step.quorum else "1"
            quorum = self._quorum(rule, approvers, number, where) if approvers is not None else None
        if not ok or approvers is None or quorum is None:
            return None
        if not requirements:
            self._mixed_identities(approvers, quorum, rule, number, where)
        levels = tuple(
            EscalationLevel(level.after[0], to)
            for level, to in zip(written, people, strict=True)
            if to is not None and level.after is not None
        )
        first = levels[0] if levels else None
        remind = own.remind_every or inherited.remind_every
        return StepPlan(
            approvers,
            quorum,
            rule,
            first.after if first else None,
            first.to if first else (),
            levels,
            remind_every=remind[0] if remind else None,
            expire_after=expire[0] if expire else None,
            on_expire=(own.on_expire or inherited.on_expire or Ref("keep", step.pos)).value,
            requirements=requirements,
        )

    def _requirements(
        self, written: list[RequireDoc], number: int, merged: _Merged
    ) -> tuple[Requirement, ...] | None:
        """Each `require` entry resolved to its group's members and a count; None on error."""
        found: list[Requirement] = []
        ok = True
        seen: dict[str, Pos] = {}
        for entry in written:
            if entry.group is None:
                ok = False
                continue
            name = entry.group.value
            if name in seen:
                self.err(
                    entry.group.pos,
                    f"group `{name}` is required twice in step {number} (first at line "
                    f"{seen[name].line})",
                    "give the group one entry with the total count",
                )
                ok = False
                continue
            seen[name] = entry.group.pos
            members = self._resolve([Ref(f"group:{name}", entry.group.pos)], merged)
            if members is None:
                ok = False
                continue
            rule = entry.count.value if entry.count else "1"
            where = entry.count.pos if entry.count else entry.pos
            count = self._quorum(rule, members, number, where, f"group `{name}` in step")
            if count is None:
                ok = False
                continue
            found.append(Requirement(name, members, count))
        if not ok:
            return None
        seats = [(index, r.members) for index, r in enumerate(found) for _ in range(r.count)]
        short = sorted(set(segregation.unfilled(seats)))
        if short:
            groups = ", ".join(f"`{found[i].group}`" for i in short)
            self.err(
                written[0].pos,
                f"step {number} cannot get its approvals from different people: {groups} "
                "would need someone already counted for another group (a person in two "
                "groups counts for one)",
                "add members to the groups or lower a count",
            )
            return None
        return tuple(found)

    def _mixed_identities(
        self, approvers: tuple[str, ...], quorum: int, rule: str, number: int, pos: Pos
    ) -> None:
        """Warn when the quorum holds only if no person is listed both by id and by e-mail.

        Whether U0ANA is ana@example.com is only known from Slack at decision time, and a person
        counts once there: in the worst case every address belongs to one of the ids, leaving
        max(ids, addresses) people."""
        ids = {person for person in approvers if SLACK_USER.match(person)}
        emails = {person.casefold() for person in approvers if person not in ids}
        if ids and emails and quorum > max(len(ids), len(emails)):
            self.warn(
                pos,
                f"quorum {rule} of step {number} may never be met: its approvers mix "
                f"{len(ids)} Slack id(s) and {len(emails)} e-mail address(es), and a person "
                "listed both ways counts once",
                "list each approver one way (all by Slack id or all by e-mail)",
            )

    def _quorum(
        self,
        rule: str,
        approvers: tuple[str, ...],
        number: int,
        pos: Pos,
        what: str = "quorum",
    ) -> int | None:
        if rule == "all":
            return len(approvers)
        if rule == "majority":
            return len(approvers) // 2 + 1
        if not (rule.isascii() and rule.isdigit() and len(rule) <= 6) or int(rule) < 1:
            word = "quorum" if what == "quorum" else "count"
            self.err(
                pos, f"{word} {rule!r} is not allowed", "write a number from 1, all or majority"
            )
            return None
        if int(rule) > len(approvers):
            who = ", ".join(approvers)
            if what == "quorum":
                message = (
                    f"quorum {rule} is larger than the {len(approvers)} approvers of step {number}"
                )
            else:
                message = (
                    f"count {rule} of {what} {number} is larger than its {len(approvers)} member(s)"
                )
            self.err(pos, message, f"{'approvers' if what == 'quorum' else 'members'} are: {who}")
            return None
        return int(rule)


def _any_expiry(route: RouteDoc, defaults: Timers) -> bool:
    """Whether an expire_after applies anywhere in the route: defaults, the route, a step."""
    return (
        defaults.expire_after is not None
        or route.timers.expire_after is not None
        or any(step.timers.expire_after is not None for step in route.steps)
    )
