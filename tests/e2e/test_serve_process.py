"""`countersign serve` as a real process: `countersign policies reload` signals it, and a broken
policy is refused while a good one takes effect."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_emulator import SlackEmulator
from tests.e2e.conftest import POLICIES
from tests.e2e.harness import COUNTERSIGN, process_env, serve_process, wait_for


@dataclass
class Served:
    url: str
    env: dict[str, str]
    policy: Path
    slack: SlackEmulator


def _ready_hash(url: str) -> str | None:
    try:
        answer = httpx.get(f"{url}/readyz", timeout=2)
    except httpx.TransportError:
        return None
    return str(answer.json()["policies"]) if answer.status_code == 200 else None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The emulators in this process, Countersign in its own, with an editable policy folder."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    policy = folder / "routes.yml"
    policy.write_text(
        policy.read_text().replace("version: 1\n", "version: 1\nadmin_channel: C0ADMIN\n", 1)
    )
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    env = process_env(tmp_path, slack, intacct, COUNTERSIGN_POLICIES=str(folder), LOG_FORMAT="json")
    try:
        with serve_process(env) as url:
            yield Served(url, env, policy, slack)
    finally:
        slack.stop()
        intacct.stop()


def _reload(served: Served) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COUNTERSIGN, "policies", "reload"],
        env=served.env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_reload_command_signals_the_server_and_a_broken_policy_is_refused(
    served: Served,
) -> None:
    """`policies reload` on a broken folder: the server keeps its hash and tells #admin."""
    before = _ready_hash(served.url)
    served.policy.write_text(served.policy.read_text().replace("group:cfo", "group:nobody"))
    answer = _reload(served)
    assert answer.returncode == 0, answer.stderr
    notice = wait_for(lambda: served.slack.messages("C0ADMIN"), what="an admin notice")
    assert "nobody" in notice[0].text
    assert _ready_hash(served.url) == before


def test_reload_command_applies_a_good_policy(served: Served) -> None:
    """`policies reload` on a valid change: the running server's policy hash changes."""
    before = _ready_hash(served.url)
    served.policy.write_text(served.policy.read_text().replace("C0ARDISPUTES", "C0DISPUTES2"))
    assert _reload(served).returncode == 0
    after = wait_for(
        lambda: (h := _ready_hash(served.url)) != before and h, what="the new policy hash"
    )
    assert after != before
    assert served.slack.messages("C0ADMIN") == []


def test_reload_command_without_a_server_says_so(tmp_path: Path) -> None:
    """With no server behind the pid file, `policies reload` exits 1 and names the file."""
    env = {**os.environ, "COUNTERSIGN_PID_FILE": str(tmp_path / "none.pid")}
    answer = subprocess.run(
        [COUNTERSIGN, "policies", "reload"], env=env, capture_output=True, text=True, check=False
    )
    assert answer.returncode == 1
    assert "none.pid" in answer.stderr
