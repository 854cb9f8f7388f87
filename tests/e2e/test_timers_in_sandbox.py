"""The sandbox (`countersign sandbox up`) fires timers too: a reminder DM, then expiry."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.harness import COUNTERSIGN, answers_200, assert_at_rest, free_ports, wait_for

ROOT = Path(__file__).resolve().parents[2]
POLICY = """\
version: 1
groups:
  finance_managers: [U0FINMGR1]
defaults:
  channel: C0BILLING
  calendar: none
routes:
  - name: catch-all
    remind_every: 3s
    expire_after: 5s
    on_expire: reject
    steps: [{approvers: [group:finance_managers]}]
"""


def test_sandbox_reminds_and_expires(tmp_path: Path) -> None:
    """`sandbox up` with TIMER_SWEEP_SECONDS: the approver is reminded once, then it expires."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "routes.yml").write_text(POLICY)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "INTACCT_", "DATABASE_URL", "BILLING_"))
    }
    env |= {"COUNTERSIGN_POLICIES": str(tmp_path / "policies"), "TIMER_SWEEP_SECONDS": "0.2"}
    app, slack, intacct = (str(p) for p in free_ports(3))
    ports = ["--port", app, "--slack-port", slack, "--intacct-port", intacct]
    server = subprocess.Popen(
        [COUNTERSIGN, "sandbox", "up", *ports],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: answers_200(f"http://127.0.0.1:{app}/readyz"), timeout=30, what="up")
        event = str(ROOT / "examples/discount.json")
        sent = subprocess.run(
            [COUNTERSIGN, "sandbox", "send", event, "--port", app],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert sent.stdout.startswith("202"), sent.stdout + sent.stderr

        def texts() -> list[str]:
            state = httpx.get(f"http://127.0.0.1:{slack}/_emulator/state", timeout=5).json()
            return [str(message["text"]) for message in state["messages"]]

        def reminders() -> list[str]:
            return [text for text in texts() if "Reminder: BX-000001" in text]

        wait_for(reminders, timeout=15, what="the reminder DM")
        wait_for(
            lambda: any("Rejected by policy" in text for text in texts()),
            timeout=15,
            what="the expiry",
        )
        time.sleep(1.5)  # past the second reminder's time: it must not come
        assert len(reminders()) == 1
        assert_at_rest(f"sqlite:///{tmp_path / 'countersign-sandbox.db'}")
    finally:
        server.terminate()
        server.wait(timeout=10)
