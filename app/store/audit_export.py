"""Exports of the audit log with proof, and their verification without the database.

An export is a CSV or JSON-lines file of entries (seq, at, actor, action, exception, detail,
prev_hash, hash) plus FILE.manifest.json: row count, first and last seq, the chain hash at the
end, the file's sha256, the filters, when and on which host. Each row carries what is needed to
recompute its own hash, so the file proves itself:
- an export by period (or of everything) is a contiguous run of the chain: every row's hash is
  recomputed and each row must point at the one before, so no row inside the run can be edited,
  dropped, reordered or inserted; the manifest's count, seqs, end hash and sha256 must match;
- an export of one exception (--exception) is a selection: each row's own hash is recomputed
  (its content is what was chained) and the manifest must match, but rows of the exception that
  were left out cannot be detected from the file alone (check against the database or a
  checkpoint for that).
Written at constant memory: rows are streamed from one read-only snapshot."""

from __future__ import annotations

import csv
import hashlib
import json
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from app.domain.lifecycle import exception_label, parse_label
from app.store import canonical_json
from app.store.audit import at_text, chain_hash, rebuild
from app.store.audit_read import EntryText, snapshot
from app.store.db import Database

Format = Literal["csv", "jsonl"]
COLUMNS = ("seq", "at", "actor", "action", "exception", "detail", "prev_hash", "hash")
MANIFEST_VERSION = 1


class ExportError(Exception):
    """The export cannot be written or read; `broken` when it no longer holds, not a mistake."""

    def __init__(self, message: str, *, broken: bool = False) -> None:
        super().__init__(message)
        self.broken = broken


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    exception_id: int | None = None

    def describe(self) -> dict[str, str | None]:
        return {
            "since": None if self.since is None else at_text(self.since),
            "until": None if self.until is None else at_text(self.until),
            "exception": None if self.exception_id is None else exception_label(self.exception_id),
        }


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _detail_text(row: EntryText) -> str:
    """The detail as hashed (re-spelled only if the database stores it in another JSON form)."""
    if (
        rebuild(row.seq, row.at, row.exception_id, row.actor, row.action, row.detail)
        == row.canonical
    ):
        return row.detail
    return canonical_json.dumps(json.loads(row.detail))


def _lines(rows: Iterator[EntryText], fmt: Format, out: IO[str]) -> Iterator[EntryText]:
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    for row in rows:
        label = "" if row.exception_id is None else exception_label(row.exception_id)
        detail = _detail_text(row)
        if writer is not None:
            writer.writerow(
                (row.seq, row.at, row.actor, row.action, label, detail, row.prev_hash, row.hash)
            )
        else:
            out.write(
                f'{{"seq":{row.seq},"at":"{row.at}","actor":{json.dumps(row.actor)},'
                f'"action":{json.dumps(row.action)},"exception":{json.dumps(label or None)},'
                f'"detail":{detail},"prev_hash":"{row.prev_hash}","hash":"{row.hash}"}}\n'
            )
        yield row


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def export(db: Database, out: Path, fmt: Format, filters: Filters, now: datetime) -> dict[str, Any]:
    """Write the entries matching `filters` to `out` and its manifest; return the manifest."""
    count, first, last, end_hash, start_hash = 0, None, None, None, None
    with snapshot(db) as view:
        head = view.head()
        after, upto = 0, None
        if filters.since is not None or filters.until is not None:
            bounds = view.seq_bounds(
                None if filters.since is None else at_text(filters.since),
                None if filters.until is None else at_text(filters.until),
            )
            after, upto = (bounds[0] - 1, bounds[1]) if bounds else (0, 0)
        rows = view.entries(after=after, upto=upto, exception_id=filters.exception_id)
        try:
            with out.open("w", encoding="utf-8", newline="") as sink:
                for row in _lines(rows, fmt, sink):
                    if first is None:
                        first, start_hash = row.seq, row.prev_hash
                    count, last, end_hash = count + 1, row.seq, row.hash
        except OSError as error:
            raise ExportError(f"cannot write {out}: {error.strerror}") from None
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "file": out.name,
        "format": fmt,
        "rows": count,
        "first_seq": first,
        "last_seq": last,
        "start_hash": start_hash,  # the hash the first row chains from
        "end_hash": end_hash,  # the chain's hash at the last row
        "contiguous": filters.exception_id is None,
        "sha256": file_sha256(out),
        "filters": filters.describe(),
        "chain_head": None if head is None else {"seq": head[0], "hash": head[1]},
        "exported_at": at_text(now),
        "host": socket.gethostname(),
    }
    manifest_path(out).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True)
class ExportCheck:
    rows: int
    first_seq: int | None
    last_seq: int | None
    contiguous: bool
    checkpoints: int = 0


def _read_rows(path: Path, fmt: str) -> Iterator[tuple[int, Sequence[Any]]]:
    """(line number, values in COLUMNS order) for each row of the export."""
    with path.open(encoding="utf-8", newline="") as source:
        if fmt == "csv":
            reader = csv.reader(source)
            if next(reader, None) != list(COLUMNS):
                raise ExportError(f"{path}:1: not a Countersign audit export (header)", broken=True)
            for values in reader:
                yield reader.line_num, values
            return
        for number, line in enumerate(source, start=1):
            try:
                data = json.loads(line)
                data["detail"] = canonical_json.dumps(data["detail"])
                yield number, [data[name] for name in COLUMNS]
            except (ValueError, KeyError, TypeError):
                raise ExportError(f"{path}:{number}: not an entry line", broken=True) from None


class _Altered(Exception):
    pass


def _row_hash(row: Sequence[Any]) -> tuple[int, str, str]:
    """(seq, prev_hash, hash) after checking that the row's own hash holds."""
    seq_text, at, actor, action, label, detail, prev_hash, digest = row
    seq = int(seq_text)
    exception_id = parse_label(label) if label else None
    text = rebuild(seq, str(at), exception_id, str(actor), str(action), str(detail))
    if chain_hash(str(prev_hash), text) != digest:
        raise _Altered(f"entry {seq} was altered: its hash does not match")
    return seq, str(prev_hash), str(digest)


def verify_export(path: Path, anchors: dict[int, str] | None = None) -> ExportCheck:
    """Check an export and its manifest on their own (and against checkpoints when given)."""
    manifest = _read_manifest(path)
    filters = manifest.get("filters")
    contiguous = isinstance(filters, dict) and filters.get("exception") is None
    if manifest.get("contiguous") is not contiguous:
        raise ExportError(f"{path}: the manifest's filters and 'contiguous' disagree", broken=True)
    if file_sha256(path) != manifest.get("sha256"):
        raise ExportError(
            f"{path}: its sha256 differs from the manifest's: the file was changed", broken=True
        )
    count, first, last, prev, start, seen = 0, None, None, None, None, 0
    for number, row in _read_rows(path, str(manifest.get("format"))):
        try:
            seq, prev_hash, digest = _row_hash(row)
        except _Altered as error:
            raise ExportError(f"{path}:{number}: {error}", broken=True) from None
        except (ValueError, TypeError):
            raise ExportError(f"{path}:{number}: the row is malformed", broken=True) from None
        if last is not None and seq <= last:
            raise ExportError(f"{path}:{number}: entry {seq} is out of order", broken=True)
        if contiguous and last is not None and seq != last + 1:
            raise ExportError(f"{path}:{number}: entry {last + 1} is missing", broken=True)
        if contiguous and prev is not None and prev_hash != prev:
            raise ExportError(
                f"{path}:{number}: entry {seq} does not point at entry {seq - 1}", broken=True
            )
        if anchors and seq in anchors:
            seen += 1
            if anchors[seq] != digest:
                raise ExportError(
                    f"{path}:{number}: entry {seq} differs from the anchored checkpoint",
                    broken=True,
                )
        if first is None:
            first, start = seq, prev_hash
        count, last, prev = count + 1, seq, digest
    expected = {
        "rows": count,
        "first_seq": first,
        "last_seq": last,
        "start_hash": start,
        "end_hash": prev,
    }
    for name, value in expected.items():
        if manifest.get(name) != value:
            raise ExportError(
                f"{path}: the manifest says {name} {manifest.get(name)}, the file has {value}",
                broken=True,
            )
    return ExportCheck(count, first, last, contiguous, seen)


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ExportError(f"{path}: no such export file")
    where = manifest_path(path)
    try:
        manifest = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(
            f"{where}: the manifest is missing (it is written next to the export)"
        ) from None
    except (OSError, ValueError):
        raise ExportError(f"{where}: not a readable manifest", broken=True) from None
    if not isinstance(manifest, dict) or manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ExportError(f"{where}: not a Countersign export manifest", broken=True)
    if manifest.get("format") not in ("csv", "jsonl"):
        raise ExportError(f"{where}: unknown format {manifest.get('format')!r}", broken=True)
    return manifest
