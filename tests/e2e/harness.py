"""A whole Countersign on loopback: the Slack and Intacct emulators as separate HTTP servers,
the app served by uvicorn over real HTTP, and signed clients to drive it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from sqlalchemy import text
from sqlmodel import SQLModel, col, select

from app import webhook
from app.config import load_settings
from app.runtime import Runtime
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import emulator_settings
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.store.db import Database
from app.store.tables import ExceptionRow
from app.web import create_web_app

SIGNING_SECRET = "test-signing-secret-not-real"
WEBHOOK_SECRET = "test-webhook-secret-not-real"
COUNTERSIGN = str(Path(sys.executable).parent / "countersign")  # the installed console script
T = TypeVar("T")


class ServerThread:
    """uvicorn in a background thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_ports(count: int) -> list[int]:
    """`count` loopback ports that were free a moment ago (for servers in other processes)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def answers_200(url: str) -> bool:
    """True when `url` answers 200; False while nothing listens there yet."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def process_env(
    folder: Path, slack: SlackEmulator, intacct: IntacctEmulator, **extra: str
) -> dict[str, str]:
    """The environment of a Countersign process wired to the emulators, its files in `folder`."""
    env = {
        **os.environ,
        **emulator_settings(slack, intacct),
        "DATABASE_URL": f"sqlite:///{folder / 'countersign.db'}",
        "COUNTERSIGN_PID_FILE": str(folder / "countersign.pid"),
        "HOST": "127.0.0.1",
        "PORT": str(free_ports(1)[0]),
        # Slack's pace would make a 300-card test take 5 minutes; the pacing tests set 1
        "SLACK_RATE_SCALE": "100",
    }
    env.pop("SLACK_APP_TOKEN", None)
    return env | extra


@contextmanager
def serve_process(env: dict[str, str], log: Path | None = None) -> Iterator[str]:
    """`countersign db upgrade`, then `countersign serve` in its own process (its output to
    `log` if given); yields its URL; at the end, asserts the database came to rest."""
    with _served(env, log) as (url, _):
        yield url


@contextmanager
def serve_logged(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like serve_process, keeping the server's output in `log`; yields its URL and process."""
    with _served(env, log) as served:
        yield served


@contextmanager
def _served(env: dict[str, str], log: Path | None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    subprocess.run([COUNTERSIGN, "db", "upgrade"], env=env, check=True, capture_output=True)
    with ExitStack() as files:
        output = files.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        server = subprocess.Popen(
            [COUNTERSIGN, "serve"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{env['PORT']}"
        try:
            wait_for(lambda: answers_200(f"{url}/readyz"), timeout=30, what="countersign serve")
            yield url, server
            assert_at_rest(env["DATABASE_URL"])
        finally:
            server.terminate()
            server.wait(timeout=10)


def unrested(database_url: str, grace_seconds: float = 2.0) -> list[str]:
    """What keeps the database from being at rest: outbox jobs still pending or retrying, and
    timers overdue by more than `grace_seconds`. Empty when at rest."""
    from app.store.db import make_engine

    engine = make_engine(database_url)
    overdue_before = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    try:
        with engine.connect() as connection:
            jobs = connection.execute(
                text(
                    "SELECT id, kind, attempts, last_error FROM outbox "
                    "WHERE state = 'pending' ORDER BY id"
                )
            ).all()
            timers = [
                row
                for row in connection.execute(
                    text("SELECT id, exception_id, kind, due_at FROM timer WHERE state = 'pending'")
                ).all()
                if _aware(row.due_at) < overdue_before
            ]
    finally:
        engine.dispose()
    return [f"outbox job {j.id} {j.kind} tries={j.attempts} error={j.last_error}" for j in jobs] + [
        f"timer {t.id} {t.kind} of exception {t.exception_id} due {t.due_at}" for t in timers
    ]


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def assert_at_rest(database_url: str, timeout: float = 15.0) -> None:
    """Wait up to `timeout` for the outbox to drain and due timers to fire; then fail naming
    every job still pending or retrying and every timer overdue."""
    deadline = time.monotonic() + timeout
    while left := unrested(database_url):
        if time.monotonic() > deadline:
            raise AssertionError("not at rest:\n  " + "\n  ".join(left))
        time.sleep(0.1)


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll until `probe` returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Stack:
    slack: SlackEmulator
    intacct: IntacctEmulator
    runtime: Runtime
    url: str
    delivery: SlackDelivery
    http: httpx.Client

    def send_event(
        self, document: Any, *, secret: str = WEBHOOK_SECRET, skew: int = 0
    ) -> httpx.Response:
        """POST a billing event (or batch) signed as the billing system signs it."""
        body = json.dumps(document).encode()
        stamp = int(time.time()) + skew
        return self.http.post(
            f"{self.url}/billing-events",
            content=body,
            headers=webhook.signed_headers(secret, stamp, body),
        )

    def card(self, channel: str = "C0BILLING", index: int = -1) -> Any:
        """The latest card posted in `channel`, waiting for it to arrive."""
        messages = wait_for(lambda: self.slack.messages(channel), what=f"a card in {channel}")
        return messages[index]

    def snapshot_taken(self, exception_id: int = 1) -> None:
        """Wait for the opening snapshot (the invoice as Intacct had it then): it runs beside
        the card's post, so a test that changes the invoice after the card waits for it."""

        def taken() -> bool:
            with self.runtime.db.transaction() as session:
                row = session.get(ExceptionRow, exception_id)
                return row is not None and row.invoice_snapshot is not None

        wait_for(taken, timeout=15, what=f"the Intacct snapshot of exception {exception_id}")


def start_stack(database_url: str, policies: str) -> Stack:
    slack = SlackEmulator().start()
    intacct = IntacctEmulator().start()
    settings = load_settings(
        **emulator_settings(
            slack, intacct, signing_secret=SIGNING_SECRET, webhook_secret=WEBHOOK_SECRET
        ),
        DATABASE_URL=database_url,
        COUNTERSIGN_POLICIES=policies,
        OUTBOX_POLL_SECONDS=0.2,
        TIMER_SWEEP_SECONDS=0.2,
        LOG_FORMAT="console",
    )
    runtime = Runtime(settings)
    server = ServerThread(create_web_app(runtime))
    url = server.start()
    delivery = SlackDelivery(
        app_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, emulator_url=slack.url
    )
    stack = Stack(slack, intacct, runtime, url, delivery, httpx.Client(timeout=10))
    stack._server = server  # type: ignore[attr-defined]
    return stack


def stop_stack(stack: Stack) -> None:
    stack.http.close()
    stack.delivery.close()
    stack._server.stop()  # type: ignore[attr-defined]
    stack.slack.stop()
    stack.intacct.stop()


Row = TypeVar("Row", bound=SQLModel)


def rows(database_url: str, table: type[Row]) -> list[Row]:
    """Every row of `table` in the database at `database_url`, in the order written."""
    database = Database(database_url)
    try:
        with database.transaction() as session:
            key = getattr(table, "id" if "id" in table.model_fields else "seq")
            return list(session.exec(select(table).order_by(col(key))).all())
    finally:
        database.dispose()


class TcpProxy:
    """A loopback TCP forwarder to `target`: `close()` drops the listener and every open
    connection (the database behind it "goes away"), `open()` listens on the same port again;
    `hold_answers(n, s)` delays what the next n connections send back by s seconds (a slow
    network between the caller and the server)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_ports(1)[0]
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._holds: list[float] = []

    def hold_answers(self, connections: int, seconds: float) -> None:
        with self._lock:
            self._holds += [seconds] * connections

    def open(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
                hold = self._holds.pop(0) if self._holds else 0.0
            for source, sink, delay in ((client, upstream, 0.0), (upstream, client, hold)):
                pump = threading.Thread(target=self._pump, args=(source, sink, delay), daemon=True)
                pump.start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay: float = 0.0) -> None:
        try:
            while data := source.recv(65536):
                if delay:
                    time.sleep(delay)
                    delay = 0.0
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._listener is not None:
            with suppress(OSError):  # wakes the thread blocked in accept(); close() would not
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
