"""Policy change control in the flows, on each database: proposals, supersession, decisions,
the poll that applies an approval, and the start of a process whose folder differs."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from app.clock import SystemClock
from app.domain.approval import Actor
from app.flows import jobs
from app.flows.policy_control import PolicyControl, decide_policy_change
from app.flows.policy_holder import PolicyHolder
from app.store import policy_versions
from app.store.db import Database
from app.store.tables import AuditEntryRow, OutboxRow, PolicyVersionRow
from tests.factories import T0

POLICY = """\
version: 1
admin_channel: C0ADMIN
change_control: {approvers: [U0CTRL1, cfo@example.com]}
defaults: {channel: C0BILLING}
routes:
  - name: catch-all
    steps: [{approvers: [U0BILLOPS1]}]
"""


def _folder(tmp_path: Path, text: str = POLICY) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "routes.yml").write_text(text)
    return folder


def _control(db: Database, folder: Path, pid: int = 1) -> tuple[PolicyControl, PolicyHolder]:
    holder = PolicyHolder(folder)
    return PolicyControl(db, holder, SystemClock(), host="h", pid=pid), holder


def _rows(db: Database) -> list[PolicyVersionRow]:
    with db.transaction() as session:
        return list(session.exec(select(PolicyVersionRow).order_by(col(PolicyVersionRow.id))))


def _jobs(db: Database) -> list[tuple[str, int]]:
    with db.transaction() as session:
        found = session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all()
        return [(job.kind, int(job.payload["version"])) for job in found]


def _actions(db: Database) -> list[str]:
    with db.transaction() as session:
        entries = session.exec(select(AuditEntryRow).order_by(col(AuditEntryRow.seq))).all()
        return [entry.action for entry in entries]


def test_a_newer_proposal_supersedes_and_only_a_member_decides(
    db: Database, tmp_path: Path
) -> None:
    """Two reloads: the first proposal is superseded; members decide the second once; the
    poll puts it in force; each step is audited."""
    folder = _folder(tmp_path)
    control, holder = _control(db, folder)
    control.start()
    first = holder.current().content_hash
    (folder / "routes.yml").write_text(POLICY.replace("C0BILLING", "C0OTHER"))
    held = control.reload()
    assert (held.applied, held.content_hash) == (False, first)
    assert held.held is not None
    assert "pending approval in C0ADMIN" in held.held
    (folder / "routes.yml").write_text(POLICY.replace("C0BILLING", "C0THIRD"))
    control.reload()
    start, superseded, pending = _rows(db)
    assert (start.status, superseded.status, pending.status) == ("applied", "superseded", "pending")
    assert pending.base_hash == first
    assert pending.approvers == ["U0CTRL1", "cfo@example.com"]
    assert _jobs(db) == [
        (jobs.POLICY_CARD, superseded.id),
        (jobs.POLICY_CARD_UPDATE, superseded.id),
        (jobs.POLICY_CARD, pending.id),
    ]
    assert pending.id is not None
    assert superseded.id is not None

    outsider = decide_policy_change(db, pending.id, Actor("U0OUTSIDER"), approve=True, now=T0)
    assert not outsider.recorded
    by_mail = Actor("U0CFO1", "CFO@example.com")
    late = decide_policy_change(db, superseded.id, by_mail, approve=True, now=T0)
    assert "already superseded" in late.message
    assert decide_policy_change(db, pending.id, by_mail, approve=True, now=T0).recorded
    again = decide_policy_change(db, pending.id, Actor("U0CTRL1"), approve=False, now=T0)
    assert "already approved by <@U0CFO1>" in again.message
    assert holder.current().content_hash == first  # not until the poll
    control.poll()
    assert holder.current().content_hash == pending.content_hash
    assert holder.current().routes[0].channel == "C0THIRD"
    with db.transaction() as session:
        assert policy_versions.pending(session) == []
        in_force = policy_versions.in_force(session)
        assert in_force is not None
        assert in_force.content_hash == pending.content_hash
    assert _actions(db) == [
        "policy.loaded",
        "policy.proposed",
        "policy.proposed",
        "policy.decision_refused",
        "policy.decision_refused",
        "policy.approved",
        "policy.decision_refused",
        "policy.loaded",
    ]


def test_a_process_starting_with_other_files_keeps_the_version_in_force(
    db: Database, tmp_path: Path
) -> None:
    """Under change control, a server whose folder differs starts with the stored version in
    force and proposes its folder; an instance already running applies the approval."""
    first_control, first_holder = _control(db, _folder(tmp_path / "a"), pid=1)
    first_control.start()
    in_force = first_holder.current().content_hash
    other = _folder(tmp_path / "b", POLICY.replace("U0BILLOPS1", "U0FINMGR1"))
    second_control, second_holder = _control(db, other, pid=2)
    second_control.start()
    assert second_holder.current().content_hash == in_force
    assert second_holder.current().routes[0].source.startswith(f"policy {in_force[:12]}/")
    proposal = _rows(db)[-2]
    assert (proposal.status, proposal.pid, proposal.trigger) == ("pending", 2, "start")
    assert (_rows(db)[-1].trigger, _rows(db)[-1].content_hash) == ("stored", in_force)
    assert proposal.id is not None
    decided = decide_policy_change(db, proposal.id, Actor("U0CTRL1"), approve=True, now=T0)
    assert decided.recorded
    for control, holder in ((first_control, first_holder), (second_control, second_holder)):
        control.poll()
        assert holder.current().content_hash == proposal.content_hash
        assert holder.current().routes[0].steps[0].approvers == ("U0FINMGR1",)
