"""SIGHUP starts a reload on a thread of its own and returns at once: a slow reload never holds
the main thread (uvicorn's event loop), and a failing one never stops the process."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

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
    """An exception in the reload is logged on its thread; the next SIGHUP reloads again."""
    calls: list[int] = []

    def broken_reload() -> None:
        calls.append(1)
        raise RuntimeError("disk on fire")

    reload_on_sighup(broken_reload)
    with capture_logs() as logs:
        for _ in range(2):
            os.kill(os.getpid(), signal.SIGHUP)
            for thread in threading.enumerate():
                if thread.name == "policy-reload":
                    thread.join(timeout=5)
    assert len(calls) == 2
    assert [entry["event"] for entry in logs] == ["policies.reload_failed"] * 2
