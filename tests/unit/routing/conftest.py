"""Shared helpers for routing tests: write a policy to a temp dir, build events."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.routing import PolicySet, load_policy_set

GROUPS = """\
version: 1
groups:
  billing_ops: [U0BILLOPS1]
  finance_managers: [U0FINMGR1, U0FINMGR2]
  controller: [U0CTRL1]
  cfo: [U0CFO1]
"""


def write_policy(directory: Path, routes_yaml: str, *, groups: str = GROUPS) -> Path:
    """Write countersign.yml (header + the given text) and groups.yml into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "groups.yml").write_text(groups)
    (directory / "countersign.yml").write_text(textwrap.dedent(routes_yaml))
    return directory


@pytest.fixture
def policy_from(tmp_path: Path) -> Callable[[str], PolicySet]:
    """Load a policy set from YAML text (groups.yml with the sandbox groups is added)."""

    def load(text: str) -> PolicySet:
        return load_policy_set(write_policy(tmp_path / "policies", text))

    return load


def make_event(**changes: Any) -> dict[str, Any]:
    """A routing view of a valid event; keyword `a__b=x` sets nested field a.b (None removes)."""
    event: dict[str, Any] = {
        "event_id": "evt-1",
        "source": "salesforce",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00Z",
        "requested_by": {"email": "rep@example.com", "slack_user_id": None},
        "customer": {"id": "C-1", "name": "Acme Corp", "tier": "enterprise"},
        "contract": None,
        "invoice": {"key": "K-1", "number": "INV-1", "currency": "USD", "amount": "1000.00"},
        "details": {},
        "reason": None,
    }
    for key, value in changes.items():
        *parents, last = key.split("__")
        target = event
        for parent in parents:
            if not isinstance(target.get(parent), dict):
                target[parent] = {}
            target = target[parent]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return event
