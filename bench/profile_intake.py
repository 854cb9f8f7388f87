"""CPU per event on the intake path, in-process: what to compare before and after a change.

Runs what `POST /billing-events` runs after the HMAC check, on bodies like bench_intake.py's:
`incoming_events` (split and strict parse), `Intake.receive_items` (validate, route, plan,
write, commit) and each outcome's JSON answer, against a fresh SQLite file (and
BENCH_DATABASE_URL's PostgreSQL server when set). Prints CPU microseconds per event (the
process's CPU time, which a busy machine inflates far less than wall-clock; the minimum of
ROUNDS rounds is the figure to compare) for batches of 1,000 and for single events handed over
in groups of 20, as the group-commit writer does at c=20.

  python bench/profile_intake.py            # the figures
  python bench/profile_intake.py --profile  # and the top functions of the batch path"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.flows.intake import Intake
from app.routing import load_policy_set
from app.store import migrate
from app.store.db import Database
from app.web import incoming_events
from bench.bench_intake import POLICIES, event
from tests.databases import scratch_postgres

EVENTS = 1000
GROUP = 20
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def run(url: str, profile: bool) -> None:
    db = Database(url)
    policies = load_policy_set(POLICIES)
    intake = Intake(db, lambda: policies, wake=lambda: None)
    now = datetime.now(UTC)

    def batch_bodies(tag: str) -> list[str]:
        return [json.dumps({"events": [event(f"{tag}-{i}") for i in range(EVENTS)]})]

    def single_bodies(tag: str) -> list[str]:
        return [json.dumps(event(f"{tag}-{i}")) for i in range(EVENTS)]

    def take(bodies: list[str], group: int) -> None:
        items = [item for body in bodies for item in incoming_events(body, now)[1]]
        for start in range(0, len(items), group):
            outcomes = intake.receive_items(items[start : start + group], via="webhook")
            json.dumps([o.as_json() for o in outcomes])
            assert all(o.status == "created" for o in outcomes), outcomes[0]

    scenarios: list[tuple[str, Callable[[str], list[str]], int]] = [
        ("batch of 1,000", batch_bodies, EVENTS),
        (f"single, groups of {GROUP}", single_bodies, GROUP),
    ]
    take(batch_bodies("warm"), EVENTS)
    for name, bodies, group in scenarios:
        cpu = []
        for round_ in range(ROUNDS):
            prepared = bodies(f"{name[:6]}-{round_}")
            started = time.process_time()
            take(prepared, group)
            cpu.append((time.process_time() - started) / EVENTS * 1e6)
        cpu.sort()
        print(
            f"{db.dialect:10} {name:20} CPU {cpu[0]:5.0f} µs/event"
            f" (min of {ROUNDS}; median {cpu[len(cpu) // 2]:.0f})",
            flush=True,
        )
    if profile:
        profiler = cProfile.Profile()
        for round_ in range(3):
            prepared = batch_bodies(f"prof-{round_}")
            profiler.enable()
            take(prepared, EVENTS)
            profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    db.dispose()


def main() -> None:
    profile = "--profile" in sys.argv
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/profile.db"
        migrate.upgrade(url)
        run(url, profile)
    pg = os.environ.get("BENCH_DATABASE_URL")
    if pg:
        with scratch_postgres(pg, "cs_profile") as url:
            migrate.upgrade(url)
            run(url, profile)


if __name__ == "__main__":
    main()
