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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from sqlmodel import SQLModel, col, select

from app import webhook
from app.config import load_settings
from app.runtime import Runtime
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import emulator_settings
from app.sandbox.slack_delivery import SlackDelivery
from app.sandbox.slack_emulator import SlackEmulator
from app.store.db import Database
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
    }
    env.pop("SLACK_APP_TOKEN", None)
    return env | extra


@contextmanager
def serve_process(env: dict[str, str]) -> Iterator[str]:
    """`countersign db upgrade`, then `countersign serve` in its own process; yields its URL."""
    subprocess.run([COUNTERSIGN, "db", "upgrade"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [COUNTERSIGN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_for(lambda: answers_200(f"{url}/readyz"), timeout=30, what="countersign serve")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


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
