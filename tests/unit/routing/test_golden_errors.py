"""Golden files: each policy under golden/<case>/ is reported with exactly expected.txt.

Each case directory holds the policy files and `expected.txt`, the full report (one problem
per line, file:line:column: message (hint: ...)): the errors of a refused set, or the warnings
of a set that loads (warning-only cases; `*.bin` files are written as bytes for hostile input).
Regenerate after an intended wording change with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.routing import PolicyLoadError, load_policy_set

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def report(directory: Path) -> str:
    """What `policies check` prints for a folder: every problem, or the warnings of a good set."""
    try:
        policy = load_policy_set(directory)
    except PolicyLoadError as error:
        return str(error)
    return "\n".join(str(warning) for warning in policy.warnings)


@pytest.mark.parametrize("case", CASES)
def test_golden_error(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy in golden/<case> is reported with exactly the messages and places expected."""
    monkeypatch.chdir(GOLDEN / case)
    text = report(Path("."))
    expected_file = GOLDEN / case / "expected.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(text + "\n")
    assert text, "a golden case must report something"
    assert text + "\n" == expected_file.read_text()


def test_every_golden_case_has_expected_text() -> None:
    """No golden case is missing its expected.txt (a new case must be reviewed, not skipped)."""
    assert CASES
    assert all((GOLDEN / case / "expected.txt").is_file() for case in CASES)
