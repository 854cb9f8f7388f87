"""The note `policies reload --proposer` leaves for the server: taken once, and only fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.flows import reload_request

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_a_fresh_note_names_the_proposer_once(tmp_path: Path) -> None:
    """The server reads the proposer and removes the note, so the next reload names nobody."""
    pid = tmp_path / "countersign.pid"
    reload_request.leave(pid, "ana@example.com", NOW)
    assert reload_request.take(pid, NOW + timedelta(seconds=5)) == "ana@example.com"
    assert reload_request.take(pid, NOW + timedelta(seconds=6)) is None
    assert not reload_request.note_path(pid).exists()


def test_a_stale_or_forged_note_names_nobody(tmp_path: Path) -> None:
    """A note older than a minute, from the future, or not naming a person is ignored."""
    pid = tmp_path / "countersign.pid"
    reload_request.leave(pid, "U0CTRL1", NOW)
    assert reload_request.take(pid, NOW + timedelta(minutes=2)) is None
    reload_request.leave(pid, "U0CTRL1", NOW + timedelta(minutes=1))
    assert reload_request.take(pid, NOW) is None
    reload_request.note_path(pid).write_text('{"proposer": "<!channel>", "at": "2026-12-02"}')
    assert reload_request.take(pid, NOW) is None
    reload_request.note_path(pid).write_text("not json")
    assert reload_request.take(pid, NOW) is None
    assert reload_request.take(pid, NOW) is None  # no note at all


def test_people_are_slack_ids_or_addresses() -> None:
    """Only a Slack user id or an e-mail address is accepted as the proposer."""
    assert reload_request.valid_person("U0CTRL1")
    assert reload_request.valid_person("ana@example.com")
    assert not reload_request.valid_person("@ana")
    assert not reload_request.valid_person("ana")
