"""A running server never half-applies a policy: a broken reload is refused and reported."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import POLICIES
from tests.e2e.harness import Stack, assert_at_rest, start_stack, stop_stack, wait_for


@pytest.fixture
def editable(tmp_path: Path, database_url: str) -> Iterator[tuple[Stack, Path]]:
    """A stack whose policy folder the test may edit, with an admin channel."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    policy = folder / "routes.yml"
    policy.write_text(
        policy.read_text().replace("version: 1\n", "version: 1\nadmin_channel: C0ADMIN\n", 1)
    )
    running = start_stack(database_url, str(folder))
    try:
        yield running, policy
        assert_at_rest(database_url)
    finally:
        stop_stack(running)


def test_broken_reload_keeps_the_old_policy_and_tells_admins(editable: tuple[Stack, Path]) -> None:
    """A reload with an undefined group is refused; the old hash stays; #admin is told why."""
    stack, policy = editable
    before = stack.http.get(f"{stack.url}/readyz").json()["policies"]
    policy.write_text(policy.read_text().replace("group:cfo", "group:nobody"))
    result = stack.runtime.reload_policies()
    assert result.applied is False
    assert any("nobody" in p for p in result.problems)
    assert stack.http.get(f"{stack.url}/readyz").json()["policies"] == before
    notice = wait_for(lambda: stack.slack.messages("C0ADMIN"), what="an admin notice")
    assert "Policy reload refused" in notice[0].text
    assert "nobody" in notice[0].text


def test_good_reload_takes_effect(editable: tuple[Stack, Path]) -> None:
    """A valid change is applied at once and routes the next event."""
    stack, policy = editable
    before = stack.http.get(f"{stack.url}/readyz").json()["policies"]
    policy.write_text(policy.read_text().replace("channel: C0ARDISPUTES", "channel: C0BILLING"))
    result = stack.runtime.reload_policies()
    assert result.applied is True
    assert stack.http.get(f"{stack.url}/readyz").json()["policies"] == result.content_hash != before
