"""Countersign's listener workers and the Events API retry memory."""

from __future__ import annotations

import threading

import pytest

from app.slack.executor import Busy, Work
from app.slack.listeners.events import SeenEvents


def test_work_refuses_at_once_when_workers_and_queue_are_taken() -> None:
    """With 1 worker and 1 queue slot taken, a third task is Busy at once; later it is taken."""
    gate = threading.Event()
    work = Work(workers=1, queue=1)
    first, second = (work.submit(gate.wait, "hold") for _ in range(2))
    with pytest.raises(Busy):
        work.submit(lambda: True, "third")
    gate.set()
    first.result(timeout=5)
    second.result(timeout=5)
    assert work.submit(lambda: "ran", "fourth").result(timeout=5) == "ran"
    work.shutdown()


def test_notices_run_while_the_work_lane_is_full() -> None:
    """A busy notice still goes out when every worker is taken."""
    gate, told = threading.Event(), threading.Event()
    work = Work(workers=1, queue=0)
    work.submit(gate.wait, "hold")
    work.notice(told.set, "busy notice")
    assert told.wait(timeout=5)
    gate.set()
    work.shutdown()


def test_an_event_id_is_taken_once_within_the_window() -> None:
    """The same event_id is refused until the window passes, or when it was forgotten."""
    now = [0.0]
    seen = SeenEvents(window=60, clock=lambda: now[0])
    assert seen.take("Ev1")
    assert not seen.take("Ev1")
    seen.forget("Ev1")
    assert seen.take("Ev1")
    now[0] = 61
    assert seen.take("Ev1")


def test_the_memory_is_bounded() -> None:
    """Beyond `most` ids the oldest is forgotten first."""
    seen = SeenEvents(most=2, clock=lambda: 0.0)
    assert all(seen.take(e) for e in ("Ev1", "Ev2", "Ev3"))
    assert seen.take("Ev1")
    assert not seen.take("Ev3")
