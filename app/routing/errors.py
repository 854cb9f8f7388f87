"""Problems found in a policy set: each one has a place (file:line:column) and a short hint.

An error stops the set from loading; a warning is printed by `policies check` (and logged on
load) but the set still loads, unless `check --strict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ERROR, WARNING = "error", "warning"
MAX_REPORTED = 200  # a file of garbage must not become a million-line report
MAX_TEXT = 300  # a message quoting a value pasted by mistake stays one readable line


@dataclass(frozen=True)
class Problem:
    """One mistake in a policy file; line and column are 1-based (0 = the file or directory)."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None
    severity: str = ERROR

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        label = "warning: " if self.is_warning else ""
        text = f"{place}: {label}{_clip(self.message)}"
        return f"{text} (hint: {_clip(self.hint)})" if self.hint else text

    @property
    def is_warning(self) -> bool:
        return self.severity == WARNING

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.message)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def in_order(problems: Iterable[Problem]) -> list[Problem]:
    """Problems without repeats, in file order, at most MAX_REPORTED (then one line says so)."""
    ordered = sorted(set(problems), key=Problem.sort_key)
    if len(ordered) <= MAX_REPORTED:
        return ordered
    rest = len(ordered) - MAX_REPORTED
    last = ordered[MAX_REPORTED - 1]
    more = Problem(last.file, 0, 0, f"… and {rest} more problems not shown", "fix these first")
    return [*ordered[:MAX_REPORTED], more]


class PolicyLoadError(Exception):
    """The policy set could not be loaded; `problems` lists every mistake found, in file order.

    `problems` holds the errors and any warnings found with them; `errors` only the errors."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = in_order(problems)
        super().__init__(str(self))

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.is_warning]

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
