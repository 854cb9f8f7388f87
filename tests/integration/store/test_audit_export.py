"""Audit exports carry their own proof: each row's hash, the chain between rows, a manifest."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.store import audit
from app.store.audit_export import (
    ExportError,
    Filters,
    Format,
    export,
    file_sha256,
    manifest_path,
    verify_export,
)
from app.store.db import Database

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _write(db: Database, count: int) -> None:
    with db.transaction() as session:
        for n in range(count):
            audit.append(
                session,
                at=T0 + timedelta(hours=n),
                actor=f"U0APPROVER{n % 2}",
                action="decision.recorded",
                exception_id=n % 3 + 1,
                detail={"n": n, "amount": "12.50", "note": 'a, "quoted"\nline'},
            )


def _reseal(path: Path) -> None:
    """What a forger does after editing the file: fix the manifest's sha256."""
    where = manifest_path(path)
    manifest = json.loads(where.read_text())
    manifest["sha256"] = file_sha256(path)
    where.write_text(json.dumps(manifest))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_full_export_verifies_and_its_manifest_describes_it(
    db: Database, tmp_path: Path, fmt: Format
) -> None:
    """A whole-chain export checks out on its own; the manifest has count, seqs, end hash."""
    _write(db, 7)
    out = tmp_path / f"audit.{fmt}"
    manifest = export(db, out, fmt, Filters(), NOW)
    with db.engine.connect() as connection:
        head = connection.exec_driver_sql("SELECT hash FROM audit_head").scalar_one()
    assert (manifest["rows"], manifest["first_seq"], manifest["last_seq"]) == (7, 1, 7)
    assert (manifest["end_hash"], manifest["start_hash"]) == (head, audit.GENESIS)
    assert manifest["sha256"] == file_sha256(out)
    assert json.loads(manifest_path(out).read_text()) == manifest
    check = verify_export(out)
    assert (check.rows, check.first_seq, check.last_seq, check.contiguous) == (7, 1, 7, True)


def test_csv_export_has_the_columns_an_auditor_reads(db: Database, tmp_path: Path) -> None:
    """Each CSV row is seq, at, actor, action, exception, detail, prev_hash, hash."""
    _write(db, 2)
    out = tmp_path / "audit.csv"
    export(db, out, "csv", Filters(), NOW)
    rows = list(csv.DictReader(out.open(newline="")))
    assert rows[1]["seq"] == "2"
    assert rows[1]["at"] == "2026-11-23T10:00:00.000000+00:00"
    assert (rows[1]["actor"], rows[1]["exception"]) == ("U0APPROVER1", "BX-000002")
    assert json.loads(rows[1]["detail"])["note"] == 'a, "quoted"\nline'
    assert rows[1]["prev_hash"] == rows[0]["hash"]


def test_period_export_is_a_contiguous_run(db: Database, tmp_path: Path) -> None:
    """--since/--until export the entries of that period, chained from the one before."""
    _write(db, 8)
    out = tmp_path / "period.jsonl"
    filters = Filters(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=5))
    manifest = export(db, out, "jsonl", filters, NOW)
    assert (manifest["rows"], manifest["first_seq"], manifest["last_seq"]) == (3, 3, 5)
    assert manifest["filters"]["since"] == "2026-11-23T11:00:00.000000+00:00"
    assert verify_export(out).contiguous


def test_exception_export_holds_only_that_exception(db: Database, tmp_path: Path) -> None:
    """--exception exports that exception's rows; each row's own hash is checked."""
    _write(db, 9)
    out = tmp_path / "bx2.csv"
    manifest = export(db, out, "csv", Filters(exception_id=2), NOW)
    assert (manifest["rows"], manifest["contiguous"]) == (3, False)
    assert [row["seq"] for row in csv.DictReader(out.open(newline=""))] == ["2", "5", "8"]
    check = verify_export(out)
    assert (check.rows, check.contiguous) == (3, False)


def test_edited_file_fails_on_its_sha256(db: Database, tmp_path: Path) -> None:
    """Any change to the file without the manifest is caught by the sha256."""
    _write(db, 3)
    out = tmp_path / "audit.csv"
    export(db, out, "csv", Filters(), NOW)
    out.write_text(out.read_text().replace("U0APPROVER1", "U0APPROVER9"))
    with pytest.raises(ExportError, match="sha256 differs"):
        verify_export(out)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_edited_row_is_named_even_with_a_resealed_manifest(
    db: Database, tmp_path: Path, fmt: Format
) -> None:
    """Editing a row and fixing the manifest's sha256 still fails: the row's hash breaks."""
    _write(db, 3)
    out = tmp_path / f"audit.{fmt}"
    export(db, out, fmt, Filters(), NOW)
    out.write_text(out.read_text().replace("U0APPROVER1", "U0APPROVER9"))
    _reseal(out)
    with pytest.raises(ExportError, match="entry 2 was altered"):
        verify_export(out)


def test_dropped_row_is_named(db: Database, tmp_path: Path) -> None:
    """Removing a row from a contiguous export is reported as that entry missing."""
    _write(db, 4)
    out = tmp_path / "audit.jsonl"
    export(db, out, "jsonl", Filters(), NOW)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:1] + lines[2:]))
    _reseal(out)
    with pytest.raises(ExportError, match="entry 2 is missing"):
        verify_export(out)


def test_cut_tail_disagrees_with_the_manifest(db: Database, tmp_path: Path) -> None:
    """Dropping the last rows is caught by the manifest's count and last seq."""
    _write(db, 4)
    out = tmp_path / "audit.jsonl"
    export(db, out, "jsonl", Filters(), NOW)
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:3]))
    _reseal(out)
    with pytest.raises(ExportError, match="the manifest says rows 4, the file has 3"):
        verify_export(out)


def test_missing_manifest_is_a_mistake_not_a_break(db: Database, tmp_path: Path) -> None:
    """Without its manifest an export cannot be checked, and the message says where it goes."""
    _write(db, 1)
    out = tmp_path / "audit.csv"
    export(db, out, "csv", Filters(), NOW)
    manifest_path(out).unlink()
    with pytest.raises(ExportError, match="the manifest is missing") as caught:
        verify_export(out)
    assert caught.value.broken is False


def test_export_is_checked_against_checkpoints(db: Database, tmp_path: Path) -> None:
    """With checkpoints, each checkpointed entry in the file must carry the anchored hash."""
    _write(db, 4)
    out = tmp_path / "audit.csv"
    manifest = export(db, out, "csv", Filters(), NOW)
    assert verify_export(out, {4: manifest["end_hash"]}).checkpoints == 1
    with pytest.raises(ExportError, match="entry 4 differs from the anchored checkpoint"):
        verify_export(out, {4: "f" * 64})
