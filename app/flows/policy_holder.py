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
    held: str | None = None  # a valid set held back (e.g. pending approval): why


# Decides whether a freshly loaded set goes in force: None to apply it, or why it is held.
Gate = Callable[[PolicySet, PolicySet], str | None]


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

    def install(self, policy: PolicySet) -> None:
        """Put `policy` in force (one approved elsewhere, or the stored one at start)."""
        with self._lock:
            self._current = policy
        log.info("policies.installed", content_hash=policy.content_hash)

    def reload(self, gate: Gate | None = None) -> ReloadResult:
        """Load the directory again; on any error keep the set in force and say why. A valid
        set goes in force unless `gate(fresh, current)` says why it is held back."""
        with self._lock:
            try:
                fresh = load_policy_set(self._directory)
                held = gate(fresh, self._current) if gate is not None else None
            except PolicyLoadError as error:
                return self._refuse(tuple(str(p) for p in error.problems))
            except Exception:  # never let a reload take the server down
                error_id = uuid.uuid4().hex[:12]
                log.exception("policies.reload_failed", error_id=error_id)
                return self._refuse((f"the reload failed unexpectedly (error id {error_id})",))
            if held is not None:
                log.info(
                    "policies.held",
                    content_hash=fresh.content_hash,
                    kept=self._current.content_hash,
                    why=held,
                )
                return ReloadResult(False, self._current.content_hash, held=held)
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
