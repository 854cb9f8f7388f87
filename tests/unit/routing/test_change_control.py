"""`change_control:` in a policy: read, resolved, checked, and loadable from stored files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.routing import PolicyLoadError, PolicySet, load_policy_files, load_policy_set
from app.routing.policy_diff import changed_files, policy_diff

from .conftest import write_policy

BASE = """\
version: 1
{head}
defaults: {{channel: C0BILLING}}
routes:
  - name: catch-all
    steps: [{{approvers: [group:billing_ops]}}]
"""


def _policy(head: str) -> str:
    return BASE.format(head=head)


def _problems(tmp_path: Path, head: str) -> str:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_set(write_policy(tmp_path / "p", _policy(head)))
    return "\n".join(str(problem) for problem in caught.value.problems)


def test_approvers_are_resolved_and_the_channel_defaults_to_admin_channel(
    policy_from: Callable[[str], PolicySet],
) -> None:
    """Groups in change_control resolve to people; without `channel` the admin channel asks."""
    policy = policy_from(
        _policy("admin_channel: C0ADMIN\nchange_control: {approvers: [group:cfo, ana@example.com]}")
    )
    assert policy.change_control is not None
    assert policy.change_control.approvers == ("U0CFO1", "ana@example.com")
    assert policy.change_control.channel == "C0ADMIN"
    assert policy.change_control.source.endswith("countersign.yml:3")


def test_own_channel_wins(policy_from: Callable[[str], PolicySet]) -> None:
    """`channel` in change_control is where the card goes, whatever admin_channel says."""
    policy = policy_from(
        _policy(
            "admin_channel: C0ADMIN\n"
            'change_control: {approvers: [group:controller], channel: "#billing-admin"}'
        )
    )
    assert policy.change_control is not None
    assert policy.change_control.channel == "#billing-admin"


def test_without_change_control_there_is_none(policy_from: Callable[[str], PolicySet]) -> None:
    """A policy without the section has no change control: reloads apply at once."""
    assert policy_from(_policy("")).change_control is None


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("change_control: {approvers: [group:cfo]}", "change_control has no channel"),
        ("change_control: {approvers: [group:nobody], channel: C0ADMIN}", "undefined group"),
        ("change_control: {channel: C0ADMIN}", "`change_control` is missing `approvers`"),
        ("change_control: {approvers: [group:cfo], quorum: 2}", "`quorum` belongs on a step"),
        ("change_control: {approvers: ['@ana'], channel: C0ADMIN}", "display names change"),
        ("change_control: {approvers: [group:cfo], channel: admins}", "neither a channel id"),
        ("change_control: [group:cfo]", "must be a mapping"),
    ],
)
def test_mistakes_are_placed(tmp_path: Path, head: str, expected: str) -> None:
    """Each mistake in change_control is reported with file:line like any other."""
    problems = _problems(tmp_path, head)
    assert expected in problems
    assert "countersign.yml:" in problems


def test_stored_files_load_to_the_same_hash(tmp_path: Path) -> None:
    """A set compiled from its stored (path, bytes) has the hash of the folder it came from."""
    folder = write_policy(tmp_path / "p", _policy("admin_channel: C0ADMIN"))
    loaded = load_policy_set(folder)
    again = load_policy_files("policy abc", loaded.sources)
    assert again.content_hash == loaded.content_hash
    assert [path for path, _ in loaded.sources] == ["countersign.yml", "groups.yml"]
    assert again.routes[0].source == "policy abc/countersign.yml:5"


def test_stored_files_with_a_mistake_are_refused() -> None:
    """Stored files that no longer load raise PolicyLoadError, never anything else."""
    with pytest.raises(PolicyLoadError):
        load_policy_files("policy abc", [("routes.yml", b"version: 2\n")])
    with pytest.raises(PolicyLoadError):
        load_policy_files("policy abc", [])


def test_diff_names_changed_added_and_removed_files() -> None:
    """The diff is unified per file; added and removed files diff against /dev/null."""
    old = [("a.yml", "x: 1\n"), ("gone.yml", "y: 1\n")]
    new = [("a.yml", "x: 2\n"), ("new.yml", "z: 1\n")]
    text = policy_diff(old, new, "old", "new")
    assert "--- old/a.yml\n+++ new/a.yml\n" in text
    assert "-x: 1\n+x: 2\n" in text
    assert "--- old/gone.yml\n+++ /dev/null\n" in text
    assert "--- /dev/null\n+++ new/new.yml\n" in text
    assert changed_files(old, new) == ["a.yml", "gone.yml", "new.yml"]
    assert policy_diff(old, old, "a", "b") == ""


def test_check_says_who_approves_policy_changes(tmp_path: Path) -> None:
    """`policies check` names the change-control approvers and channel."""
    from typer.testing import CliRunner

    from app.cli.policies import policies_app

    folder = write_policy(
        tmp_path / "p", _policy("admin_channel: C0ADMIN\nchange_control: {approvers: [group:cfo]}")
    )
    result = CliRunner().invoke(policies_app, ["check", str(folder)])
    assert result.exit_code == 0, result.output
    assert "change control (" in result.stdout
    assert "a new policy hash waits until one of U0CFO1 approves it in C0ADMIN" in result.stdout


def test_explain_names_the_change_control(tmp_path: Path) -> None:
    """`policies explain` says who must approve a change to the policy, in text and JSON."""
    import json

    from typer.testing import CliRunner

    from app.cli.policies import policies_app

    folder = write_policy(
        tmp_path / "p", _policy("admin_channel: C0ADMIN\nchange_control: {approvers: [group:cfo]}")
    )
    root = Path(__file__).resolve().parents[3]
    event = str(root / "examples" / "discount.json")
    text = CliRunner().invoke(policies_app, ["explain", event, "--policies", str(folder)])
    assert text.exit_code == 0, text.output
    assert (
        "change control: a change to this policy waits for one of U0CFO1 in C0ADMIN" in text.stdout
    )
    shown = CliRunner().invoke(
        policies_app, ["explain", event, "--policies", str(folder), "--format", "json"]
    )
    assert json.loads(shown.stdout)["change_control"]["approvers"] == ["U0CFO1"]
