"""Policy change control through `countersign serve`: every loading is stored; under
`change_control` a reload with a new hash waits for an approver's click on a card in the admin
channel while the old policy stays in force; approve applies it in every instance, reject never;
`policies history` and `policies diff` read the stored versions through the real CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import FORM, SlackDelivery, payload_body
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.ids import ActionId
from app.store.db import Database
from app.store.tables import AuditEntryRow
from tests.e2e.harness import COUNTERSIGN, process_env, serve_logged, wait_for

POLICY = """\
version: 1
timezone: UTC
admin_channel: C0ADMIN
change_control:
  approvers: [group:policy_admins]
groups:
  policy_admins: [U0CTRL1, cfo@example.com]
  billing_ops: [U0BILLOPS1]
defaults:
  channel: C0BILLING
  calendar: none
routes:
  - name: disputes
    when: {type: invoice_dispute}
    channel: C0ARDISPUTES
    steps: [{approvers: [group:billing_ops]}]
  - name: catch-all
    steps: [{approvers: [group:billing_ops]}]
"""
SIGNING_SECRET = "policy-control-signing-secret-not-real"


@dataclass
class Served:
    urls: list[str]
    envs: list[dict[str, str]]
    database_url: str
    policy: Path
    slack: SlackEmulator

    def ready(self, server: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.urls[server]}/readyz", timeout=10).json()
        return body

    def cli(self, *args: str, code: int = 0) -> str:
        done = subprocess.run(
            [COUNTERSIGN, *args], env=self.envs[0], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout + done.stderr

    def reload(self, *options: str, server: int = 0) -> None:
        """`countersign policies reload`: SIGHUP to the server named by its pid file."""
        done = subprocess.run(
            [COUNTERSIGN, "policies", "reload", *options],
            env=self.envs[server],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr

    def cards(self) -> list[Any]:
        return [m for m in self.slack.messages("C0ADMIN") if "Policy change" in str(m.blocks)]

    def card(self) -> Any:
        (card,) = wait_for(self.cards, timeout=20, what="a policy change card in C0ADMIN")
        return self.slack.message("C0ADMIN", card.ts)

    def delivery(self, server: int = 0) -> SlackDelivery:
        return SlackDelivery(
            app_url=f"{self.urls[server]}/slack/events",
            signing_secret=SIGNING_SECRET,
            emulator_url=self.slack.url,
        )

    def click(self, card: Any, action: str, user: str, server: int = 0) -> None:
        with self.delivery(server) as delivery:
            answer = delivery.click("C0ADMIN", card.ts, action, user)
        assert answer.status_code == 200, answer.text

    def audit(self, action: str) -> list[AuditEntryRow]:
        database = Database(self.database_url)
        try:
            with database.transaction() as session:
                query = select(AuditEntryRow).where(col(AuditEntryRow.action) == action)
                return list(session.exec(query).all())
        finally:
            database.dispose()

    def history(self) -> list[dict[str, Any]]:
        listed = self.cli("policies", "history", "--format", "json")
        found: list[dict[str, Any]] = json.loads(listed)
        return found


@contextmanager
def _serve(tmp_path: Path, database_url: str, servers: int = 1) -> Iterator[Served]:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    policy = folder / "routes.yml"
    if not policy.exists():
        policy.write_text(POLICY)
    slack, intacct = SlackEmulator().start(), IntacctEmulator().start()
    try:
        with ExitStack() as running:
            urls, envs = [], []
            for n in range(servers):
                home = tmp_path / f"server{n}"
                home.mkdir(exist_ok=True)
                env = process_env(
                    home,
                    slack,
                    intacct,
                    DATABASE_URL=database_url,
                    COUNTERSIGN_POLICIES=str(folder),
                    SLACK_SIGNING_SECRET=SIGNING_SECRET,
                    POLICY_POLL_SECONDS="0.3",
                    OUTBOX_POLL_SECONDS="0.2",
                )
                url, _ = running.enter_context(serve_logged(env, home / "serve.log"))
                urls.append(url)
                envs.append(env)
            yield Served(urls, envs, database_url, policy, slack)
    finally:
        slack.stop()
        intacct.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """One `countersign serve` under change control, on SQLite."""
    with _serve(tmp_path, f"sqlite:///{tmp_path / 'countersign.db'}") as running:
        yield running


def _edit(served: Served) -> None:
    served.policy.write_text(POLICY.replace("channel: C0ARDISPUTES", "channel: C0BILLING"))


def test_new_hash_waits_for_a_member_and_then_goes_in_force(served: Served) -> None:
    """A reload posts the diff to #admin; the old hash stays until an approver approves; an
    outsider's click is refused and audited; history and diff show it all."""
    before = served.ready()
    assert before["policy_change"] == "none"
    old = before["policies"]
    _edit(served)
    served.reload()
    card = served.card()
    shown = json.dumps(card.blocks)
    assert "-    channel: C0ARDISPUTES" in shown
    assert "+    channel: C0BILLING" in shown
    assert f"countersign policies diff {old[:12]}" in shown
    pending = served.ready()
    assert pending["policies"] == old
    assert pending["policy_change"].startswith("pending approval: ")
    new = pending["policy_change"].split()[2]
    assert new != old[:12]
    listed = served.history()
    assert (listed[0]["status"], listed[0]["pending_approval"]) == ("pending", True)
    assert listed[0]["content_hash"].startswith(new)
    assert [row["in_force"] for row in listed] == [False, True]
    assert "pending approval" in served.cli("policies", "history")

    seen = len(served.slack.ephemerals("U0OUTSIDER"))
    served.click(card, ActionId.POLICY_APPROVE, "U0OUTSIDER")
    refusal = wait_for(lambda: served.slack.ephemerals("U0OUTSIDER")[seen:], what="a refusal")
    assert "Only the change_control approvers" in refusal[0].text
    assert len(served.audit("policy.decision_refused")) == 1
    assert served.ready()["policies"] == old

    served.click(card, ActionId.POLICY_APPROVE, "U0CFO1")  # a member by e-mail
    wait_for(lambda: served.ready()["policies"] != old, timeout=15, what="the new policy")
    after = served.ready()
    assert after["policies"].startswith(new)
    assert after["policy_change"] == "none"
    (approved,) = served.audit("policy.approved")
    assert approved.actor == "U0CFO1"
    assert approved.detail["content_hash"] == after["policies"]
    assert approved.detail["base_hash"] == old
    wait_for(
        lambda: "Approved: in force" in str(served.slack.message("C0ADMIN", card.ts).blocks),
        what="the card showing the approval",
    )
    assert ActionId.POLICY_APPROVE not in str(served.slack.message("C0ADMIN", card.ts).blocks)
    applied, decided = served.history()[:2]  # the server put the approved version in force
    assert (applied["trigger"], applied["status"], applied["in_force"]) == (
        "stored",
        "applied",
        True,
    )
    assert (decided["status"], decided["decided_by"]) == ("approved", "U0CFO1")
    assert applied["content_hash"] == decided["content_hash"] == after["policies"]

    diff = served.cli("policies", "diff", old[:8], "current")
    assert f"--- {old[:12]}/routes.yml" in diff
    assert "-    channel: C0ARDISPUTES" in diff
    assert "+    channel: C0BILLING" in diff
    assert "no differences" in served.cli("policies", "diff", "current", new)


def test_rejected_hash_is_never_applied(tmp_path: Path) -> None:
    """The proposer (by e-mail) may not decide their own change; another member's Reject keeps
    the old hash, the same files reloaded stay out, and so does a restart with them on disk."""
    database_url = f"sqlite:///{tmp_path / 'countersign.db'}"
    with _serve(tmp_path, database_url) as served:
        old = served.ready()["policies"]
        _edit(served)
        served.reload("--proposer", "cfo@example.com")
        card = served.card()
        assert "asked by cfo@example.com" in json.dumps(card.blocks)
        with served.delivery() as delivery:  # a click on the card as it was before the rejection
            late = delivery.click_payload("C0ADMIN", card.ts, ActionId.POLICY_APPROVE, "U0CFO1")
        served.click(card, ActionId.POLICY_APPROVE, "U0CFO1")  # U0CFO1 is cfo@example.com
        own = wait_for(lambda: served.slack.ephemerals("U0CFO1"), what="the four-eyes refusal")
        assert "You asked for this reload" in own[0].text
        (refused,) = served.audit("policy.decision_refused")
        assert refused.actor == "U0CFO1"
        assert served.history()[0]["requested_by"] == "cfo@example.com"
        served.click(card, ActionId.POLICY_REJECT, "U0CTRL1")
        wait_for(lambda: served.audit("policy.rejected"), what="the rejection")
        wait_for(
            lambda: "Rejected: not applied" in str(served.slack.message("C0ADMIN", card.ts).blocks),
            what="the card showing the rejection",
        )
        assert served.ready()["policies"] == old
        assert served.ready()["policy_change"] == "none"
        with served.delivery() as delivery:  # too late: already decided
            assert delivery.send_raw(payload_body(late), FORM).status_code == 200
        wait_for(lambda: served.slack.ephemerals("U0CFO1")[1:], what="the refusal")
        assert "already rejected" in served.slack.ephemerals("U0CFO1")[1].text
        served.reload()
        served.reload()
        assert served.ready()["policies"] == old
        assert len(served.cards()) == 1
        assert [row["status"] for row in served.history()] == ["rejected", "applied"]
    with _serve(tmp_path, database_url) as restarted:  # the rejected files still on disk
        assert restarted.ready()["policies"] == old
        assert restarted.ready()["policy_change"] == "none"
        assert restarted.cards() == []
        latest = restarted.history()[0]
        assert (latest["trigger"], latest["content_hash"], latest["in_force"]) == (
            "stored",
            old,
            True,
        )
        assert restarted.audit("policy.approved") == []


def test_unknown_versions_are_one_line_errors(served: Served) -> None:
    """`policies diff` with an unknown or malformed hash says so in one line, exit 2."""
    out = served.cli("policies", "diff", "current", "ffff0000", code=2)
    assert "no stored policy version has a hash starting ffff0000" in out
    assert "Traceback" not in out
    out = served.cli("policies", "diff", "current", "xyz", code=2)
    assert "is not a policy hash" in out
    out = served.cli("policies", "reload", "--proposer", "@ana", code=2)
    assert "is not a Slack user id (U…) or an e-mail address" in out


def test_approval_goes_in_force_in_every_instance(database_url: str, tmp_path: Path) -> None:
    """Two servers on one database: one proposes, the other's click approves, both apply."""
    with _serve(tmp_path, database_url, servers=2) as served:
        old = served.ready(0)["policies"]
        assert served.ready(1)["policies"] == old
        _edit(served)
        served.reload(server=0)
        card = served.card()
        assert served.ready(1)["policy_change"].startswith("pending approval")
        served.click(card, ActionId.POLICY_APPROVE, "U0CTRL1", server=1)
        for server in (0, 1):
            wait_for(
                lambda server=server: served.ready(server)["policies"] != old,
                timeout=15,
                what=f"server {server} applying the approved policy",
            )
        assert served.ready(0)["policies"] == served.ready(1)["policies"]
        assert len(served.audit("policy.approved")) == 1
