"""Mistakes in `countersign evidence` and `countersign reconcile` are one line each, exit 2,
never a traceback (run as real processes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import COUNTERSIGN, free_ports

INTACCT = {
    "INTACCT_CLIENT_ID": "fake-client",
    "INTACCT_CLIENT_SECRET": "fake-secret-not-real",
    "INTACCT_USERNAME": "user@company",
}


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["evidence", "ACME"], {}, "'ACME' is not an exception id such as BX-000123"),
        (["evidence", "verify"], {}, "`evidence verify` needs the packet folder"),
        (["evidence", "verify", "."], {}, "not an evidence packet (no packet.json or SHA256SUMS)"),
        (["evidence", "BX-1", "extra"], {}, "unexpected argument 'extra'"),
        (["reconcile", "--since", "last week"], INTACCT, "'last week' is not a date"),
        (["reconcile", "--since", "2026-11-01", "--format", "xml"], INTACCT, "text or json"),
        (["reconcile", "--since", "2026-11-01"], {}, "INTACCT_CLIENT_ID, INTACCT_CLIENT_SECRET"),
        (
            ["reconcile", "--since", "2026-11-01"],
            INTACCT | {"INTACCT_API_URL": f"http://127.0.0.1:{free_ports(1)[0]}/ia/api/v1"},
            "cannot read Intacct: ",
        ),
    ],
)
def test_mistakes_are_one_line_with_exit_code_2(
    sqlite_url: str, tmp_path: Path, args: list[str], extra: dict[str, str], message: str
) -> None:
    """Each mistake prints one line naming it and exits 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTACCT_", "AUDIT_"))}
    answer = subprocess.run(
        [COUNTERSIGN, *args],
        env=env | {"DATABASE_URL": sqlite_url} | extra,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert answer.returncode == 2, answer.stderr
    assert answer.stderr.count("\n") == 1, answer.stderr
    assert message in answer.stderr
