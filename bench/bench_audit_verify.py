"""`audit verify` and `audit export` over 1,000,000 entries, against plain sha256 over the rows.

Builds the chain by bulk insert of precomputed rows (not through append), then, interleaved for
three rounds: the baseline (read every row through the same driver and sha256 it, nothing
else) and `verify` in process; then once each `countersign audit verify` and `countersign
audit export --format csv` as real processes with their wall time and peak RSS. SQLite in a
temp dir always; PostgreSQL too when BENCH_DATABASE_URL is set (a scratch database is created
on that server and dropped afterwards). BENCH_AUDIT_ENTRIES changes the size."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.store import audit
from app.store.audit_read import snapshot
from app.store.db import Database
from app.store.migrate import upgrade
from tests.databases import scratch_postgres

ENTRIES = int(os.environ.get("BENCH_AUDIT_ENTRIES", "1000000"))
CHUNK = 50_000
T0 = datetime(2026, 11, 1, tzinfo=UTC)
COUNTERSIGN = shutil.which("countersign") or str(Path(sys.executable).parent / "countersign")
COLUMNS = "seq, at, exception_id, actor, action, detail, prev_hash, hash, canonical"
NAMES = COLUMNS.split(", ")


def _rows(start: int, prev: str) -> tuple[list[dict[str, object]], str]:
    rows = []
    for seq in range(start, min(start + CHUNK, ENTRIES + 1)):
        row = audit.entry_values(
            prev,
            seq,
            at=T0 + timedelta(milliseconds=seq * 250),
            actor=f"U0APPROVER{seq % 40:02d}",
            action="decision.recorded" if seq % 3 else "exception.opened",
            exception_id=seq // 5 + 1,
            detail={"step": seq % 3, "outcome": "approve", "amount": f"{seq % 9000}.50"},
        )
        rows.append(row)
        prev = str(row["hash"])
    return rows, prev


def populate(db: Database) -> None:
    """Write ENTRIES chained rows straight into audit_entry (and move the head)."""
    connection = db.engine.raw_connection()
    cursor = connection.cursor()
    prev = audit.GENESIS
    for start in range(1, ENTRIES + 1, CHUNK):
        rows, prev = _rows(start, prev)
        if db.dialect == "sqlite":
            cursor.execute("BEGIN")
            cursor.executemany(
                f"INSERT INTO audit_entry ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_sqlite_values(row) for row in rows],
            )
        else:
            with cursor.copy(f"COPY audit_entry ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        [
                            *(row[name] for name in NAMES[:5]),
                            _json(row),
                            *(row[name] for name in NAMES[6:]),
                        ]
                    )
        connection.commit()
    mark = "?" if db.dialect == "sqlite" else "%s"
    cursor.execute(
        f"UPDATE audit_head SET seq = {mark}, hash = {mark} WHERE id = 1", (ENTRIES, prev)
    )
    connection.commit()
    if db.dialect == "postgresql":
        driver = connection.driver_connection
        driver.autocommit = True
        cursor.execute("VACUUM ANALYZE audit_entry")
        driver.autocommit = False
    connection.close()


def _json(row: dict[str, object]) -> str:
    from app.store import canonical_json

    return canonical_json.dumps(row["detail"])


def _sqlite_values(row: dict[str, object]) -> tuple[object, ...]:
    at = row["at"]
    assert isinstance(at, datetime)
    return (
        row["seq"],
        at.strftime("%Y-%m-%d %H:%M:%S.%f"),
        row["exception_id"],
        row["actor"],
        row["action"],
        _json(row),
        row["prev_hash"],
        row["hash"],
        row["canonical"],
    )


def baseline(db: Database) -> int:
    """Plain sha256 over the rows: read each row's hashed text through the same driver (same
    read path, page size, server-side cursor) and sha256 it, checking nothing."""
    connection = db.engine.raw_connection()
    if db.dialect == "sqlite":
        cursor = connection.cursor()
    else:
        cursor = connection.cursor(name="baseline")
        cursor.itersize = 5_000
    cursor.execute("SELECT seq, prev_hash, hash, canonical FROM audit_entry ORDER BY seq")
    count = 0
    sha256 = hashlib.sha256
    while page := cursor.fetchmany(5_000):
        for _seq, prev, _digest, canonical in page:
            sha256(f"{prev}\n{canonical}".encode()).hexdigest()
        count += len(page)
    cursor.close()
    connection.rollback()
    connection.close()
    return count


def verify(db: Database) -> int:
    with snapshot(db) as view:
        result = audit.verify(view)
    assert result.ok, result.problem
    return result.entries


def timed(fn: object, db: Database) -> float:
    assert callable(fn)
    started = time.perf_counter()
    count = fn(db)
    elapsed = time.perf_counter() - started
    assert count == ENTRIES, count
    return elapsed


def cli(url: str, *args: str) -> tuple[float, str]:
    """Run `countersign …` as a process: (wall seconds, its own peak RSS).

    The RSS comes from /usr/bin/time: a child forked from this (large) process would report
    this process's RSS as its own maximum."""
    timer = shutil.which("time") or "/usr/bin/time"
    with tempfile.NamedTemporaryFile("r") as report:
        prefix = [timer, "-f", "%M", "-o", report.name] if Path(timer).exists() else []
        started = time.perf_counter()
        answer = subprocess.run(
            [*prefix, COUNTERSIGN, *args],
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if answer.returncode != 0:
            raise SystemExit(f"countersign {' '.join(args)} failed: {answer.stderr}")
        kb = report.read().strip().splitlines()[-1:] if prefix else []
    return elapsed, f"{int(kb[0]) / 1024:.0f} MB" if kb else "unknown"


def measure(url: str, folder: Path) -> None:
    upgrade(url)
    db = Database(url)
    name = db.dialect
    started = time.perf_counter()
    populate(db)
    print(
        f"audit[{name}]: built {ENTRIES:,} chained entries in {time.perf_counter() - started:.1f} s"
    )
    base, checked = [], []
    for _ in range(3):
        base.append(timed(baseline, db))
        checked.append(timed(verify, db))
    b, v = statistics.median(base), statistics.median(checked)
    print(
        f"audit[{name}]: verify {ENTRIES:,} entries {v:.2f} s (median of 3) vs plain sha256 over"
        f" the rows {b:.2f} s: ratio {v / b:.2f}x"
    )
    wall, rss = cli(url, "audit", "verify")
    print(f"audit[{name}]: `countersign audit verify` process {wall:.2f} s, peak RSS {rss}")
    out = folder / f"export-{name}.csv"
    wall, rss = cli(url, "audit", "export", "--format", "csv", "--out", str(out))
    size = out.stat().st_size / 1e6
    print(
        f"audit[{name}]: `countersign audit export --format csv` {wall:.2f} s, {size:.0f} MB file,"
        f" peak RSS {rss}"
    )
    wall, rss = cli(url, "audit", "verify", "--export", str(out))
    print(f"audit[{name}]: `countersign audit verify --export` {wall:.2f} s, peak RSS {rss}")
    db.dispose()


def main() -> None:
    print(f"audit: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        measure(f"sqlite:///{folder}/bench.db", Path(folder))
        server = os.environ.get("BENCH_DATABASE_URL")
        if server:
            with scratch_postgres(server, "bench_audit") as url:
                measure(url, Path(folder))
    print(f"audit: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
