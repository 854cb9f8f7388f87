"""`countersign sandbox home`, `command` and `click … details` as a person mistypes them or
runs them with no sandbox up: one clear line on stderr and exit 1 (2 for a bad argument),
never a traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.harness import COUNTERSIGN, free_ports


def _run(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, *words], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize(
    "words",
    [
        ("sandbox", "home", "--as", "U0CFO1"),
        ("sandbox", "command", "/billing-exceptions list", "--as", "U0CFO1"),
    ],
)
def test_with_no_sandbox_running_it_says_so(words: tuple[str, ...]) -> None:
    """Nothing listens on the ports: one line naming what could not be reached."""
    app, slack = free_ports(2)
    done = _run(*words, "--port", str(app), "--slack-port", str(slack))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("countersign: cannot reach")
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unknown_click_action_is_refused() -> None:
    """`click BX-000001 frobnicate` names the actions it knows, both sides' among them."""
    done = _run("sandbox", "click", "BX-000001", "frobnicate", "--as", "U0CFO1")
    assert done.returncode == 2
    for action in ("approve", "reject", "request-changes", "resubmit", "details"):
        assert action in done.stderr
    assert "Traceback" not in done.stderr
