"""Card delivery through `countersign serve` against the Slack emulator, beside a plain
WebClient loop posting the same rendered blocks to the same emulator.

The cards are queued first (`countersign events import`), then `serve` starts and delivers
them; cards/s is measured from the emulator's message timestamps (first card to last). Slack
paces chat.postMessage to about one a second per channel (after a small burst), so the
baseline is the plain loop capped at that pace for the same cards and channels. Scenarios:
unloaded over 20 channels and in one channel; during intake (signed single events sent to the
server meanwhile, from a process of their own, their cards going to another channel: a steady
50 events/s, and flat out, as fast as the server answers 4 senders); under
429s (the emulator answers every 3rd post in a channel 429 with Retry-After 1 s and refuses
every call until it passes: calls made meanwhile are counted, goal 0, and the largest gap
between posts with cards still queued is reported)."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from slack_sdk import WebClient

from app import webhook
from app.flows.ports import ExceptionCard
from app.sandbox.intacct_emulator import IntacctEmulator
from app.sandbox.local import WEBHOOK_SECRET, emulator_settings
from app.sandbox.slack_emulator import SlackEmulator
from app.slack.pacing import CHANNEL_BURST, CHANNEL_PER_SECOND
from app.slack.render import BlockRenderer

COUNTERSIGN = str(Path(sys.executable).with_name("countersign"))
CHANNELS, PER_CHANNEL = 20, 10
LOAD_CHANNEL, ADMIN = "C0LOAD", "C0ADMIN"
LOAD_THREADS = 4
STEADY_LOAD = 50.0  # events/s: a billing run trickling in while cards go out
THROTTLE = (3, 1)  # under 429s: every 3rd post in a channel answered 429, Retry-After 1 s


def lane(n: int) -> str:
    return f"C0LANE{n:02d}"


def policy(channels: int) -> str:
    routes = "".join(
        f"  - name: lane-{n:02d}\n    when: {{customer.id: {{eq: C-{n:02d}}}}}\n"
        f"    channel: {lane(n)}\n    steps: [{{approvers: [group:fin]}}]\n"
        for n in range(channels)
    )
    return (
        "version: 1\ntimezone: UTC\nadmin_channel: C0ADMIN\ngroups:\n  fin: [U0FINMGR1]\n"
        f"defaults: {{channel: {LOAD_CHANNEL}, calendar: none}}\nroutes:\n{routes}"
        "  - name: catch-all\n    steps: [{approvers: [group:fin]}]\n"
    )


def event(key: str, customer: str) -> dict[str, Any]:
    return {
        "event_id": f"evt-{key}",
        "source": "bench",
        "type": "non_standard_discount",
        "occurred_at": "2026-11-23T10:00:00Z",
        "requested_by": {"slack_user_id": "U0REQUEST1"},
        "customer": {"id": customer, "name": f"Customer {customer}"},
        "invoice": {"key": f"INV-{key}", "number": f"N-{key}", "currency": "USD", "amount": "7.00"},
        "details": {"discount_pct": "25"},
    }


def paced_rate(cards: int, channels: int) -> float:
    """Cards/s of an ideal client at Slack's per-channel pace: a burst, then 1/s each."""
    per_channel = cards / channels
    seconds = max(per_channel - CHANNEL_BURST, 0) / CHANNEL_PER_SECOND
    return (cards - 1) / seconds if seconds else float("inf")


def throttled_rate(cards: int, channels: int, every: int, retry_after: float) -> float:
    """Cards/s of an ideal client against THROTTLE's 429s: Slack's pace (a burst, then 1/s
    each channel); after a 429 it waits exactly Retry-After, then one call and the steady pace
    (no new burst), as app/slack/pacing.py promises. Every channel alike, all from t=0."""
    interval = 1.0 / CHANNEL_PER_SECOND
    at, calls, burst, done = 0.0, 0, CHANNEL_BURST, []
    while len(done) < cards // channels:
        calls += 1
        if calls % every == 0:  # answered 429: nothing until Retry-After has passed
            at, burst = at + retry_after, 1
            continue
        done.append(at)
        burst -= 1
        at += 0.0 if burst > 0 else interval
    span = done[-1] - done[0]
    return (cards - 1) / span if span else float("inf")


def rate_of(times: list[float]) -> float:
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0] else float("inf")


def emulator(channels: int) -> SlackEmulator:
    names = {lane(n): f"lane-{n:02d}" for n in range(channels)}
    return SlackEmulator(channels=names | {LOAD_CHANNEL: "load", ADMIN: "admin"})


def plain_loop(channels: int) -> float:
    """The same rendered card blocks posted by one WebClient loop, as fast as it goes."""
    card = ExceptionCard(
        exception_id=1,
        label="BX-000001",
        type_label="Non-standard discount",
        customer="Customer C-00",
        invoice="N-1",
        amount="$7.00",
        figures=(("discount_pct", "25"),),
        reason=None,
        requester="U0REQUEST1",
        route="lane-00",
        state="Waiting for approval",
        step_text="Step 1 of 1: 1 of 1 approver must approve",
        approvers=("U0FINMGR1",),
    )
    text, blocks = BlockRenderer().card(card)
    with emulator(channels) as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        times = []
        for n in range(channels * PER_CHANNEL):
            client.chat_postMessage(channel=lane(n % channels), text=text, blocks=blocks)
            times.append(time.perf_counter())
    return rate_of(times)


@contextmanager
def served(slack: SlackEmulator, channels: int, folder: Path) -> Iterator[dict[str, str]]:
    """Import PER_CHANNEL cards per lane, then run `countersign serve` (yields env)."""
    (folder / "policies").mkdir()
    (folder / "policies" / "routes.yml").write_text(policy(channels))
    with IntacctEmulator() as intacct:
        env = {
            **os.environ,
            **emulator_settings(slack, intacct),
            "DATABASE_URL": f"sqlite:///{folder / 'countersign.db'}",
            "COUNTERSIGN_PID_FILE": str(folder / "countersign.pid"),
            "COUNTERSIGN_POLICIES": str(folder / "policies"),
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
            "LOG_LEVEL": "warning",
        }
        events = [event(f"{n}", f"C-{n % channels:02d}") for n in range(channels * PER_CHANNEL)]
        (folder / "events.json").write_text(json.dumps(events))
        run = [COUNTERSIGN, "db", "upgrade"]
        subprocess.run(run, env=env, check=True, capture_output=True)
        run = [COUNTERSIGN, "events", "import", str(folder / "events.json")]
        subprocess.run(run, env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [COUNTERSIGN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            yield env
        finally:
            server.terminate()
            server.wait(timeout=20)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lane_cards(slack: SlackEmulator, channels: int) -> list[float]:
    return [
        float(m.ts)
        for n in range(channels)
        for m in slack.messages(lane(n))
        if m.blocks and not m.thread_ts
    ]


def wait_all(slack: SlackEmulator, channels: int, timeout: float = 120.0) -> list[float]:
    deadline = time.monotonic() + timeout
    while len(times := lane_cards(slack, channels)) < channels * PER_CHANNEL:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(times)} of {channels * PER_CHANNEL} cards delivered")
        time.sleep(0.05)
    return times


def intake_load(url: str, stop: Any, sent: Any, per_second: float) -> None:
    """Signed single events from LOAD_THREADS senders until `stop` is set, `per_second` in all
    (0: as fast as the server answers); run in a process of its own (a load generator sharing
    the emulators' process would take their interpreter lock and slow Slack, not Countersign)."""
    gap = LOAD_THREADS / per_second if per_second else 0.0

    def send() -> None:
        with httpx.Client(timeout=30) as http:
            n, next_at = 0, time.monotonic()
            while not stop.is_set():
                if gap:
                    next_at += gap
                    time.sleep(max(0.0, next_at - time.monotonic()))
                key = f"load-{os.getpid()}-{threading.get_ident()}-{n}"
                body = json.dumps(event(key, "C-LOAD")).encode()
                headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
                http.post(f"{url}/billing-events", content=body, headers=headers)
                n += 1
            with sent.get_lock():
                sent.value += n

    threads = [threading.Thread(target=send) for _ in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def scenario(
    channels: int, *, load: float | None = None, throttle: bool = False
) -> dict[str, float]:
    """Deliver the cards; `load`: intake meanwhile at that many events/s (0: flat out)."""
    with tempfile.TemporaryDirectory() as tmp, emulator(channels) as slack:
        if throttle:
            slack.throttle("chat.postMessage", every=THROTTLE[0], retry_after=THROTTLE[1])
        with served(slack, channels, Path(tmp)) as env:
            url = f"http://127.0.0.1:{env['PORT']}"
            spawn = multiprocessing.get_context("spawn")
            stop, sent = spawn.Event(), spawn.Value("q", 0)
            loader = None
            if load is not None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # the load starts once serve answers
                    try:
                        if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.05)
                loader = spawn.Process(target=intake_load, args=(url, stop, sent, load))
                loader.start()
            started = time.time()
            times = wait_all(slack, channels)
            elapsed = time.time() - started
            stop.set()
            if loader is not None:
                loader.join()
        posts = sorted(
            c.at.timestamp()
            for c in slack.calls("chat.postMessage")
            if c.at.timestamp() <= max(times)
        )
        gaps = [b - a for a, b in itertools.pairwise(posts)]
        return {
            "rate": rate_of(times),
            "under_retry_after": len(slack.calls_under_retry_after()),
            "largest_gap": max(gaps, default=0.0),
            "intake_per_s": sent.value / elapsed if load is not None else 0.0,
        }


def main() -> None:
    cards = CHANNELS * PER_CHANNEL
    plain = plain_loop(CHANNELS)
    ceiling = paced_rate(cards, CHANNELS)
    baseline = min(plain, ceiling)
    unloaded = scenario(CHANNELS)
    single = scenario(1)
    steady = scenario(CHANNELS, load=STEADY_LOAD)
    loaded = scenario(CHANNELS, load=0)
    limited = scenario(CHANNELS, throttle=True)
    single_base = min(plain_loop(1), paced_rate(PER_CHANNEL, 1))
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    print(
        f"cards: {cards} over {CHANNELS} channels ({PER_CHANNEL} each); Slack's pace:"
        f" burst {CHANNEL_BURST}, then {CHANNEL_PER_SECOND:g}/s per channel"
    )
    print(f"plain WebClient loop: {plain:.0f} cards/s; capped at Slack's pace: {baseline:.1f}")
    print(
        f"unloaded, {CHANNELS} channels: {unloaded['rate']:.1f} cards/s vs {baseline:.1f}"
        f" = {unloaded['rate'] / baseline:.2f}x (goal >= 0.8x)"
    )
    print(
        f"unloaded, 1 channel: {single['rate']:.2f} cards/s vs {single_base:.2f}"
        f" = {single['rate'] / single_base:.2f}x"
    )
    for name, run in (("steady", steady), ("flat out", loaded)):
        print(
            f"during intake, {name} ({run['intake_per_s']:.0f} events/s sent):"
            f" {run['rate']:.1f} cards/s vs unloaded {unloaded['rate']:.1f}"
            f" = {run['rate'] / unloaded['rate']:.2f}x (goal >= 0.5x)"
        )
    ideal = throttled_rate(cards, CHANNELS, *THROTTLE)
    print(
        f"under 429s (Retry-After 1 s every 3rd post per channel): {limited['rate']:.1f} cards/s"
        f" vs {ideal:.1f} for an ideal client that keeps the pace = {limited['rate'] / ideal:.2f}x;"
        f" calls while Retry-After in force: {limited['under_retry_after']:.0f} (baseline 0,"
        f" goal 0); largest gap between posts with cards queued: {limited['largest_gap']:.2f} s"
    )


if __name__ == "__main__":
    main()
