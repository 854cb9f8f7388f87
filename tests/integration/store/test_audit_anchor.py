"""Signed checkpoints outside the database catch what the database's own head cannot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from app.store import anchor, audit
from app.store.audit_read import snapshot
from app.store.db import Database

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEY = "test-anchor-key-not-a-real-secret"


def _write(db: Database, count: int) -> None:
    with db.transaction() as session:
        for n in range(count):
            audit.append(
                session,
                at=T0 + timedelta(seconds=n),
                actor="U0TEST",
                action="test.entry",
                exception_id=1,
                detail={"n": n},
            )


def _verify(db: Database, path: Path) -> audit.VerifyResult:
    hashes = anchor.expected_hashes(anchor.read_checkpoints(path, KEY))
    with snapshot(db) as view:
        return audit.verify(view, None, hashes)


def _rechain_from(db: Database, seq: int) -> None:
    """What an owner of the database can do: rewrite entries from `seq` on, hashes and head."""
    with db.engine.begin() as connection:
        rows = connection.execute(
            text("SELECT seq, exception_id, actor, action, canonical FROM audit_entry ORDER BY seq")
        ).all()
        prev = audit.GENESIS
        for row in rows:
            if row.seq >= seq:
                values = audit.entry_values(
                    prev,
                    row.seq,
                    at=datetime.fromisoformat(json.loads(row.canonical)["at"]),
                    actor=row.actor,
                    action=row.action,
                    exception_id=row.exception_id,
                    detail={"n": -1},
                )
                connection.execute(
                    text(
                        "UPDATE audit_entry SET detail = :d, prev_hash = :p, hash = :h,"
                        " canonical = :c WHERE seq = :s"
                    ),
                    {"d": '{"n":-1}', "p": prev, "h": values["hash"], "c": values["canonical"]}
                    | {"s": row.seq},
                )
                prev = str(values["hash"])
            else:
                prev = connection.execute(
                    text("SELECT hash FROM audit_entry WHERE seq = :s"), {"s": row.seq}
                ).scalar_one()
        connection.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})


def test_checkpoint_is_a_signed_line_of_the_head(db: Database, tmp_path: Path) -> None:
    """write_checkpoint appends seq, head hash, time and host, signed; the chain matches it."""
    path = tmp_path / "anchors.jsonl"
    _write(db, 3)
    point = anchor.write_checkpoint(db, path, KEY, T0)
    _write(db, 2)
    anchor.write_checkpoint(db, path, KEY, T0 + timedelta(minutes=5))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [3, 5]
    assert (point.seq, lines[0]["at"]) == (3, "2026-11-23T09:00:00.000000+00:00")
    assert len(lines[0]["sig"]) == 64
    result = _verify(db, path)
    assert (result.ok, result.checkpoints) == (True, 2)


def test_cut_tail_with_a_rewritten_head_is_detected(db: Database, tmp_path: Path) -> None:
    """Deleting the last entries AND rewriting audit_head passes alone, not against anchors."""
    path = tmp_path / "anchors.jsonl"
    _write(db, 6)
    anchor.write_checkpoint(db, path, KEY, T0)
    with db.engine.begin() as connection:
        kept = connection.execute(text("SELECT hash FROM audit_entry WHERE seq = 4")).scalar_one()
        connection.execute(text("DELETE FROM audit_entry WHERE seq > 4"))
        connection.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": kept})
    with snapshot(db) as view:
        assert audit.verify(view).ok  # the database alone cannot tell
    result = _verify(db, path)
    assert (result.ok, result.bad_seq) == (False, 5)
    assert "removed and the head rewritten (a checkpoint recorded entry 6)" in (
        result.problem or ""
    )


def test_rewritten_tail_is_detected(db: Database, tmp_path: Path) -> None:
    """Rewriting entries and re-chaining them (hashes and head) breaks an anchored entry."""
    path = tmp_path / "anchors.jsonl"
    _write(db, 4)
    anchor.write_checkpoint(db, path, KEY, T0)
    _write(db, 2)
    _rechain_from(db, 3)
    with snapshot(db) as view:
        assert audit.verify(view).ok  # consistent with itself
    result = _verify(db, path)
    assert (result.ok, result.bad_seq) == (False, 4)
    assert "entry 4 was rewritten" in (result.problem or "")


def test_edited_checkpoint_fails_its_signature(db: Database, tmp_path: Path) -> None:
    """Moving a checkpoint back (to hide a cut) without the key breaks its signature."""
    path = tmp_path / "anchors.jsonl"
    _write(db, 3)
    anchor.write_checkpoint(db, path, KEY, T0)
    path.write_text(path.read_text().replace('"seq":3', '"seq":2'))
    with pytest.raises(anchor.AnchorError, match=r"anchors.jsonl:1: the signature") as caught:
        anchor.read_checkpoints(path, KEY)
    assert caught.value.broken


def test_a_checkpoint_below_an_earlier_one_shows_a_cut(db: Database, tmp_path: Path) -> None:
    """If the chain was cut and the server anchored the shorter chain, the file shows it."""
    path = tmp_path / "anchors.jsonl"
    _write(db, 5)
    anchor.write_checkpoint(db, path, KEY, T0)
    with db.engine.begin() as connection:
        kept = connection.execute(text("SELECT hash FROM audit_entry WHERE seq = 2")).scalar_one()
        connection.execute(text("DELETE FROM audit_entry WHERE seq > 2"))
        connection.execute(text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": kept})
    anchor.write_checkpoint(db, path, KEY, T0 + timedelta(minutes=5))
    with pytest.raises(anchor.AnchorError, match="records entry 2, below entry 5"):
        anchor.expected_hashes(anchor.read_checkpoints(path, KEY))


def test_another_key_cannot_verify(db: Database, tmp_path: Path) -> None:
    """Checkpoints signed under one key do not check under another."""
    path = tmp_path / "anchors.jsonl"
    _write(db, 1)
    anchor.write_checkpoint(db, path, KEY, T0)
    with pytest.raises(anchor.AnchorError, match="signature does not match"):
        anchor.read_checkpoints(path, "another-key-0123456789")


def test_scheduler_job_writes_and_never_raises(db: Database, tmp_path: Path) -> None:
    """The scheduler's job appends a checkpoint; an unwritable file is logged, not raised."""
    _write(db, 2)
    path = tmp_path / "anchors.jsonl"
    anchor.job(db, path, KEY, lambda: T0)()
    assert [p.seq for p in anchor.read_checkpoints(path, KEY)] == [2]
    anchor.job(db, tmp_path / "missing" / "anchors.jsonl", KEY, lambda: T0)()
    assert not (tmp_path / "missing").exists()


def test_scheduled_job_comes_from_the_settings(db: Database, tmp_path: Path) -> None:
    """No anchor settings: no job; file and key: a job that writes; only one: refused."""
    from app.config import ConfigError, load_settings

    assert anchor.scheduled(load_settings(), db, lambda: T0) is None
    path = tmp_path / "anchors.jsonl"
    run = anchor.scheduled(
        load_settings(AUDIT_ANCHOR_FILE=path, AUDIT_ANCHOR_KEY=KEY), db, lambda: T0
    )
    assert run is not None
    run()
    assert len(anchor.read_checkpoints(path, KEY)) == 1
    with pytest.raises(ConfigError, match="AUDIT_ANCHOR_KEY is not set"):
        anchor.scheduled(load_settings(AUDIT_ANCHOR_FILE=path), db, lambda: T0)
