"""The delegate and reassign command lines: people named by mention or member ID, and every
mistake answered with one line before the database is asked."""

from __future__ import annotations

import pytest

from app.slack.listeners import delegate_command
from app.slack.listeners.mentions import person


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("<@U0BEN|ben>", "U0BEN"),
        ("<@U0BEN>", "U0BEN"),
        ("U0BEN", "U0BEN"),
        ("@U0BEN", "U0BEN"),
        ("@ben", None),
        ("<#C0BILLING|billing>", None),
        ("<@U0BEN|ben", None),
    ],
)
def test_a_person_is_a_mention_or_a_member_id(token: str, expected: str | None) -> None:
    """Slack's escaped mention and a bare member ID name a person; a display name does not."""
    assert person(token) == expected


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("delegate", "Usage"),
        ("delegate <@U0BEN> 2026-12-24", "Usage"),
        ("delegate @ben until 2026-12-24", "pick them with @"),
        ("delegate <@U0BEN> until 24/12/2026", "not a date"),
        ("reassign BX-000001 <@U0A1>", "Usage"),
        ("reassign BX-1x <@U0A1> <@U0B1> why", "BX-"),
        ("reassign BX-000001 @ana <@U0B1> why", "pick them with @"),
    ],
)
def test_a_wrong_line_is_answered_at_once(line: str, says: str) -> None:
    """A line that cannot be a delegation or reassignment gets its one-line answer in the ack."""
    answer = delegate_command.quick_answer(line)
    assert answer is not None
    assert says in answer


@pytest.mark.parametrize(
    "line",
    [
        "delegate off",
        "delegate <@U0BEN|ben> until 2026-12-24",
        "delegate U0BEN until 2026-12-24 on leave, back on the 27th",
        "reassign BX-000001 <@U0A1|a> <@U0B1|b> on leave",
    ],
)
def test_a_good_line_goes_to_the_workers(line: str) -> None:
    """A well-formed line needs the database: no quick answer, and the verb is this module's."""
    assert delegate_command.handles(line)
    assert delegate_command.quick_answer(line) is None
