"""The policy set in force. A reload either swaps in a complete new set or keeps the old one.

Whatever the folder holds, a reload never raises: a refused set (PolicyLoadError) is reported
with its problems, and any other failure is logged with its traceback under an error id."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from app.routing import PolicyLoadError, PolicySet, load_policy_set

log = structlog.get_logger("countersign.policies")


@dataclass(frozen=True)
class ReloadResult:
    applied: bool
    content_hash: str
    problems: tuple[str, ...] = ()


class PolicyHolder:
    def __init__(
        self, directory: Path, on_refused: Callable[[PolicySet, str], None] | None = None
    ) -> None:
        self._directory = directory
        self._on_refused = on_refused
        self._lock = threading.Lock()
        self._current = load_policy_set(directory)  # at start-up a bad policy stops the app
        _log_warnings(self._current)

    def current(self) -> PolicySet:
        return self._current

    def reload(self) -> ReloadResult:
        """Load the directory again; on any error keep the set in force and say why."""
        with self._lock:
            try:
                fresh = load_policy_set(self._directory)
            except PolicyLoadError as error:
                return self._refuse(tuple(str(p) for p in error.problems))
            except Exception:  # never let a reload take the server down
                error_id = uuid.uuid4().hex[:12]
                log.exception("policies.reload_failed", error_id=error_id)
                return self._refuse((f"the reload failed unexpectedly (error id {error_id})",))
            self._current = fresh
            log.info("policies.reloaded", content_hash=fresh.content_hash)
            _log_warnings(fresh)
            return ReloadResult(True, fresh.content_hash)

    def _refuse(self, problems: tuple[str, ...]) -> ReloadResult:
        kept = self._current
        log.error("policies.reload_refused", problems=list(problems), kept=kept.content_hash)
        if self._on_refused is not None:
            try:
                self._on_refused(kept, "\n".join(problems))
            except Exception:  # telling the admins is best effort; the log line has it all
                log.exception("policies.refusal_notice_failed")
        return ReloadResult(False, kept.content_hash, problems)


def _log_warnings(policy: PolicySet) -> None:
    if policy.warnings:
        log.warning(
            "policies.warnings",
            content_hash=policy.content_hash,
            warnings=[str(warning) for warning in policy.warnings],
        )
