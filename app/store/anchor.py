"""Checkpoints of the audit chain kept outside the database (AUDIT_ANCHOR_FILE, JSON lines).

Each line is {"seq", "hash", "at", "host", "sig"}: the chain's head at that time, signed with
HMAC-SHA256 under AUDIT_ANCHOR_KEY. Whoever can rewrite the database (entries and audit_head
alike) cannot rewrite a checkpoint without the key, so `audit verify` against the file detects
a rewritten past (entry `seq` no longer has that hash) and a cut tail (the chain now ends
before the latest checkpoint). Entries after the latest checkpoint are covered only by the
database's own head until the next checkpoint is written."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from app.config import Settings
from app.store import canonical_json
from app.store.audit import at_text
from app.store.audit_read import snapshot
from app.store.db import Database

log = structlog.get_logger("countersign.anchor")


class AnchorError(Exception):
    """The checkpoints cannot be used; `broken` when they show tampering, not just a mistake."""

    def __init__(self, message: str, *, broken: bool = False) -> None:
        super().__init__(message)
        self.broken = broken


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    host: str


def _sign(key: str, body: dict[str, object]) -> str:
    return hmac.new(key.encode(), canonical_json.dumps(body).encode(), hashlib.sha256).hexdigest()


def write_checkpoint(db: Database, path: Path, key: str, now: datetime) -> Checkpoint:
    """Append one signed checkpoint of the chain's current head to `path` (fsynced)."""
    with snapshot(db) as view:
        head = view.head()
    if head is None:
        raise AnchorError("the audit head row is missing: run `countersign db upgrade`")
    point = Checkpoint(head[0], head[1], at_text(now), socket.gethostname())
    body: dict[str, object] = {"seq": point.seq, "hash": point.hash, "at": point.at}
    body["host"] = point.host
    line = canonical_json.dumps(body | {"sig": _sign(key, body)})
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())
    return point


def job(db: Database, path: Path, key: str, now: Callable[[], datetime]) -> Callable[[], None]:
    """A no-argument callable for the scheduler (and shutdown): write a checkpoint, log failure."""

    def run() -> None:
        try:
            point = write_checkpoint(db, path, key, now())
        except Exception:
            log.exception("audit.anchor_failed", path=str(path))
            return
        log.info("audit.anchored", seq=point.seq, path=str(path))

    return run


def scheduled(
    settings: Settings, db: Database, now: Callable[[], datetime]
) -> Callable[[], None] | None:
    """The server's checkpoint job from the settings (None when anchors are not configured);
    a file without a key, or a key without a file, is a configuration error."""
    if settings.AUDIT_ANCHOR_FILE is None and settings.AUDIT_ANCHOR_KEY is None:
        return None
    settings.require("AUDIT_ANCHOR_FILE", "AUDIT_ANCHOR_KEY")
    assert settings.AUDIT_ANCHOR_FILE is not None
    assert settings.AUDIT_ANCHOR_KEY is not None
    return job(db, settings.AUDIT_ANCHOR_FILE, settings.AUDIT_ANCHOR_KEY.get_secret_value(), now)


def read_checkpoints(path: Path, key: str) -> list[Checkpoint]:
    """Every checkpoint in the file, signatures checked, in file order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise AnchorError(f"cannot read the anchor file {path}: {error.strerror}") from None
    points: list[Checkpoint] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
            body = {name: data[name] for name in ("seq", "hash", "at", "host")}
            sig = data["sig"]
            point = Checkpoint(
                int(body["seq"]), str(body["hash"]), str(body["at"]), str(body["host"])
            )
        except (ValueError, KeyError, TypeError):
            raise AnchorError(f"{where}: not a checkpoint line", broken=True) from None
        if not isinstance(sig, str) or not hmac.compare_digest(sig, _sign(key, body)):
            raise AnchorError(
                f"{where}: the signature does not match (an edited or forged checkpoint,"
                " or another AUDIT_ANCHOR_KEY)",
                broken=True,
            )
        points.append(point)
    return points


def expected_hashes(points: list[Checkpoint]) -> dict[int, str]:
    """{seq: hash} from the checkpoints; refuses checkpoints that contradict each other."""
    hashes: dict[int, str] = {}
    highest: Checkpoint | None = None
    for point in points:
        if highest is not None and point.seq < highest.seq:
            raise AnchorError(
                f"the checkpoint of {point.at} records entry {point.seq}, below entry"
                f" {highest.seq} recorded at {highest.at}: the chain was cut in between",
                broken=True,
            )
        if hashes.get(point.seq, point.hash) != point.hash:
            raise AnchorError(
                f"two checkpoints give entry {point.seq} different hashes: the chain was"
                f" rewritten before {point.at}",
                broken=True,
            )
        hashes[point.seq] = point.hash
        highest = point
    hashes.pop(0, None)  # the empty chain: nothing to compare
    return hashes
