"""Request changes and Resubmit in the sandbox, as a finance ops person types them: `sandbox up`
in its own process, then `sandbox send`, `sandbox click … request-changes`, an edit of the
invoice in the Intacct emulator, `sandbox click … resubmit` and the approvals, each a separate
`countersign` process; the invoice is posted once with its new total."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import COUNTERSIGN, assert_at_rest, free_ports
from tests.e2e.test_sandbox_walkthrough import ROOT, SandboxProcess, states, user_env


@pytest.fixture
def box(tmp_path: Path) -> Iterator[SandboxProcess]:
    """A sandbox on free ports with a temp database and a copy of the example policies."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    running = SandboxProcess(tmp_path, free_ports(3), policies).start()
    try:
        yield running
        assert_at_rest(f"sqlite:///{running.db}")
    finally:
        running.stop()


def typed(box: SandboxProcess, *words: str) -> subprocess.CompletedProcess[str]:
    app, slack, _ = box.ports
    env = user_env(
        DATABASE_URL=f"sqlite:///{box.db}",
        COUNTERSIGN_SANDBOX_PORT=str(app),
        COUNTERSIGN_SANDBOX_SLACK_PORT=str(slack),
    )
    return subprocess.run(
        [COUNTERSIGN, *words], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )


def test_request_changes_and_resubmit_from_the_sandbox_cli(box: SandboxProcess) -> None:
    """request-changes tells the requester; a refused resubmit says why; the requester's
    resubmit restarts approval on the edited invoice, which two approvals post once."""
    assert typed(box, "sandbox", "send", "examples/discount.json").returncode == 0
    asked = typed(
        box, "sandbox", "click", "BX-000001", "request-changes", "--as", "U0FINMGR1",
        "--reason", "List price is wrong",
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert "U0FINMGR1 asked for changes at step 1" in asked.stdout
    assert "the requester U0REQUEST1 was sent the note" in asked.stdout
    approve = typed(box, "sandbox", "click", "BX-000001", "approve", "--as", "U0FINMGR2")
    assert approve.returncode == 1
    assert "no approve button" in approve.stderr
    intacct = f"http://127.0.0.1:{box.ports[2]}/_emulator/invoices/INV-KEY-1001"
    assert httpx.patch(intacct, json={"amount": "47000.00"}, timeout=5).status_code == 200  # README
    other = typed(box, "sandbox", "click", "BX-000001", "resubmit", "--as", "U0FINMGR2")
    assert other.returncode == 1
    assert "Only the requester of BX-000001 can resubmit it." in other.stderr
    resubmitted = typed(box, "sandbox", "click", "BX-000001", "resubmit", "--as", "U0REQUEST1")
    assert resubmitted.returncode == 0, resubmitted.stderr
    assert "(USD 47000.00) and approval is at step 1 of 2 (on_resubmit: restart)" in (
        resubmitted.stdout
    )
    for user in ("U0FINMGR1", "U0CFO1"):
        done = typed(box, "sandbox", "click", "BX-000001", "approve", "--as", user)
        assert done.returncode == 0, done.stderr
    assert "the exception is now released" in done.stdout
    assert states(box.db) == {1: "released"}
    invoices = httpx.get(intacct.rsplit("/", 1)[0], timeout=5).json()["invoices"]
    (posted,) = [i for i in invoices if i["key"] == "INV-KEY-1001"]
    assert (posted["state"], posted["totalTxnAmount"]) == ("posted", "47000.00")
    assert typed(box, "audit", "verify").returncode == 0
