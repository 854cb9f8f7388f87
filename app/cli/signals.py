"""SIGHUP reloads the policies of a running server (`serve` and `sandbox up` alike).

The handler only starts a thread: a signal handler runs on the main thread, which is uvicorn's
event loop, so a slow reload done there would hold up every request. uvicorn installs its own
handlers for SIGINT and SIGTERM only, so this one survives its start."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import structlog

log = structlog.get_logger("countersign.policies")


def reload_on_sighup(reload: Callable[[], object]) -> None:
    """From now on, SIGHUP runs `reload()` on a thread of its own; the process keeps running."""

    def on_hangup(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=_reload, args=(reload,), name="policy-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, on_hangup)


def _reload(reload: Callable[[], object]) -> None:
    try:
        reload()
    except Exception:  # a reload must never take the server down; the log says why
        log.exception("policies.reload_failed")
