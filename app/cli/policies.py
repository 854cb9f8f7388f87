"""`countersign policies …`: check, explain and backtest routing policies from a terminal, and
ask a server to reload them (history and diff: app/cli/policy_history.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from app.domain.events import BillingEvent
from app.domain.stored_event import StoredEvent
from app.routing.admins import admins as admins_of
from app.routing.backtest import backtest, render_backtest_table
from app.routing.durations import format_duration
from app.routing.errors import PolicyLoadError
from app.routing.explain import Explanation, explain_event, render_explain
from app.routing.loader import load_policy_set
from app.routing.policy_set import PolicySet
from app.routing.segregation import group_quorums, relaxed_routes

policies_app = typer.Typer(
    name="policies",
    help="Check, explain and backtest the routing policies that decide who approves what; "
    "reload them, and see their stored history and diffs.",
    no_args_is_help=True,
    add_completion=False,
)


class Format(StrEnum):
    table = "table"
    json = "json"


class ExplainFormat(StrEnum):
    text = "text"
    json = "json"


def _default_dir() -> Path:
    return Path(os.environ.get("COUNTERSIGN_POLICIES", "policies/"))


def _load(directory: Path, label: str = "policy") -> PolicySet:
    try:
        return load_policy_set(directory)
    except PolicyLoadError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        warnings = len(exc.problems) - len(exc.errors)
        also = f" and {_plural(warnings, 'warning')}" if warnings else ""
        typer.echo(f"{label} {directory}: {_plural(len(exc.errors), 'problem')}{also}", err=True)
        raise typer.Exit(1) from None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


DirArg = Annotated[
    Path | None,
    typer.Argument(
        help="Folder of policy files (*.yml). Default: $COUNTERSIGN_POLICIES or policies/.",
        show_default=False,
    ),
]


NO_ACCESS = (
    "no `access` section: everyone in the workspace may list, show and count exceptions with "
    "/billing-exceptions; add access: {viewers: [group:…], admins: [group:…]}"
)


def access_line(policy: PolicySet) -> str:
    """Who may look at the queue, as `check` prints it."""
    admins = ", ".join(admins_of(policy)) or "nobody"
    if policy.access is None:
        return (
            "access: not set (everyone may list, show and count exceptions); "
            f"admins (the `admins` group) {admins}"
        )
    viewers = ", ".join(policy.access.viewers) or "nobody"
    return f"access: viewers {viewers}; admins {admins}"


@policies_app.command("check")
def check(
    directory: DirArg = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (exit 1) on warnings too, not only errors.")
    ] = False,
) -> None:
    """Check every policy file and list EVERY mistake with file:line:column.

    Warnings (e.g. a person listed twice) are printed but do not fail the check.
    Exit code 0 when the policy set is valid, 1 when it has problems (or, with --strict,
    warnings).
    """
    folder = directory or _default_dir()
    policy = _load(folder)
    for warning in policy.warnings:
        typer.echo(str(warning), err=True)
    warnings = len(policy.warnings)
    if strict and policy.access is None:
        typer.echo(f"{folder}: warning: {NO_ACCESS}", err=True)
        warnings += 1
    warned = f" with {_plural(len(policy.warnings), 'warning')}" if policy.warnings else ""
    if strict and warnings:
        typer.echo(f"policy {folder}: {_plural(warnings, 'warning')} (--strict)", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"{folder}: OK{warned}: {_plural(len(policy.routes), 'route')}, "
        f"{_plural(len(policy.groups), 'group')}, {_plural(len(policy.calendars), 'calendar')}; "
        f"content hash {policy.content_hash}"
    )
    for note in [*group_quorums(policy.routes), *relaxed_routes(policy.routes)]:
        typer.echo(f"  {note}")
    for route in policy.routes:
        if route.auto_approve or route.notify_only:
            continue
        changed = [
            f"{name} {value}"
            for name, value, usual in (
                ("on_resubmit", route.on_resubmit, "restart"),
                ("on_invoice_change", route.on_invoice_change, "reapprove"),
            )
            if value != usual
        ]
        if changed:
            typer.echo(f"  route {route.name}: " + ", ".join(changed))
    control = policy.change_control
    if control is not None:
        typer.echo(
            f"  change control ({control.source}): a new policy hash waits until one of "
            f"{', '.join(control.approvers)} approves it in {control.channel}"
        )
    typer.echo(f"  {access_line(policy)}")


def _read_event(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise _fail(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise _fail(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    return _validate(data, str(path))


def _validate(data: Any, where: str) -> dict[str, Any]:
    try:
        return BillingEvent.model_validate(data).routing_view()
    except ValidationError as exc:
        lines = [f"{where}: not a valid billing event (schema v1):"]
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(event)"
            lines.append(f"  {field}: {error['msg']}")
        raise _fail("\n".join(lines)) from None


def _duration(value: timedelta | None) -> str | None:
    return format_duration(value) if value is not None else None


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    """An Explanation as JSON-ready data (durations as policy-style text such as 8h)."""
    decision = explanation.decision
    route = asdict(decision.route)
    for key in ("remind_every", "expire_after"):
        route[key] = _duration(getattr(decision.route, key))
    for step, plan in zip(route["steps"], decision.route.steps, strict=True):
        for key in ("escalate_after", "remind_every", "expire_after"):
            step[key] = _duration(getattr(plan, key))
        for level, escalation in zip(step["escalations"], plan.escalations, strict=True):
            level["after"] = _duration(escalation.after)
    return {
        "content_hash": explanation.content_hash,
        "trials": [asdict(trial) for trial in explanation.trials],
        "decision": {
            "route": route,
            "reason": decision.reason,
            "matched_routes": list(decision.matched_routes),
            "notify_channels": list(decision.notify_channels),
        },
    }


@policies_app.command("explain")
def explain(
    event_file: Annotated[
        Path,
        typer.Argument(
            metavar="EVENT.json",
            help="A billing event as JSON (the same format the webhook accepts).",
        ),
    ],
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            help="Folder of policy files. Default: $COUNTERSIGN_POLICIES or policies/.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        ExplainFormat, typer.Option("--format", help="text for people, json for tools.")
    ] = ExplainFormat.text,
) -> None:
    """Show how one event would be routed, and why.

    Lists every route top to bottom: whether it matched and the reason, then the chosen
    channel, approval steps, approvers, quorum and timers.
    Exit code 0 on success, 1 when the policy has problems, 2 when the event is not valid.
    """
    view = _read_event(event_file)
    policy = _load(policies or _default_dir())
    explanation = explain_event(policy, view)
    control = policy.change_control
    if output is ExplainFormat.json:
        shown = explanation_json(explanation)
        if control is not None:
            shown["change_control"] = asdict(control)
        typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        typer.echo(render_explain(explanation, view))
        if control is not None:
            typer.echo(
                f"\nchange control: a change to this policy waits for one of "
                f"{', '.join(control.approvers)} in {control.channel} ({control.source})"
            )


def _events_file(path: Path, since: datetime | None) -> Iterator[StoredEvent]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise _fail(f"{path}: cannot read: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise _fail(f"{path}:{number}:{exc.colno}: not valid JSON: {exc.msg}") from None
        view = _validate(data, f"{path}:{number}")
        received = datetime.fromisoformat(view["occurred_at"])
        if since is None or received >= since:
            yield StoredEvent(label=view["event_id"], received_at=received, view=view)


def _stored_events(since: datetime | None) -> Iterator[StoredEvent]:
    from app.cli.common import check_database, settings
    from app.store.history import iter_stored_events

    database_url = settings().DATABASE_URL
    check_database(database_url)  # read-only: a missing database is reported, never created
    return iter_stored_events(database_url, since)


@policies_app.command("backtest")
def backtest_command(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="Folder with the PROPOSED policy files to try out."),
    ],
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since",
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Only replay events received on or after this day (YYYY-MM-DD, UTC).",
            show_default=False,
        ),
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option(
            "--current",
            help="Folder with the policy in use today. "
            "Default: $COUNTERSIGN_POLICIES or policies/.",
            show_default=False,
        ),
    ] = None,
    events_file: Annotated[
        Path | None,
        typer.Option(
            "--events",
            metavar="FILE.jsonl",
            help="Replay billing events from a file (one JSON event per line) instead of the "
            "database ($DATABASE_URL).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Format, typer.Option("--format", help="table for people, json for tools.")
    ] = Format.table,
) -> None:
    """Replay stored events against a proposed policy before it goes live.

    Shows, for the current and the proposed policy: how many events each route takes,
    how many requests each approver would get, the events that change route, the events
    that would now be auto-approved, and the events that no route matches.
    Nothing is sent and nothing is changed.
    Exit code 0 on success, 1 when either policy has problems, 2 when events cannot be read
    (a file that cannot be read, a database that is missing, unreachable or not migrated).
    """
    start = since.replace(tzinfo=UTC) if since is not None else None
    proposed = _load(directory, "proposed policy")
    in_use = _load(current or _default_dir(), "current policy")
    events = _events_file(events_file, start) if events_file else _stored_events(start)
    report = backtest(in_use, proposed, events)
    if output is Format.json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_backtest_table(report))


@policies_app.command("reload")
def reload_policies(
    proposer: Annotated[
        str | None,
        typer.Option(
            "--proposer",
            metavar="U…|E-MAIL",
            help="Who asks for this change (your Slack user id or e-mail). Under change_control "
            "that person may not approve it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Ask the running server (its pid in COUNTERSIGN_PID_FILE) to reload its policies.

    The server loads the folder again; if anything is wrong it keeps the policy in force,
    logs why and posts it to the policy's admin_channel. Run `policies check` first.
    Under `change_control` a new hash is not applied yet: a card with the diff goes to the
    change-control channel and the policy in force stays until an approver approves it."""
    import signal

    from app.cli.common import settings
    from app.flows import reload_request

    if proposer is not None and not reload_request.valid_person(proposer):
        raise _fail(
            f"countersign: --proposer {proposer!r} is not a Slack user id (U…) or an e-mail address"
        )
    pid_file = settings().COUNTERSIGN_PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        if proposer is not None:
            reload_request.leave(pid_file, proposer, datetime.now(UTC))
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as error:
        typer.echo(f"countersign: no running server found via {pid_file}: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"asked server {pid} to reload its policies; its log says whether it did")


def _register_history() -> None:
    from app.cli import policy_history

    policy_history.register(policies_app)


_register_history()
