"""Golden files: each broken policy under golden/<case>/ fails with exactly expected.txt.

Each case directory holds the policy files and `expected.txt`, the full error text (one problem
per line, file:line:column: message (hint: ...)). Regenerate after an intended wording change
with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.routing import PolicyLoadError, load_policy_set

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES)
def test_golden_error(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy in golden/<case> is refused with exactly the messages and places expected."""
    monkeypatch.chdir(GOLDEN / case)
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_set(Path("."))
    expected_file = GOLDEN / case / "expected.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(str(caught.value) + "\n")
    assert str(caught.value) + "\n" == expected_file.read_text()


def test_every_golden_case_has_expected_text() -> None:
    """No golden case is missing its expected.txt (a new case must be reviewed, not skipped)."""
    assert CASES
    assert all((GOLDEN / case / "expected.txt").is_file() for case in CASES)
