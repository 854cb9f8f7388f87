"""Click ack: Countersign (`countersign serve`) against a bare Bolt app on the same stack.

Both servers run in their own processes, as does the Slack emulator (so that answering
Countersign's replies does not slow this process's senders); the Intacct emulator runs here:
the bare app (bench/bare_bolt_app.py) only acks; Countersign acks and does the real work
after it (each click is an outsider's Approve on an open card: a refusal audited and answered
through response_url). The same signed payloads go to both, c=1/10/50 concurrent senders,
interleaved, three rounds; medians of the rounds' throughput and p99 ack, and the ratio.
Then the p99 ack of 50 concurrent view_submissions (a refused rejection: the error is shown in
the modal) and 50 concurrent `/billing-exceptions list` commands (acked; answered by
response_url). Before each Countersign round the work of the last one has finished."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import webhook
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.slack_delivery import SlackDelivery, payload_body
from app.sandbox.slack_emulator.models import DEFAULT_BOT_TOKEN
from app.slack.ids import REJECT_REASON_ACTION, ActionId, BlockId
from tests.e2e.harness import (
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    answers_200,
    free_ports,
    process_env,
    serve_process,
    wait_for,
)

POLICIES = str(Path(__file__).resolve().parents[1] / "tests" / "e2e" / "policies")
BARE = str(Path(__file__).resolve().parent / "bare_bolt_app.py")
LEVELS = {1: 200, 10: 600, 50: 1000}  # concurrency: requests per run
ROUNDS = 3
BURST = 50


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _load(url: str, bodies: list[bytes], sign: Callable[[bytes], dict[str, str]], c: int):
    """POST every body with `c` senders on kept-alive connections: (requests/s, latencies)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures: list[int] = []
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def sender() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                try:
                    answer = await client.post(url, content=body, headers=sign(body))
                except httpx.TransportError:  # a dropped connection: counted, not fatal
                    failures.append(0)
                    continue
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    failures.append(answer.status_code)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(c)))
        elapsed = time.perf_counter() - started
    if failures:  # 0 stands for a connection dropped before the answer
        print(
            f"  note: {len(failures)} of {len(bodies)} requests got no 200: {sorted(set(failures))}"
        )
    return len(bodies) / elapsed, latencies


def load(url: str, bodies: list[bytes], delivery: SlackDelivery, c: int) -> tuple[float, float]:
    rate, latencies = asyncio.run(_load(url, bodies, delivery.signed_headers, c))
    return rate, p99(latencies)


class RemoteSlack:
    """The Slack emulator in its own process, read over its /_emulator/ HTTP surface."""

    bot_token = DEFAULT_BOT_TOKEN

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.api_url = self.url + "api/"
        self._http = httpx.Client(timeout=30)

    def get(self, path: str, **params: str) -> Any:
        answer = self._http.get(self.url + "_emulator/" + path, params=params)
        answer.raise_for_status()
        return answer.json()

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return list(self.get("messages", channel=channel))

    def opened_views(self) -> list[dict[str, Any]]:
        return list(self.get("views")["opened"])

    def response_url_posts(self) -> list[dict[str, Any]]:
        return list(self.get("state")["response_url_posts"])


@contextmanager
def slack_emulator() -> Iterator[RemoteSlack]:
    port = free_ports(1)[0]
    args = [sys.executable, "-m", "app.sandbox.slack_emulator", "--port", str(port)]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        remote = RemoteSlack(port)
        wait_for(lambda: answers_200(remote.url + "_emulator/directory"), what="the emulator")
        yield remote
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def bare_bolt(slack: RemoteSlack) -> Iterator[str]:
    port = free_ports(1)[0]
    args = [sys.executable, BARE, str(port), SIGNING_SECRET, slack.api_url, slack.bot_token]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        wait_for(lambda: _up(url), timeout=30, what="the bare Bolt app")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _up(url: str) -> bool:
    try:
        return httpx.post(url, content=b"", timeout=2).status_code in (401, 400, 404)
    except httpx.TransportError:
        return False


def open_card(served: str, slack: RemoteSlack, intacct: IntacctEmulator) -> Any:
    key = "INV-BENCH-1"
    intacct.add_invoice(
        key, number=key, customer_id="C-1", customer_name="Acme", currency="USD", amount="9.00"
    )
    event = {
        "event_id": "bench-click-1",
        "source": "crm",
        "type": "usage_anomaly",
        "occurred_at": "2026-11-23T10:00:00-05:00",
        "customer": {"id": "C-1", "name": "Acme"},
        "invoice": {"key": key, "number": key, "currency": "USD", "amount": "9.00"},
        "details": {},
    }
    body = json.dumps(event).encode()
    headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
    answer = httpx.post(f"{served}/billing-events", content=body, headers=headers, timeout=10)
    answer.raise_for_status()
    return wait_for(lambda: slack.messages("C0BILLING"), what="the card")[0]


def settle(slack: RemoteSlack, replies: int) -> None:
    """Wait until every click so far has had its reply (the work queue is empty)."""
    deadline = time.monotonic() + 120
    while len(slack.response_url_posts()) < replies:
        if time.monotonic() > deadline:
            raise RuntimeError("Countersign's replies did not all arrive")
        time.sleep(0.5)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        intacct = IntacctEmulator().start()
        try:
            with slack_emulator() as slack:
                env = process_env(
                    Path(folder),
                    slack,  # emulator_settings reads its bot_token and api_url
                    intacct,
                    SLACK_SIGNING_SECRET=SIGNING_SECRET,
                    BILLING_WEBHOOK_SECRET=WEBHOOK_SECRET,
                    COUNTERSIGN_POLICIES=POLICIES,
                )
                log = Path(folder) / "serve.log"
                with serve_process(env, log=log) as served, bare_bolt(slack) as bare:
                    run(served, bare, slack, intacct)
        finally:
            intacct.stop()


def run(served: str, bare: str, slack: RemoteSlack, intacct: IntacctEmulator) -> None:
    assert answers_200(f"{served}/readyz")
    app_url = f"{served}/slack/events"
    delivery = SlackDelivery(app_url=app_url, signing_secret=SIGNING_SECRET, emulator_url=slack.url)
    card = open_card(served, slack, intacct)

    def clicks(n: int) -> list[bytes]:
        click = (card["channel"], card["ts"], ActionId.APPROVE, "U0OUTSIDER")
        return [payload_body(delivery.click_payload(*click)) for _ in range(n)]

    replies = 0
    figures: dict[int, dict[str, list[tuple[float, float]]]] = {}
    for c, n in LEVELS.items():
        figures[c] = {"countersign": [], "bare": []}
        for _ in range(ROUNDS):
            bodies = clicks(n)
            settle(slack, replies)
            figures[c]["countersign"].append(load(app_url, bodies, delivery, c))
            replies += n
            figures[c]["bare"].append(load(bare, bodies, delivery, c))
    settle(slack, replies)
    busy = sum("busy" in str(p.get("text")) for p in slack.response_url_posts())

    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    print("click ack (block_actions), medians of 3 interleaved rounds")
    print(f"{'c':>3} {'countersign/s':>14} {'bare/s':>8} {'ratio':>6} "
          f"{'p99 cs ms':>10} {'p99 bare':>9} {'ratio':>6}")  # fmt: skip
    for c, runs in figures.items():
        cs_rate = statistics.median(r for r, _ in runs["countersign"])
        bare_rate = statistics.median(r for r, _ in runs["bare"])
        cs_p99 = statistics.median(p for _, p in runs["countersign"]) * 1000
        bare_p99 = statistics.median(p for _, p in runs["bare"]) * 1000
        print(f"{c:>3} {cs_rate:>14.0f} {bare_rate:>8.0f} {bare_rate / cs_rate:>5.2f}x "
              f"{cs_p99:>10.1f} {bare_p99:>9.1f} {cs_p99 / bare_p99:>5.2f}x")  # fmt: skip
    print(f"(ratio: bare / countersign for throughput, countersign / bare for p99; "
          f"{busy} of {replies} clicks were answered 'busy')")  # fmt: skip

    # view_submission: an outsider's rejection, refused inside the modal
    delivery.click(card["channel"], card["ts"], ActionId.REJECT, "U0OUTSIDER")
    view = wait_for(lambda: slack.opened_views(), what="the reject modal")[-1]
    values = {BlockId.REJECT_REASON: {REJECT_REASON_ACTION: "bench reason"}}
    submissions = [
        payload_body(delivery.view_submission_payload(view["id"], "U0OUTSIDER", values))
        for _ in range(4 * BURST)
    ]
    _, view_p99 = load(app_url, submissions, delivery, BURST)
    commands = [delivery.slash_command_body("list", "U0FINMGR1") for _ in range(4 * BURST)]
    _, command_p99 = load(app_url, commands, delivery, BURST)
    settle(slack, replies + len(commands))
    print(f"p99 ack under {BURST} concurrent: view_submission {view_p99 * 1000:.0f} ms "
          f"(refused, error in the modal), slash command {command_p99 * 1000:.0f} ms")  # fmt: skip
    delivery.close()


if __name__ == "__main__":
    main()
