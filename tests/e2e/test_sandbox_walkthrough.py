"""The sandbox as a new user meets it: `countersign sandbox up` in its own process prints what to
type, and every printed command, run in order from another process, does what its comment says.
Restarting starts clean; SIGHUP and `countersign policies reload` reload the policies in place."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from app.sandbox.local import Ports, walkthrough
from app.store.db import Database
from app.store.tables import ExceptionRow
from tests.e2e.harness import COUNTERSIGN, answers_200, assert_at_rest, free_ports, wait_for

ROOT = Path(__file__).resolve().parents[2]
OURS = ("SLACK_", "INTACCT_", "DATABASE_URL", "BILLING_", "COUNTERSIGN_")


def user_env(**extra: str) -> dict[str, str]:
    """A shell with none of Countersign's settings: only what the test (or the hints) export."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OURS)} | extra


class SandboxProcess:
    """`countersign sandbox up` as a real process (cwd = the repository), its output captured."""

    def __init__(self, folder: Path, ports: list[int], policies: Path) -> None:
        self.folder, self.ports = folder, ports
        self.db = folder / "sandbox.db"
        self.pid_file = folder / "countersign.pid"
        self.env = user_env(
            COUNTERSIGN_POLICIES=str(policies), COUNTERSIGN_PID_FILE=str(self.pid_file)
        )
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> SandboxProcess:
        app, slack, intacct = (str(p) for p in self.ports)
        flags = ["--port", app, "--slack-port", slack, "--intacct-port", intacct]
        self.output = []
        self.process = subprocess.Popen(
            [COUNTERSIGN, "sandbox", "up", *flags, "--db", str(self.db)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        stream, lines = self.process.stdout, self.output
        assert stream is not None
        threading.Thread(target=lambda: lines.extend(stream), daemon=True).start()
        process = self.process
        wait_for(
            lambda: "Stop with Ctrl-C." in self.text or process.poll() is not None,
            timeout=30,
            what="the printed hints",
        )
        if process.poll() is not None:  # it stopped (a port taken, say): show what it said
            raise AssertionError(f"sandbox up exited {process.returncode}:\n{self.text}")
        wait_for(lambda: answers_200(f"{self.url}/readyz"), timeout=30, what="the sandbox")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C, as the hints say
            self.process.wait(timeout=15)

    @property
    def text(self) -> str:
        return "".join(self.output)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    def hints(self) -> list[str]:
        """The command lines printed for the second terminal, in order."""
        block = self.text.split("In another terminal, in this folder:\n", 1)[1]
        block = block.split("Stop with Ctrl-C.", 1)[0]
        return [line.strip() for line in block.splitlines() if line.strip()]

    def policy_hash(self) -> str:
        return str(httpx.get(f"{self.url}/readyz", timeout=5).json()["policies"])


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    """A sandbox on free ports with a temp database and a copy of the example policies."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    box = SandboxProcess(tmp_path, free_ports(3), policies).start()
    try:
        yield box
        assert_at_rest(f"sqlite:///{box.db}")
    finally:
        box.stop()


def run_hints(lines: list[str]) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    """Type the hints into a fresh shell in the repository: `export` sets, commands run."""
    env, results = user_env(), []
    for line in lines:
        words = shlex.split(line, comments=True)
        if line == "source .venv/bin/activate":
            continue  # the test already runs the virtualenv's countersign
        if words[0] == "export":
            env |= dict(word.split("=", 1) for word in words[1:])
            continue
        assert words[0] == "countersign", line
        done = subprocess.run(
            [COUNTERSIGN, *words[1:]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=90,
        )
        results.append((line, done))
    return results


def states(db: Path) -> dict[int, str]:
    database = Database(f"sqlite:///{db}")
    try:
        with database.transaction() as session:
            return {row.id or 0: row.state for row in session.exec(select(ExceptionRow)).all()}
    finally:
        database.dispose()


def test_printed_hints_work_in_the_printed_order(sandbox: SandboxProcess) -> None:
    """Every printed command exits 0 but the refused click, which says why; the audit holds."""
    assert f"started from a clean database at {sandbox.db}" in sandbox.text
    page = sandbox.text.index("Open the sandbox workspace in your browser: http://")
    assert page < sandbox.text.index("started from a clean database")  # the page comes first
    hints = sandbox.hints()
    assert any(f"DATABASE_URL=sqlite:///{sandbox.db}" in line for line in hints)
    assert any(f"COUNTERSIGN_SANDBOX_PORT={sandbox.ports[0]}" in line for line in hints)
    results = run_hints(hints)
    said: dict[str, str] = {}
    for line, done in results:
        output = done.stdout + done.stderr
        assert "Traceback" not in output, f"{line}\n{output}"
        said[line.split("#")[0].strip()] = output
        if "# refused" in line:
            assert done.returncode == 1, f"{line}\n{output}"
            assert "not recorded" in done.stderr, output
            assert "not an approver" in done.stderr, output
        else:
            assert done.returncode == 0, f"{line}\n{output}"

    click = "countersign sandbox click BX-000001 approve --as"
    assert "approved step 1 of 2; waiting for step 2 of 2" in said[f"{click} U0FINMGR1"]
    assert "approved step 2 of 2; the exception is now released" in said[f"{click} U0CFO1"]
    assert "Approved and released in Intacct" in said[f"{click} U0CFO1"]
    home = said["countersign sandbox home --as U0CFO1"]
    assert "BX-000001" in home.split("Waiting for you as a delegate")[0]
    assert "[Approve] [Reject] [Details]" in home
    details = said["countersign sandbox click BX-000001 details --as U0CFO1"]
    assert "*Route* big-discount" in details
    assert "*Invoice in Intacct* INV-1001" in details
    assert "Customer's receivables" in details
    assert "<@U0FINMGR1> approved step 1" in details
    overdue = 'countersign sandbox command "/billing-exceptions list overdue" --as U0FINMGR1'
    assert "Nothing open matches" in said[overdue]
    outsider = 'countersign sandbox command "/billing-exceptions show BX-000001" --as U0OUTSIDER'
    assert "You are not allowed to look at billing exceptions" in said[outsider]
    rejected = next(out for line, out in said.items() if "BX-000002 reject" in line)
    assert "rejected step 1 of 1; the exception is now rejected" in rejected
    assert (
        '"exception":"BX-000003","state":"approved"'
        in said["countersign sandbox send examples/small-discount.json"]
    )
    assert "asked server" in said["countersign policies reload"]
    assert re.match(r"audit chain intact: \d+ entries", said["countersign audit verify"])
    shown = [d.stdout for line, d in results if line.startswith("countersign sandbox show")]
    assert "BX-000001" in shown[0]
    assert "[Approve | Reject | Request changes | Details]" in shown[0]
    assert "[Approve" not in shown[-1]
    assert "Invoice INV-1001 was released in Intacct" in shown[-1]
    exports = [line for line in hints if line.startswith("export ")]
    again = "countersign sandbox click BX-000001 approve --as U0CFO1"
    decided = run_hints([*exports, again])[0][1]
    assert decided.returncode == 1
    assert "not recorded. Its card has no approve button any more" in decided.stderr
    slack = httpx.get(f"http://127.0.0.1:{sandbox.ports[1]}/_emulator/state", timeout=5).json()
    notice = [m for m in slack["messages"] if m["text"].startswith("BX-000003")]
    assert len(notice) == 1
    assert "approved automatically by route small-discount-auto" in notice[0]["text"]
    assert "actions" not in [block["type"] for block in notice[0].get("blocks") or []]
    assert states(sandbox.db) == {1: "released", 2: "rejected", 3: "released"}
    assert sandbox.process is not None
    assert sandbox.process.poll() is None  # the reload kept it up
    assert_at_rest(f"sqlite:///{sandbox.db}")


def test_readme_shows_the_printed_hints() -> None:
    """The README's sandbox block is, line for line, what `make run` prints for the defaults."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Try it locally", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    printed = walkthrough(Ports())
    hints = printed.split("In another terminal, in this folder:\n", 1)[1].split("Stop with")[0]
    assert block.splitlines() == [line.removeprefix("  ") for line in hints.splitlines()]


def test_restart_starts_clean_and_the_walkthrough_works_again(sandbox: SandboxProcess) -> None:
    """Stopped and started again, the sandbox says it starts clean; BX-000001 is new again."""
    first = run_hints(
        [
            f"export DATABASE_URL=sqlite:///{sandbox.db}",
            f"export COUNTERSIGN_SANDBOX_PORT={sandbox.ports[0]}",
            f"export COUNTERSIGN_SANDBOX_SLACK_PORT={sandbox.ports[1]}",
            "countersign sandbox send examples/discount.json",
            "countersign sandbox click BX-000001 approve --as U0FINMGR1",
        ]
    )
    assert [done.returncode for _, done in first] == [0, 0], first
    sandbox.stop()
    sandbox.start()
    assert f"started from a clean database at {sandbox.db}" in sandbox.text
    again = run_hints(
        [
            f"export DATABASE_URL=sqlite:///{sandbox.db}",
            f"export COUNTERSIGN_SANDBOX_PORT={sandbox.ports[0]}",
            f"export COUNTERSIGN_SANDBOX_SLACK_PORT={sandbox.ports[1]}",
            "countersign sandbox show",
            "countersign sandbox send examples/discount.json",
            "countersign sandbox click BX-000001 approve --as U0FINMGR1",
            "countersign sandbox click BX-999999 approve --as U0FINMGR1",
            "countersign sandbox send README.md",
            "countersign sandbox click BX-000001 approve --as U0FINMGR1",
            "countersign sandbox click BX-000001 reject --as U0OUTSIDER --reason 'not mine'",
        ]
    )
    (
        (_, shown),
        (_, sent),
        (_, clicked),
        (_, unknown),
        (_, malformed),
        (_, repeat),
        (_, outsider),
    ) = again
    assert repeat.returncode == 1
    assert repeat.stderr.startswith("BX-000001: not recorded. Countersign told U0FINMGR1")
    assert outsider.returncode == 1
    assert "BX-000001: not recorded. The dialog says: You are not an approver" in outsider.stderr
    assert shown.stdout.strip() == "Nothing posted yet."
    assert sent.returncode == 0, sent.stderr
    assert '"status":"created"' in sent.stdout
    assert '"exception":"BX-000001"' in sent.stdout
    assert clicked.returncode == 0, clicked.stderr
    assert "U0FINMGR1 approved step 1 of 2" in clicked.stdout
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "BX-999999 does not exist"
    assert malformed.returncode == 1
    assert malformed.stdout.startswith("422 "), malformed.stdout  # kept as a rejected event
    assert "not valid JSON" in malformed.stdout
    assert_at_rest(f"sqlite:///{sandbox.db}")


def test_sighup_and_policies_reload_apply_a_changed_policy(sandbox: SandboxProcess) -> None:
    """`kill -HUP` reloads (the sandbox stays up, /readyz shows the new hash); so does
    `countersign policies reload` with the exported pid file."""
    policy = Path(sandbox.env["COUNTERSIGN_POLICIES"]) / "countersign.yml"
    before = sandbox.policy_hash()
    policy.write_text(policy.read_text().replace("channel: C0ARDISPUTES", "channel: C0BILLING"))
    assert sandbox.process is not None
    os.kill(sandbox.process.pid, signal.SIGHUP)
    after_hup = wait_for(
        lambda: (h := sandbox.policy_hash()) != before and h, what="the reloaded policy hash"
    )
    assert sandbox.process.poll() is None
    assert sandbox.pid_file.read_text().strip() == str(sandbox.process.pid)

    policy.write_text(policy.read_text().replace("remind_every: 4h", "remind_every: 3h"))
    reloaded = run_hints(
        [f"export COUNTERSIGN_PID_FILE={sandbox.pid_file}", "countersign policies reload"]
    )[0][1]
    assert reloaded.returncode == 0, reloaded.stderr
    wait_for(lambda: sandbox.policy_hash() not in (before, after_hup), what="the second reload")
    assert sandbox.process.poll() is None


def test_sandbox_refuses_to_empty_another_database(tmp_path: Path) -> None:
    """With DATABASE_URL naming another database, `sandbox up` exits 2 and says what to do."""
    other = tmp_path / "countersign.db"
    other.write_bytes(b"precious")
    answer = subprocess.run(
        [COUNTERSIGN, "sandbox", "up", "--port", str(free_ports(1)[0])],
        cwd=tmp_path,
        env=user_env(DATABASE_URL=f"sqlite:///{other}"),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert answer.returncode == 2
    assert "will not empty that one" in answer.stderr
    assert "--db FILE" in answer.stderr
    assert len(answer.stderr.strip().splitlines()) == 1
    assert other.read_bytes() == b"precious"


def test_commands_say_plainly_when_the_sandbox_is_not_running(tmp_path: Path) -> None:
    """With nothing listening, `send` and `show` exit 1 with one line, not a traceback."""
    port = str(free_ports(1)[0])
    for args in (
        ["sandbox", "send", str(ROOT / "examples/discount.json"), "--port", port],
        ["sandbox", "show", "--slack-port", port],
        ["sandbox", "click", "BX-000001", "approve", "--as", "U0CFO1"],
    ):
        answer = subprocess.run(
            [COUNTERSIGN, *args], cwd=tmp_path, env=user_env(), capture_output=True, text=True
        )
        assert answer.returncode == 1, args
        assert "cannot reach" in answer.stderr or "no sandbox database" in answer.stderr
        assert len(answer.stderr.strip().splitlines()) == 1
        assert "Traceback" not in answer.stderr
