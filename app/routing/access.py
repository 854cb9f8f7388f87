"""Who may decide what, read from a compiled policy: the substance of a user access review.

One Authority per person, route and step (and per escalation level that adds them), with the
route's conditions in words (amounts included) and the quorum; plus who may approve changes to
the policy itself (change_control). A person is an approver entry as written (a Slack user id
or an e-mail address): whether U0ANA is ana@example.com is only known from Slack, so the review
shows what it learnt from past decisions beside the entry instead of guessing.

`compare` tells, between two reviews, who gained and who lost authority."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.routing.conditions import SYMBOLS, AllOf, Always, AnyOf, Cond, FieldTest, NotOf
from app.routing.durations import format_duration
from app.routing.policy_set import PolicySet

APPROVER = "approver"
CHANGE_CONTROL_ROUTE = "(policy change control)"


@dataclass(frozen=True)
class Authority:
    """`person` may decide `step` (1-based; 0 for policy changes) of `route` as `role`."""

    person: str
    route: str
    step: int
    role: str  # approver | after escalation N (8h) | policy changes
    quorum: str  # "1 of 2", "all 3 of 3", ...
    conditions: str  # the route's `when` in words
    channel: str
    source: str  # file:line of the route

    @property
    def key(self) -> tuple[str, str, int, str]:
        """What a comparison matches on: the same person deciding the same step the same way."""
        return (self.person.casefold(), self.route, self.step, self.role)


def describe(cond: Cond) -> str:
    """A condition in words: `type = credit_request and invoice.amount ≥ 10000`."""
    if isinstance(cond, Always):
        return "every event (catch-all)"
    if isinstance(cond, AllOf):
        return " and ".join(_wrapped(child) for child in cond.children)
    if isinstance(cond, AnyOf):
        return " or ".join(_wrapped(child) for child in cond.children)
    if isinstance(cond, NotOf):
        return f"not ({describe(cond.child)})"
    if isinstance(cond, FieldTest):
        return _field(cond)
    return type(cond).__name__  # pragma: no cover - every node type is listed above


def _wrapped(cond: Cond) -> str:
    text = describe(cond)
    return f"({text})" if isinstance(cond, AllOf | AnyOf) and len(cond.children) > 1 else text


def _field(test: FieldTest) -> str:
    path, op = test.path, test.op
    texts = [operand.text for operand in test.operands]
    if op in SYMBOLS:
        return f"{path} {SYMBOLS[op]} {texts[0]}"
    if op == "in":
        return f"{path} in [{', '.join(texts)}]"
    if op == "not_in":
        return f"{path} not in [{', '.join(texts)}]"
    if op == "between":
        return f"{path} between {texts[0]} and {texts[1]}"
    if op == "matches":
        return f"{path} matches /{texts[0]}/"
    if op == "exists":
        return f"{path} {'is present' if test.operands[0].value is True else 'is missing'}"
    return f"{path} {op} {', '.join(texts)}"  # pragma: no cover


def _overlap(earlier: Cond, later: Cond) -> bool:
    """Whether an earlier route may take events of the later route's types."""
    a, b = earlier.type_set(), later.type_set()
    return a is None or b is None or bool(a & b)


def _quorum(quorum: int, rule: str, people: int) -> str:
    named = "" if rule == str(quorum) else f" ({rule})"
    return f"{quorum} of {people}{named}"


def authorities(policy: PolicySet) -> list[Authority]:
    """Every (person, route, step, role) the policy grants, in policy order."""
    found: list[Authority] = []
    before: list[str] = []  # deciding routes tried earlier: they take their events first
    for route in policy.routes:
        if route.notify_only:
            continue
        cond = policy.condition(route.name)
        when = describe(cond)
        if route.catch_all and route.name == "unmatched":
            when = "events no route matches (unmatched)"
        earlier = [name for name in before if _overlap(policy.condition(name), cond)]
        if earlier:
            when += f"; unless an earlier route took it ({', '.join(earlier)})"
        before.append(route.name)
        if route.auto_approve:
            continue
        for number, step in enumerate(route.steps, start=1):
            quorum = _quorum(step.quorum, step.quorum_rule, len(step.approvers))
            granted = [(person, APPROVER) for person in step.approvers]
            for level, escalation in enumerate(step.escalations, start=1):
                role = f"after escalation {level} ({format_duration(escalation.after)})"
                granted += [(p, role) for p in escalation.to if p not in step.approvers]
            found += [
                Authority(
                    person, route.name, number, role, quorum, when, route.channel, route.source
                )
                for person, role in granted
            ]
    control = policy.change_control
    if control is not None:
        for person in control.approvers:
            found.append(
                Authority(
                    person=person,
                    route=CHANGE_CONTROL_ROUTE,
                    step=0,
                    role="policy changes",
                    quorum=f"1 of {len(control.approvers)}",
                    conditions="a new policy hash",
                    channel=control.channel,
                    source=control.source,
                )
            )
    return found


def people(policy: PolicySet, granted: Iterable[Authority]) -> list[str]:
    """Everyone the review covers: every group member and every approver, each once, sorted."""
    everyone = {p.casefold(): p for members in policy.groups.values() for p in members}
    for authority in granted:
        everyone.setdefault(authority.person.casefold(), authority.person)
    return sorted(everyone.values(), key=str.casefold)


def groups_of(policy: PolicySet, person: str) -> list[str]:
    """The groups listing `person` (as written, case-insensitive)."""
    wanted = person.casefold()
    return sorted(
        name for name, members in policy.groups.items() if wanted in {m.casefold() for m in members}
    )


@dataclass(frozen=True)
class Change:
    kind: str  # gained | lost | changed
    person: str
    route: str
    step: int
    role: str
    now: str  # quorum and conditions now ("" when lost)
    before: str  # ... and in the previous review ("" when gained)


def terms(quorum: str, conditions: str) -> str:
    return f"{quorum}; when {conditions}"


def compare(
    previous: Mapping[tuple[str, str, int, str], tuple[str, str]],
    current: Iterable[Authority],
) -> list[Change]:
    """What changed since `previous` ({key: (person as shown, terms)}): authority gained,
    lost, or kept on other terms (quorum or conditions). Sorted by person, route, step."""
    now = {a.key: a for a in current}
    changes: list[Change] = []
    for key, authority in now.items():
        shown = terms(authority.quorum, authority.conditions)
        if key not in previous:
            changes.append(Change("gained", authority.person, key[1], key[2], key[3], shown, ""))
        elif previous[key][1] != shown:
            changes.append(
                Change("changed", authority.person, key[1], key[2], key[3], shown, previous[key][1])
            )
    for key, (person, before) in previous.items():
        if key not in now:
            changes.append(Change("lost", person, key[1], key[2], key[3], "", before))
    return sorted(changes, key=lambda c: (c.person.casefold(), c.route, c.step, c.kind))
