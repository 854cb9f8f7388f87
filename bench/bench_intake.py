"""Intake throughput through `countersign serve`, against the raw floor on the same stack.

Countersign runs as `countersign serve` in its own process, with Slack and Intacct pointed at
a port that accepts connections and never answers, so cards wait in the outbox (the outbox
threads each wait on one call) and no emulator competes for the CPU. BENCH_SLACK=closed points
them at a closed port instead: then every card is tried, refused and rescheduled while the
bench runs, several write transactions per event that compete with intake for the CPU and,
on SQLite, for the write lock. Slack's pace is scaled up (SLACK_RATE_SCALE=1000) so that no
card is paced: paced cards of one channel all come due at the channel's next slot, where one
is sent and the others are claimed, rendered and paced again, which keeps a core busy for as
long as a backlog waits (measured: 3.4 s of CPU in 5 s with 3,000 cards waiting), in the
intake and the raw-floor rounds alike.

The raw floor is a tiny Starlette app under the same uvicorn settings, also in its own process,
that verifies the same HMAC, splits a batch into its events (one json.loads) and inserts one
row per event into a one-table database, in one transaction and one executemany at the driver,
through the same pooled engine: what any webhook receiver must do at least, where Countersign
writes several rows per event (the event, its exception, audit entries, outbox jobs, timers).
Measured interleaved, ROUNDS rounds, medians:

  single  signed single events at c=20: events/s and p99 latency
  b100    batches of 100 at c=4: events/s
  b1000   batches of 1,000 one after another: events/s and seconds per batch

On SQLite (a temp file), and on PostgreSQL when BENCH_DATABASE_URL is set (a fresh database is
created on that server and dropped afterwards). Last, audit appends/s with append_many (the
serialization point of several instances on one database)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import webhook
from app.store import audit
from app.store.db import Database
from tests.databases import scratch_postgres

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "tests" / "e2e" / "policies"
COUNTERSIGN = str(Path(sys.executable).parent / "countersign")
SECRET = "bench-webhook-secret-not-real"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
RAW_TABLE = "bench_raw_event"


def event(event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "source": "bench",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:15:00-05:00",
        "requested_by": {"slack_user_id": "U0REQUEST1"},
        "customer": {"id": "C-ACME", "name": "Acme Corp", "tier": "enterprise"},
        "invoice": {
            "key": "INV-KEY-1001",
            "number": "INV-1001",
            "currency": "USD",
            "amount": "48250.00",
        },
        "details": {"discount_pct": "25", "list_amount": "64333.33"},
        "reason": "Three-year renewal",
    }


MARK = "__EVENT_ID__"
TEMPLATE = json.dumps(event(MARK))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server at {url} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server at {url} did not start")


@contextmanager
def server(command: list[str], env: dict[str, str]) -> Iterator[str]:
    url = f"http://127.0.0.1:{env['PORT']}"
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # e.g. the outbox still working through its backlog
            process.kill()
            process.wait()


_SILENT: list[socket.socket] = []


def silent_url() -> str:
    """A local URL whose server accepts connections (the kernel does, into the backlog) and
    never answers: Slack and Intacct as seen while they hang."""
    if os.environ.get("BENCH_SLACK") == "closed":
        return f"http://127.0.0.1:{free_port()}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    _SILENT.append(listener)  # kept open (and never accepted from) while the bench runs
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def countersign_env(database_url: str, folder: Path) -> dict[str, str]:
    closed = silent_url()
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "COUNTERSIGN_POLICIES": str(POLICIES),
        "COUNTERSIGN_PID_FILE": str(folder / "countersign.pid"),
        "SLACK_BOT_TOKEN": "xoxb-bench-not-real",
        "SLACK_SIGNING_SECRET": "bench-signing-secret-not-real",
        "SLACK_API_URL": f"{closed}/api/",
        # No pacing at Slack's pace: otherwise every waiting card of a channel is claimed,
        # rendered and paced again each second (see the module docstring).
        "SLACK_RATE_SCALE": "1000",
        "BILLING_WEBHOOK_SECRET": SECRET,
        "INTACCT_API_URL": f"{closed}/ia/api/v1",
        "INTACCT_CLIENT_ID": "bench-client-not-real",
        "INTACCT_CLIENT_SECRET": "bench-secret-not-real",
        "INTACCT_USERNAME": "bench-user",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
    }


# --- the raw floor: verify the HMAC, insert the body, one transaction -------------------------


def raw_floor_main(database_url: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    db = Database(database_url)
    mark = "?" if db.dialect == "sqlite" else "%s"
    statement = f"INSERT INTO {RAW_TABLE} (body) VALUES ({mark})"

    def store(body: bytes) -> int:
        """One row per event: a batch's events are split (one json.loads) and each is
        inserted as its JSON text, in one transaction and one executemany at the driver."""
        document = json.loads(body)
        if isinstance(document, dict) and isinstance(document.get("events"), list):
            rows = [(json.dumps(item),) for item in document["events"]]
        else:
            rows = [(body.decode("utf-8", "surrogateescape"),)]
        with db.engine.begin() as connection:
            connection.exec_driver_sql(statement, rows)
        return len(rows)

    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            webhook.verify(
                SECRET,
                request.headers.get("x-countersign-timestamp"),
                request.headers.get("x-countersign-signature"),
                body,
                datetime.now(UTC),
            )
        except webhook.SignatureError as refusal:
            return JSONResponse({"error": str(refusal)}, status_code=401)
        stored = await run_in_threadpool(store, body)
        return JSONResponse({"status": "stored", "events": stored}, status_code=202)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/billing-events", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def create_raw_table(database_url: str) -> None:
    db = Database(database_url)
    key = "INTEGER PRIMARY KEY" if db.dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    with db.engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {RAW_TABLE} (id {key}, body TEXT NOT NULL)"))
    db.dispose()


# --- load -------------------------------------------------------------------------------------


class Load:
    """Signed POSTs over `clients` keep-alive connections, in one asyncio loop in this process.

    The client is plain HTTP/1.1 on asyncio streams (a few tens of µs of CPU per request, where
    an httpx client per thread spent several hundred and became the ceiling); both servers are
    driven by the same client, so the ratio stays honest. Bodies are made from a template."""

    def __init__(self, url: str, tag: str) -> None:
        self.url, self.tag = url, tag
        address = url.removeprefix("http://")
        self.host, _, port = address.partition(":")
        self.port = int(port)

    def run(
        self, clients: int, per_request: int, *, seconds: float, max_requests: int = 0
    ) -> tuple[float, float, float]:
        return asyncio.run(self._run(clients, per_request, seconds, max_requests))

    def _body(self, n: int, per_request: int) -> bytes:
        if per_request == 1:
            return TEMPLATE.replace(MARK, f"{self.tag}-{n}-0").encode()
        items = ",".join(TEMPLATE.replace(MARK, f"{self.tag}-{n}-{i}") for i in range(per_request))
        return ('{"events":[' + items + "]}").encode()

    async def _run(
        self, clients: int, per_request: int, seconds: float, max_requests: int
    ) -> tuple[float, float, float]:
        latencies: list[float] = []
        failures: list[str] = []
        deadline = time.monotonic() + seconds
        counter = iter(range(10**9))
        head = f"POST /billing-events HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"

        async def worker() -> None:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                while time.monotonic() < deadline:
                    n = next(counter)
                    if max_requests and n >= max_requests:
                        return
                    payload = self._body(n, per_request)
                    signed = webhook.signed_headers(SECRET, int(time.time()), payload)
                    lines = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
                    request = f"{head}{lines}Content-Length: {len(payload)}\r\n\r\n"
                    started = time.perf_counter()
                    writer.write(request.encode() + payload)
                    status, body, close = await _response(reader)
                    latencies.append(time.perf_counter() - started)
                    if status not in (200, 202):
                        failures.append(f"{status} {body[:200]!r}")
                    if close:
                        writer.close()
                        reader, writer = await asyncio.open_connection(self.host, self.port)
            finally:
                writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return len(latencies) * per_request / wall, p99, statistics.median(latencies)


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server closes the connection (Content-Length bodies)."""
    status = int((await reader.readline()).split()[1])
    length, close = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    return status, await reader.readexactly(length), close


SCENARIOS: list[tuple[str, int, int, int]] = [  # name, clients, events per request, max requests
    ("single c=20", 20, 1, 0),
    ("batch 100 c=4", 4, 100, 0),
    ("batch 1000 c=1", 1, 1000, 5),
]


def measure(cs_url: str, raw_url: str) -> dict[str, dict[str, list[tuple[float, float, float]]]]:
    figures: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for round_ in range(ROUNDS):
        for name, clients, per, most in SCENARIOS:
            for side, url in (("countersign", cs_url), ("raw", raw_url)):
                tag = f"{side}-{round_}-{per}-{uuid.uuid4().hex[:6]}"
                result = Load(url, tag).run(clients, per, seconds=SECONDS, max_requests=most)
                figures.setdefault(name, {}).setdefault(side, []).append(result)
    return figures


def report(database: str, figures: dict[str, dict[str, list[tuple[float, float, float]]]]) -> None:
    def med(values: list[tuple[float, float, float]], i: int) -> float:
        return statistics.median(v[i] for v in values)

    for name, sides in figures.items():
        cs, raw = sides["countersign"], sides["raw"]
        rate, raw_rate = med(cs, 0), med(raw, 0)
        line = (
            f"{database:10} {name:15} {rate:9,.0f} events/s  raw {raw_rate:9,.0f}/s"
            f"  gap {raw_rate / rate:5.2f}x"
        )
        if name.startswith("single"):
            p99, raw_p99 = med(cs, 1), med(raw, 1)
            line += (
                f"  p99 {p99 * 1000:6.1f} ms (raw {raw_p99 * 1000:5.1f} ms, {p99 / raw_p99:4.2f}x)"
            )
        if name.startswith("batch 1000"):
            one, raw_one = med(cs, 2), med(raw, 2)
            line += f"  per 1,000-batch {one:5.3f} s (raw {raw_one:5.3f} s)"
        print(line, flush=True)


def appends_per_second(database_url: str) -> float:
    """Audit entries appended per second, 1,000 per transaction with append_many."""
    db = Database(database_url)
    now = datetime.now(UTC)
    entries = [
        audit.Entry(now, "bench", "bench.append", n, {"n": n, "amount": "48250.00"})
        for n in range(1000)
    ]
    started, rounds = time.perf_counter(), 10
    for _ in range(rounds):
        with db.transaction() as session:
            audit.append_many(session, entries)
    rate = rounds * len(entries) / (time.perf_counter() - started)
    db.dispose()
    return rate


def bench_database(label: str, database_url: str, folder: Path) -> None:
    env = countersign_env(database_url, folder)
    subprocess.run([COUNTERSIGN, "db", "upgrade"], env=env, check=True, capture_output=True)
    create_raw_table(database_url)
    raw_env = {**env, "PORT": str(free_port())}
    raw_command = [sys.executable, __file__, "--raw-floor", database_url, raw_env["PORT"]]
    started = time.perf_counter()
    with server([COUNTERSIGN, "serve"], env) as cs_url, server(raw_command, raw_env) as raw_url:
        figures = measure(cs_url, raw_url)
    report(label, figures)
    print(f"{label:10} audit append_many: {appends_per_second(database_url):,.0f} appends/s")
    print(f"{label:10} measured in {time.perf_counter() - started:.0f} s; loadavg {load()}")


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    slack = "a closed port" if os.environ.get("BENCH_SLACK") == "closed" else "never answering"
    print(f"loadavg at start {load()}; {ROUNDS} rounds of {SECONDS:.0f} s each, medians")
    print(f"Slack and Intacct: {slack} (cards wait in the outbox)")
    with tempfile.TemporaryDirectory() as folder:
        bench_database("sqlite", f"sqlite:///{folder}/countersign.db", Path(folder))
    pg = os.environ.get("BENCH_DATABASE_URL")
    if pg:
        with tempfile.TemporaryDirectory() as folder, scratch_postgres(pg, "cs_bench") as url:
            bench_database("postgresql", url, Path(folder))
    else:
        print("postgresql: set BENCH_DATABASE_URL to measure it too")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--raw-floor":
        raw_floor_main(sys.argv[2], int(sys.argv[3]))
    else:
        main()
