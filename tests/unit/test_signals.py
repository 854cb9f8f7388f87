"""SIGHUP starts a reload on a thread of its own and returns at once: a slow reload never holds
the main thread (uvicorn's event loop), and a failing one never stops the process."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from app.cli.signals import reload_on_sighup


@pytest.fixture(autouse=True)
def _restore_sighup() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, previous)


def test_a_slow_reload_runs_off_the_main_thread() -> None:
    """The handler returns while the reload still runs, on a thread named policy-reload."""
    started, release, ran_on = threading.Event(), threading.Event(), []

    def slow_reload() -> None:
        ran_on.append(threading.current_thread().name)
        started.set()
        release.wait(timeout=5)

    reload_on_sighup(slow_reload)
    os.kill(os.getpid(), signal.SIGHUP)  # the handler runs on this thread, before kill returns
    assert started.wait(timeout=5)
    assert not release.is_set()  # we got here while the reload is still blocked
    release.set()
    assert ran_on == ["policy-reload"]


def test_a_failing_reload_is_logged_and_the_process_goes_on() -> None:
    """An exception in the reload is caught on its thread; the next SIGHUP reloads again."""
    calls: list[int] = []
    done = threading.Semaphore(0)

    def broken_reload() -> None:
        calls.append(1)
        done.release()
        raise RuntimeError("disk on fire")

    reload_on_sighup(broken_reload)
    for _ in range(2):
        os.kill(os.getpid(), signal.SIGHUP)
        assert done.acquire(timeout=5)
    assert len(calls) == 2
