"""`countersign access review`: who may decide what, for a periodic user access review."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import fail, open_database, settings

if TYPE_CHECKING:
    from app.flows.access_review import PersonReview
    from app.routing.access import Change
    from app.routing.policy_set import PolicySet
    from app.store.db import Database

access_app = typer.Typer(
    name="access",
    help="Access review: who may approve what, under which conditions and amounts.",
    no_args_is_help=True,
    add_completion=False,
)

COLUMNS = (
    "person",
    "also_known_as",
    "groups",
    "route",
    "step",
    "role",
    "quorum",
    "conditions",
    "channel",
    "source",
    "last_decision",
    "active_delegations",
    "policy_hash",
)
NEEDED = ("person", "route", "step", "role", "quorum", "conditions")
NO_AUTHORITY = "—"


class Format(StrEnum):
    table = "table"
    csv = "csv"


def _policy(database: Database, folder: Path | None) -> tuple[PolicySet, str]:
    """The policy to review and where it came from: a folder when given, else the version in
    force per the database, else the policy folder ($COUNTERSIGN_POLICIES)."""
    from app.cli.policies import _load
    from app.flows.policy_control import stored_policy
    from app.routing import PolicyLoadError
    from app.store import policy_versions

    if folder is None:
        with database.transaction() as session:
            row = policy_versions.in_force(session)
        if row is not None:
            try:
                return stored_policy(row), f"in force since {row.applied_at:%Y-%m-%d %H:%M} UTC"
            except PolicyLoadError:
                fail(
                    f"the policy in force ({row.content_hash[:12]}) no longer loads; "
                    "review a folder with --policies DIR"
                )
        folder = settings().COUNTERSIGN_POLICIES
    return _load(folder), f"from {folder}"


def _rows(reviews: list[PersonReview], policy_hash: str) -> Iterator[dict[str, str]]:
    for person in reviews:
        common = {
            "person": person.person,
            "also_known_as": person.known_as,
            "groups": " ".join(person.groups),
            "last_decision": person.last_decision,
            "active_delegations": person.delegations,
            "policy_hash": policy_hash,
        }
        if not person.authorities:
            yield common | dict.fromkeys(
                ("route", "step", "role", "quorum", "conditions", "channel", "source"),
                NO_AUTHORITY,
            )
        for a in person.authorities:
            yield common | {
                "route": a.route,
                "step": str(a.step),
                "role": a.role,
                "quorum": a.quorum,
                "conditions": a.conditions,
                "channel": a.channel,
                "source": a.source,
            }


def _table(reviews: list[PersonReview], header: str) -> str:
    lines = [header, ""]
    for person in reviews:
        known = f" (also {person.known_as})" if person.known_as else ""
        groups = f"  groups: {', '.join(person.groups)}" if person.groups else "  groups: none"
        lines.append(f"{person.person}{known}")
        lines.append(
            f"{groups}; last decision: {person.last_decision}; "
            f"active delegations: {person.delegations}"
        )
        if not person.authorities:
            lines.append("    may decide nothing")
        for a in person.authorities:
            step = "" if a.step == 0 else f" step {a.step}"
            lines.append(
                f"    {a.route}{step}: {a.role}, quorum {a.quorum}; when {a.conditions}"
                f"  [{a.channel}, {a.source}]"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def _previous(path: Path) -> dict[tuple[str, str, int, str], tuple[str, str]]:
    """The authorities of an earlier review's CSV; one line and exit 2 for a bad file."""
    from app.routing.access import terms

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror or error}")
    except UnicodeDecodeError:
        fail(f"{path} is not a CSV file (not UTF-8 text)")
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in NEEDED if name not in (reader.fieldnames or [])]
    if missing:
        fail(
            f"{path} is not an access review CSV (from `countersign access review --format csv`):"
            f" missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )
    found: dict[tuple[str, str, int, str], tuple[str, str]] = {}
    try:
        for row in reader:
            if row["route"] == NO_AUTHORITY:
                continue
            step = row["step"] or ""
            if not step.isdigit():
                fail(f"{path}:{reader.line_num}: step {step!r} is not a number")
            if not row["person"]:
                fail(f"{path}:{reader.line_num}: the person is empty")
            key = (row["person"].casefold(), row["route"], int(step), row["role"])
            found[key] = (row["person"], terms(row["quorum"], row["conditions"]))
    except csv.Error as error:
        fail(f"{path}:{reader.line_num}: not valid CSV: {error}")
    return found


def _changes_text(changes: list[Change], previous: Path) -> str:
    counts = {kind: sum(c.kind == kind for c in changes) for kind in ("gained", "lost", "changed")}
    head = (
        f"since {previous}: {counts['gained']} gained, {counts['lost']} lost, "
        f"{counts['changed']} changed"
    )
    lines = [head]
    for c in changes:
        where = c.route if c.step == 0 else f"{c.route} step {c.step}"
        if c.kind == "gained":
            lines.append(f"  + {c.person} may now decide {where} ({c.role}): {c.now}")
        elif c.kind == "lost":
            lines.append(f"  - {c.person} may no longer decide {where} ({c.role}): was {c.before}")
        else:
            lines.append(f"  ~ {c.person} on {where} ({c.role}): {c.before}  →  {c.now}")
    return "\n".join(lines)


@access_app.command("review")
def review_command(
    output: Annotated[
        Format, typer.Option("--format", help="table for people, csv for the review file.")
    ] = Format.table,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            metavar="PREVIOUS.csv",
            help="Show only who gained or lost authority since this earlier review's CSV.",
            show_default=False,
        ),
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            help="Review this policy folder instead of the version in force.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """For each person (group members and approvers by Slack id or e-mail): which routes and
    steps they may decide, under which conditions and amounts, their last decision and active
    delegations; also who may approve policy changes (change_control).

    The policy reviewed is the version in force per the database (see `policies history`),
    or --policies DIR. Keep the CSV (`--format csv > review-2026-Q4.csv`) and next time run
    `--against review-2026-Q4.csv` to see who gained or lost authority since."""
    from app.flows.access_review import delegations_at, load_facts, review
    from app.routing.access import authorities, compare

    previous = _previous(against) if against is not None else None
    database = open_database(settings().DATABASE_URL)
    try:
        policy, origin = _policy(database, policies)
        now = datetime.now(UTC)
        reviews = review(policy, load_facts(database), delegations_at(database, now))
    finally:
        database.dispose()
    if previous is not None:
        assert against is not None
        changes = compare(previous, authorities(policy))
        if output is Format.csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(("change", "person", "route", "step", "role", "now", "before"))
            for c in changes:
                writer.writerow((c.kind, c.person, c.route, c.step, c.role, c.now, c.before))
        else:
            typer.echo(_changes_text(changes, against))
        return
    if output is Format.csv:
        table = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
        table.writeheader()
        table.writerows(_rows(reviews, policy.content_hash))
        return
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"access review of policy {policy.content_hash[:12]} ({origin}), generated {generated}:"
        f" {len(reviews)} people"
    )
    typer.echo(_table(reviews, header))
