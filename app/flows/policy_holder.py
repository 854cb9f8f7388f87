"""The policy set in force. A reload either swaps in a complete new set or keeps the old one."""

from __future__ import annotations

import threading
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

    def current(self) -> PolicySet:
        return self._current

    def reload(self) -> ReloadResult:
        """Load the directory again; on any error keep the set in force and say why."""
        with self._lock:
            try:
                fresh = load_policy_set(self._directory)
            except PolicyLoadError as error:
                problems = tuple(str(p) for p in error.problems)
                log.error(
                    "policies.reload_refused",
                    problems=list(problems),
                    kept=self._current.content_hash,
                )
                if self._on_refused is not None:
                    self._on_refused(self._current, "\n".join(problems))
                return ReloadResult(False, self._current.content_hash, problems)
            self._current = fresh
            log.info("policies.reloaded", content_hash=fresh.content_hash)
            return ReloadResult(True, fresh.content_hash)
