"""The directory against the Slack emulator: answers are cached, failures never are, one short
429 is waited out, and anything else marks the person unconfirmed (never "no e-mail")."""

from __future__ import annotations

from slack_sdk import WebClient

from app.sandbox.slack_emulator import SlackEmulator
from app.slack.directory import Directory
from tests.e2e.harness import free_ports


class Naps:
    """A sleep that records instead of sleeping (the Directory's `sleep` argument)."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


def _lookups(slack: SlackEmulator) -> list[int]:
    return [call.status for call in slack.calls("users.info")]


def test_answer_is_cached(slack_emulator: SlackEmulator, slack_client: WebClient) -> None:
    """Two lookups of one person ask Slack once and give the same e-mail."""
    directory = Directory(slack_client)
    assert directory.actor("U0FINMGR1").email == "fin.one@example.com"
    assert directory.actor("U0FINMGR1").email == "fin.one@example.com"
    assert _lookups(slack_emulator) == [200]


def test_one_short_429_is_waited_out_and_retried(
    slack_emulator: SlackEmulator, slack_client: WebClient
) -> None:
    """A 429 with Retry-After 1 waits one second and asks again: the e-mail, not a refusal."""
    naps = Naps()
    slack_emulator.rate_limit("users.info", times=1, retry_after=1)
    actor = Directory(slack_client, sleep=naps).actor("U0FINMGR2")
    assert (actor.email, actor.unconfirmed) == ("fin.two@example.com", None)
    assert naps.taken == [1.0]
    assert _lookups(slack_emulator) == [429, 200]


def test_second_429_marks_unconfirmed_and_is_not_cached(
    slack_emulator: SlackEmulator, slack_client: WebClient
) -> None:
    """Two 429s in a row: unconfirmed (ratelimited); the next lookup asks Slack again."""
    directory = Directory(slack_client, sleep=Naps())
    slack_emulator.rate_limit("users.info", times=2, retry_after=1)
    limited = directory.actor("U0FINMGR1")
    assert (limited.email, limited.unconfirmed) == (None, "ratelimited")
    assert directory.actor("U0FINMGR1").email == "fin.one@example.com"
    assert _lookups(slack_emulator) == [429, 429, 200]


def test_long_retry_after_is_not_waited(
    slack_emulator: SlackEmulator, slack_client: WebClient
) -> None:
    """Retry-After 30 is longer than a click can wait: unconfirmed at once, no nap."""
    naps = Naps()
    slack_emulator.rate_limit("users.info", times=1, retry_after=30)
    actor = Directory(slack_client, sleep=naps).actor("U0FINMGR1")
    assert actor.unconfirmed == "ratelimited"
    assert naps.taken == []


def test_an_error_answer_marks_unconfirmed(
    slack_emulator: SlackEmulator, slack_client: WebClient
) -> None:
    """`fatal_error` from users.info: unconfirmed with that reason, and nothing cached."""
    directory = Directory(slack_client)
    slack_emulator.fail("users.info", "fatal_error")
    assert directory.actor("U0CFO1").unconfirmed == "fatal_error"
    assert directory.actor("U0CFO1").email == "cfo@example.com"


def test_unreachable_slack_marks_unconfirmed() -> None:
    """Nothing listening where Slack should be: unconfirmed, saying Slack did not answer."""
    (port,) = free_ports(1)
    client = WebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{port}/api/", timeout=2)
    actor = Directory(client).actor("U0CFO1")
    assert actor.unconfirmed is not None
    assert actor.unconfirmed.startswith("Slack did not answer")
