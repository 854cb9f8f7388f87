"""What changed between two policy versions: a unified diff per file, as `diff -u` prints it."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

Files = Sequence[tuple[str, str]]  # (path relative to the policy folder, text)


def policy_diff(old: Files, new: Files, old_label: str, new_label: str) -> str:
    """A unified diff per file (added and removed files included), files in path order; empty
    when both versions hold the same files with the same text."""
    before, after = dict(old), dict(new)
    parts: list[str] = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        lines = difflib.unified_diff(
            (a or "").splitlines(keepends=True),
            (b or "").splitlines(keepends=True),
            fromfile=f"{old_label}/{path}" if a is not None else "/dev/null",
            tofile=f"{new_label}/{path}" if b is not None else "/dev/null",
        )
        parts.append("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    return "".join(parts)


def changed_files(old: Files, new: Files) -> list[str]:
    """The paths that differ, were added or were removed."""
    before, after = dict(old), dict(new)
    return [p for p in sorted(before.keys() | after.keys()) if before.get(p) != after.get(p)]
