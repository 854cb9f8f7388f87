"""The walkthrough `make run` prints works as printed: `countersign sandbox up` in its own process,
then `send`, `show`, `click` and `audit verify` from another, as a new user would type them."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import COUNTERSIGN, answers_200, assert_at_rest, free_ports, wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Sandbox:
    folder: Path
    env: dict[str, str]
    ports: list[str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [COUNTERSIGN, *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def slack_state(self) -> dict[str, object]:
        answer = httpx.get(f"http://127.0.0.1:{self.ports[1]}/_emulator/state", timeout=5)
        return dict(answer.json())


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """`countersign sandbox up` on free ports, in an empty folder, with the example policy."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "INTACCT_", "DATABASE_URL", "BILLING_"))
    }
    env["COUNTERSIGN_POLICIES"] = str(ROOT / "policies")
    ports = [str(p) for p in free_ports(3)]
    flags = ["--port", ports[0], "--slack-port", ports[1], "--intacct-port", ports[2]]
    server = subprocess.Popen(
        [COUNTERSIGN, "sandbox", "up", *flags],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(
            lambda: answers_200(f"http://127.0.0.1:{ports[0]}/readyz"),
            timeout=30,
            what="the sandbox to be ready",
        )
        yield Sandbox(tmp_path, env, ports)
        assert_at_rest(f"sqlite:///{tmp_path / 'countersign-sandbox.db'}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _messages(box: Sandbox) -> list[dict[str, object]]:
    return list(box.slack_state()["messages"])  # type: ignore[call-overload]


def test_walkthrough_discount_is_approved_twice_and_released(sandbox: Sandbox) -> None:
    """send → show the card → two approvals → the card says released; the audit chain holds."""
    app, slack = sandbox.ports[0], sandbox.ports[1]
    sent = sandbox.run("sandbox", "send", str(ROOT / "examples/discount.json"), "--port", app)
    assert sent.stdout.startswith("202"), sent.stdout + sent.stderr
    assert json.loads(sent.stdout.split(" ", 1)[1])["exception"] == "BX-000001"
    wait_for(lambda: _messages(sandbox), what="the approval card")

    shown = sandbox.run("sandbox", "show", "--slack-port", slack)
    assert "BX-000001" in shown.stdout
    assert "[Approve | Reject" in shown.stdout

    for approver in ("U0FINMGR1", "U0CFO1"):
        clicked = sandbox.run(
            "sandbox", "click", "BX-000001", "approve", "--as", approver,
            "--port", app, "--slack-port", slack,
        )  # fmt: skip
        assert clicked.stdout.strip() == "click: 200", clicked.stdout + clicked.stderr
    wait_for(
        lambda: "released in Intacct" in json.dumps(_messages(sandbox)[0]),
        timeout=20,
        what="the card to say the invoice was released",
    )
    assert "[Approve" not in sandbox.run("sandbox", "show", "--slack-port", slack).stdout

    sandbox.env["DATABASE_URL"] = "sqlite:///./countersign-sandbox.db"
    verified = sandbox.run("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("audit chain intact")


def test_walkthrough_reject_asks_for_a_reason(sandbox: Sandbox) -> None:
    """`click … reject --reason` opens the reason dialog, submits it, and the card says rejected."""
    app, slack = sandbox.ports[0], sandbox.ports[1]
    sandbox.run("sandbox", "send", str(ROOT / "examples/dispute.json"), "--port", app)
    wait_for(lambda: _messages(sandbox), what="the dispute card")
    rejected = sandbox.run(
        "sandbox", "click", "BX-000001", "reject", "--as", "U0BILLOPS1",
        "--reason", "credit note instead", "--port", app, "--slack-port", slack,
    )  # fmt: skip
    assert rejected.returncode == 0, rejected.stderr
    assert "reason submitted: 200" in rejected.stdout
    wait_for(
        lambda: "credit note instead" in json.dumps(_messages(sandbox)),
        what="the reason on the card",
    )


def test_commands_say_plainly_when_the_sandbox_is_not_running(tmp_path: Path) -> None:
    """With nothing listening, `send` and `show` exit 1 with one line, not a traceback."""
    port = str(free_ports(1)[0])
    for args in (
        ["sandbox", "send", str(ROOT / "examples/discount.json"), "--port", port],
        ["sandbox", "show", "--slack-port", port],
    ):
        answer = subprocess.run(
            [COUNTERSIGN, *args], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert answer.returncode == 1
        assert "cannot reach" in answer.stderr
        assert "Traceback" not in answer.stderr
