"""Who asked for a policy reload: `countersign policies reload --proposer U…|e-mail` leaves a
note beside the server's pid file before it sends SIGHUP, and the server takes (and removes)
it when it reloads. A note older than MAX_AGE is ignored, so a stale one never names the
proposer of a later reload. The name is as the person gives it: it only ever excludes someone
(the proposer may not approve their own change), it never grants anything."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

MAX_AGE = timedelta(seconds=60)
PERSON = re.compile(r"^(?:[UW][A-Z0-9]{2,30}|[^@\s:]{1,100}@[^@\s]{1,150}\.[^@\s]{1,50})$")


def note_path(pid_file: Path) -> Path:
    return pid_file.with_name(pid_file.name + ".proposer")


def valid_person(value: str) -> bool:
    """A Slack user id (U…/W…) or an e-mail address."""
    return PERSON.match(value) is not None


def leave(pid_file: Path, proposer: str, now: datetime) -> None:
    """Write the note for the next reload (raises OSError when it cannot be written)."""
    note_path(pid_file).write_text(json.dumps({"proposer": proposer, "at": now.isoformat()}))


def take(pid_file: Path, now: datetime) -> str | None:
    """The proposer named by a fresh note, removing the note; None when there is none."""
    path = note_path(pid_file)
    try:
        text = path.read_text(encoding="utf-8")
        path.unlink()
        note = json.loads(text)
        proposer, at = str(note["proposer"]), datetime.fromisoformat(str(note["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if at.tzinfo is None or not valid_person(proposer) or not now - MAX_AGE <= at <= now:
        return None
    return proposer
