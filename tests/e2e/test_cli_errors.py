"""Every user mistake on every command is ONE line and a documented exit code, never a traceback:
each case runs the installed `countersign` script as a subprocess in an empty folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.config import Settings
from app.runtime import REQUIRED
from app.store.migrate import upgrade
from tests.e2e.harness import COUNTERSIGN, free_ports

ROOT = Path(__file__).resolve().parents[2]
POLICIES = str(ROOT / "policies")
EVENT = (ROOT / "examples" / "discount.json").read_text()


def clean_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment without any Countersign setting; the error log and HOME in `folder`."""
    env = {name: value for name, value in os.environ.items() if name not in Settings.model_fields}
    env |= {
        "HOME": str(folder),
        "XDG_STATE_HOME": str(folder / "state"),
        "COUNTERSIGN_POLICIES": POLICIES,
    }
    return env | extra


def sqlite(folder: Path) -> str:
    return f"sqlite:///{folder / 'countersign.db'}"


def closed_port(_: Path) -> str:
    return f"postgresql://countersign:pw-never-shown@127.0.0.1:{free_ports(1)[0]}/countersign"


def migrated(folder: Path) -> str:
    upgrade(sqlite(folder))
    return sqlite(folder)


def blank(folder: Path) -> str:
    (folder / "countersign.db").touch()
    return sqlite(folder)


def old_schema(folder: Path) -> str:
    upgrade(sqlite(folder), "0001")
    return sqlite(folder)


def not_a_database(folder: Path) -> str:
    (folder / "countersign.db").write_text("billing notes, not a database\n")
    return sqlite(folder)


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    code: int
    says: tuple[str, ...]
    database: Callable[[Path], str] | None = None  # None: DATABASE_URL unset (the default file)
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    creates_nothing: bool = True


IMPORT = ("events", "import")
BACKTEST = ("policies", "backtest", POLICIES, "--current", POLICIES)
DB_COMMANDS = {
    "audit-verify": ("audit", "verify"),
    "backtest": BACKTEST,
    "import": (*IMPORT, "event.json"),
    "rejected": ("events", "rejected"),
}
NO_SCHEMA = "run `countersign db upgrade`"

CASES = [
    # events import: the file
    Case(
        "import-malformed-json",
        (*IMPORT, "bad.json"),
        2,
        ("bad.json: line 1, column 2: not valid JSON",),
        migrated,
        files={"bad.json": "{oops"},
    ),
    Case(
        "import-missing-file",
        (*IMPORT, "missing.json"),
        2,
        ("cannot read missing.json: No such file",),
        migrated,
    ),
    Case("import-a-folder", (*IMPORT, "state"), 2, ("add --format",), migrated),
    Case(
        "import-a-folder-as-jsonl",
        (*IMPORT, "--format", "jsonl", "."),
        2,
        ("cannot read .",),
        migrated,
    ),
    Case(
        "import-unknown-extension",
        (*IMPORT, "events.txt"),
        2,
        ("cannot tell the format", "--format"),
        migrated,
        files={"events.txt": EVENT},
    ),
    Case(
        "import-unknown-format",
        (*IMPORT, "--format", "xml", "event.json"),
        2,
        ("'xml' is not one of", "countersign events import --help"),
        migrated,
    ),
    Case(
        "import-csv-unknown-column",
        (*IMPORT, "bad.csv"),
        2,
        ("bad.csv: header: unknown column 'invoce.amount'",),
        migrated,
        files={"bad.csv": "event_id,invoce.amount\nx,1\n"},
    ),
    Case(
        "import-csv-whole-object-column",
        (*IMPORT, "bad.csv"),
        2,
        ("'invoice' needs a sub-field, e.g. 'invoice.key'",),
        migrated,
        files={"bad.csv": "event_id,invoice\nx,1\n"},
    ),
    Case(
        "import-csv-empty",
        (*IMPORT, "empty.csv"),
        2,
        ("the file is empty",),
        migrated,
        files={"empty.csv": ""},
    ),
    Case(
        "import-batch-with-other-keys",
        (*IMPORT, "batch.json"),
        2,
        ('a batch is {"events": [...]} with no other keys',),
        migrated,
        files={"batch.json": '{"events": [], "source": "x"}'},
    ),
    Case(
        "import-missing-argument",
        IMPORT,
        2,
        ("Missing argument", "countersign events import --help"),
    ),
    Case(
        "import-broken-policies",
        (*IMPORT, "event.json"),
        2,
        ("do not load", "countersign policies check"),
        migrated,
        env={"COUNTERSIGN_POLICIES": "no-such-folder"},
    ),
    # other commands
    Case(
        "sandbox-send-missing-file",
        ("sandbox", "send", "nope.json"),
        2,
        ("cannot read nope.json: No such file",),
    ),
    Case(
        "rejected-limit-zero",
        ("events", "rejected", "--limit", "0"),
        2,
        ("Invalid value for '--limit'",),
        migrated,
    ),
    Case("unknown-command", ("evnets",), 2, ("No such command 'evnets'",)),
    Case(
        "malformed-database-url",
        ("audit", "verify"),
        2,
        ("configuration error: DATABASE_URL: must start with sqlite:// or postgresql://",),
        env={"DATABASE_URL": "mysql://billing@db/countersign"},
    ),
    # serve: every missing or malformed setting at once
    Case("serve-empty-environment", ("serve",), 2, (", ".join(REQUIRED), "are not set")),
    Case(
        "serve-malformed-port",
        ("serve",),
        2,
        ("PORT: Input should be a valid integer", "(got 'abc')"),
        env={"PORT": "abc"},
    ),
    Case(
        "serve-two-malformed",
        ("serve",),
        2,
        ("PORT: Input should be greater than or equal to 1", "LOG_LEVEL: Input should be"),
        env={"PORT": "0", "LOG_LEVEL": "loud"},
    ),
    Case(
        "db-upgrade-closed-port",
        ("db", "upgrade"),
        2,
        ("cannot open the database postgresql://countersign:***@127.0.0.1:",),
        closed_port,
    ),
    Case(
        "db-upgrade-no-folder",
        ("db", "upgrade"),
        2,
        ("unable to open database file",),
        lambda folder: f"sqlite:///{folder / 'no-such-folder' / 'countersign.db'}",
    ),
]
for command, args in DB_COMMANDS.items():
    CASES += [
        Case(
            f"{command}-without-database",
            args,
            2,
            ("no database at ./countersign.db", "create it with `countersign db upgrade`"),
        ),
        Case(
            f"{command}-closed-port",
            args,
            2,
            (
                "cannot open the database postgresql://countersign:***@127.0.0.1:",
                "Connection refused",
            ),
            closed_port,
        ),
        Case(f"{command}-not-migrated", args, 2, ("has no schema yet", NO_SCHEMA), blank),
        Case(
            f"{command}-old-schema",
            args,
            2,
            ("is at schema 0001, not the newest", NO_SCHEMA),
            old_schema,
        ),
        Case(f"{command}-not-a-database", args, 2, ("file is not a database",), not_a_database),
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_user_mistake_is_one_line(case: Case, tmp_path: Path) -> None:
    """The mistake gives its exit code and one line saying what is wrong; nothing is created."""
    (tmp_path / "state").mkdir()
    (tmp_path / "event.json").write_text(EVENT)
    for name, content in case.files.items():
        (tmp_path / name).write_text(content)
    env = clean_env(tmp_path, **case.env)
    if case.database is not None:
        env["DATABASE_URL"] = case.database(tmp_path)
    before = _files(tmp_path)
    done = subprocess.run(
        [COUNTERSIGN, *case.args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (done.stdout + done.stderr).strip()
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert output.startswith("countersign: "), output
    for words in case.says:
        assert words in output
    assert "pw-never-shown" not in output
    assert done.returncode == case.code, output
    assert _files(tmp_path) == before


def _files(folder: Path) -> list[str]:
    """The files in `folder`, leaving out SQLite's WAL companions of an existing database."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm")))


UNEXPECTED = r"""
import sys, typer
from app.cli import run
app = typer.Typer()
@app.command()
def boom() -> None:
    raise RuntimeError("the ledger caught fire")
@app.command()
def gone() -> None:
    from sqlalchemy.exc import OperationalError
    raise OperationalError("SELECT 1", {}, Exception("server closed the connection\nmore"))
sys.exit(run(app, sys.argv[1:]))
"""


def test_unexpected_error_is_one_line_with_an_id_in_the_log(tmp_path: Path) -> None:
    """A fault is one line with an error id (exit 70); the log has that id and the traceback."""
    log = tmp_path / "logs" / "errors.log"
    env = clean_env(tmp_path, COUNTERSIGN_ERROR_LOG=str(log))
    done = subprocess.run(
        [sys.executable, "-c", UNEXPECTED, "boom"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 70
    assert len(output.splitlines()) == 1, output
    assert "Traceback" not in output
    assert "ledger" not in output
    assert output.startswith("countersign: unexpected error (id ")
    assert output.endswith(f"details in {log}")
    error_id = output.split("(id ")[1].split(")")[0]
    entry = json.loads(log.read_text().strip())
    assert entry["error_id"] == error_id
    assert entry["event"] == "cli.unexpected_error"
    assert entry["argv"] == ["boom"]
    assert "Traceback" in entry["exception"]
    assert "RuntimeError: the ledger caught fire" in entry["exception"]


def test_unexpected_error_log_defaults_to_the_state_folder(tmp_path: Path) -> None:
    """Without COUNTERSIGN_ERROR_LOG the traceback goes to $XDG_STATE_HOME/countersign/."""
    env = clean_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", UNEXPECTED, "boom"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    log = tmp_path / "state" / "countersign" / "errors.log"
    assert done.stderr.strip().endswith(f"details in {log}")
    assert "RuntimeError" in log.read_text()


def test_a_database_that_fails_mid_command_is_one_line(tmp_path: Path) -> None:
    """A database error after the checks (the server went away) is one line naming the cause,
    exit 2, with nothing written to the error log."""
    log = tmp_path / "errors.log"
    done = subprocess.run(
        [sys.executable, "-c", UNEXPECTED, "gone"],
        env=clean_env(tmp_path, COUNTERSIGN_ERROR_LOG=str(log)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        "countersign: the database failed: server closed the connection (check DATABASE_URL;"
    )
    assert len(done.stderr.strip().splitlines()) == 1
    assert not log.exists()
