"""Loading features: continue routes, the unmatched section, timers, calendars, merging files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from app.routing import PolicyLoadError, PolicySet, load_policy_set

from .conftest import make_event, write_policy

CONTINUE = """\
version: 1
defaults: {channel: C0BILLING}
routes:
  - name: watch-large
    when: {invoice.amount: {gte: 100000}}
    continue: true
    channel: C0ADMIN
  - name: watch-disputes
    when: {type: invoice_dispute}
    continue: true
    channel: "#ar-watch"
  - name: disputes
    when: {type: invoice_dispute}
    channel: C0ARDISPUTES
    steps: [{approvers: [group:billing_ops]}]
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""


def test_continue_routes_notify_and_the_next_match_decides(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """`continue: true` routes only add notify channels; the first other match decides."""
    policy = policy_from(CONTINUE)
    decision = policy.route(make_event(type="invoice_dispute", invoice__amount="250000.00"))
    assert decision.route.name == "disputes"
    assert decision.matched_routes == ("watch-large", "watch-disputes", "disputes")
    assert decision.notify_channels == ("C0ADMIN", "#ar-watch")
    assert decision.reason == "type = invoice_dispute"


def test_continue_route_without_a_match_adds_nothing(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """An event no continue route matches has only its deciding route."""
    decision = policy_from(CONTINUE).route(make_event(type="credit_request"))
    assert decision.matched_routes == ("catch-all",)
    assert decision.notify_channels == ()
    assert decision.route.catch_all


def test_unmatched_section_takes_what_no_route_matches(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """Without a catch-all route, the `unmatched:` section decides leftover events."""
    policy = policy_from("""\
version: 1
defaults: {channel: C0BILLING}
routes:
  - name: disputes
    when: {type: invoice_dispute}
    steps: [{approvers: [group:billing_ops]}]
unmatched:
  channel: C0ADMIN
  steps: [{approvers: [group:controller]}]
""")
    decision = policy.route(make_event(type="usage_anomaly"))
    assert decision.route.name == "unmatched"
    assert decision.route.channel == "C0ADMIN"
    assert decision.route.catch_all
    assert decision.route.steps[0].approvers == ("U0CTRL1",)


def test_timers_inherit_and_override(policy_from: Callable[[str], PolicySet]) -> None:
    """Routes inherit calendar and timers from defaults and may override each one."""
    policy = policy_from("""\
version: 1
timezone: America/New_York
calendars:
  finance:
    days: [mon, tue, wed, thu, fri]
    hours: "09:00-18:00"
    holidays: {country: US, subdiv: NY, extra: [2026-12-24, "2026-12-31"]}
defaults:
  channel: C0BILLING
  calendar: finance
  remind_every: 4h
  expire_after: 5d
  on_expire: escalate
routes:
  - name: fast
    when: {type: invoice_dispute}
    calendar: none
    remind_every: 1h30m
    on_expire: reject
    steps:
      - approvers: [group:billing_ops]
        escalate_after: 90m
        escalate_to: [group:finance_managers]
  - name: catch-all
    steps: [{approvers: [group:finance_managers], quorum: all}]
""")
    fast, rest = policy.routes
    assert fast.calendar is None
    assert fast.remind_every == timedelta(hours=1, minutes=30)
    assert fast.expire_after == timedelta(days=5)
    assert fast.on_expire == "reject"
    assert fast.steps[0].escalate_after == timedelta(minutes=90)
    assert fast.steps[0].escalate_to == ("U0FINMGR1", "U0FINMGR2")
    assert rest.calendar == "finance"
    assert rest.on_expire == "escalate"
    assert rest.steps[0].quorum == 2
    assert rest.steps[0].quorum_rule == "all"
    finance = policy.calendars["finance"]
    assert finance.timezone == "America/New_York"
    assert (finance.start, finance.end) == (time(9), time(18))
    assert (finance.holiday_country, finance.holiday_subdiv) == ("US", "NY")
    assert finance.extra_holidays == frozenset({date(2026, 12, 24), date(2026, 12, 31)})


def test_calendar_may_have_its_own_time_zone(policy_from: Callable[[str], PolicySet]) -> None:
    """A calendar's own timezone wins; the policy time zone defaults to UTC when unset."""
    policy = policy_from("""\
version: 1
calendars:
  london: {timezone: Europe/London, days: [mon, fri], hours: "08:30-24:00"}
defaults: {channel: C0BILLING, calendar: london}
routes:
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
""")
    assert policy.timezone == "UTC"
    assert policy.calendars["london"].timezone == "Europe/London"
    assert policy.calendars["london"].days == frozenset({0, 4})
    assert policy.calendars["london"].end == time.max


def test_auto_approve_route_has_no_steps_or_timers(policy_from: Callable[[str], PolicySet]) -> None:
    """An auto-approve route carries no steps and no reminder or expiry timers."""
    policy = policy_from("""\
version: 1
defaults: {channel: C0BILLING, remind_every: 4h, expire_after: 2d, on_expire: reject}
routes:
  - name: auto
    when: {type: usage_anomaly}
    auto_approve: true
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
""")
    auto = policy.routes[0]
    assert auto.auto_approve
    assert (auto.steps, auto.remind_every, auto.expire_after) == ((), None, None)


def test_groups_and_calendars_merge_across_files(tmp_path: Path) -> None:
    """Sections from several files merge; hidden files and non-yml files are ignored."""
    directory = write_policy(
        tmp_path,
        """\
version: 1
defaults: {channel: C0BILLING}
routes:
  - name: catch-all
    steps: [{approvers: [group:billing_ops, group:extra]}]
""",
    )
    (directory / "team").mkdir()
    (directory / "team" / "extra.yml").write_text("version: 1\ngroups:\n  extra: [x@example.com]\n")
    (directory / ".draft.yml").write_text("this is not yaml: [")
    (directory / "README.md").write_text("notes")
    policy = load_policy_set(directory)
    assert policy.routes[0].steps[0].approvers == ("U0BILLOPS1", "x@example.com")
    assert set(policy.groups) == {"billing_ops", "finance_managers", "controller", "cfo", "extra"}


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    """A directory that does not exist is one clear problem, not a crash."""
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_set(tmp_path / "nope")
    assert (
        str(caught.value) == f"{tmp_path / 'nope'}: not a directory (hint: point it at policies/)"
    )


def test_directory_without_policy_files_is_reported(tmp_path: Path) -> None:
    """An empty policy directory is refused."""
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_set(tmp_path)
    assert caught.value.problems[0].message == "no *.yml policy files found"


def test_problem_string_format() -> None:
    """A problem prints as file:line:column: message (hint: ...), 1-based."""
    from app.routing import Problem

    assert str(Problem("policies/x.yml", 12, 7, "bad", "fix it")) == (
        "policies/x.yml:12:7: bad (hint: fix it)"
    )
    assert str(Problem("policies/x.yml", 3, 1, "bad", None)) == "policies/x.yml:3:1: bad"
