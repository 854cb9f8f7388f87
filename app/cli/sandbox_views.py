"""`countersign sandbox home`, `sandbox command` and `sandbox click … details`: what a person
sees in the emulated Slack, as text: their App Home, a slash command's answer, the Details
modal. Each is sent to Countersign as Slack would send it (signed), then read back from the
Slack emulator."""

from __future__ import annotations

from typing import Any

import httpx
import typer

from app.sandbox.clicks import Card, NotRecorded, wait
from app.sandbox.local import SIGNING_SECRET, Ports
from app.sandbox.slack_delivery import SlackDelivery
from app.slack.home_view import home_text
from app.slack.ids import SLASH_COMMAND, ActionId
from app.slack.mrkdwn import unescape

WAIT = 15.0  # seconds for Countersign to answer
LOADING = "Reading the invoice"


def _delivery(ports: Ports) -> SlackDelivery:
    return SlackDelivery(
        app_url=f"{ports.app_url}/slack/events",
        signing_secret=SIGNING_SECRET,
        emulator_url=ports.slack_url,
    )


def _state(ports: Ports) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{ports.slack_url}_emulator/state", timeout=10).json()
    return answer


def view_lines(view: dict[str, Any]) -> list[str]:
    """A view (Home or modal) as plain lines of text."""
    return [unescape(line) for line in home_text(view)]


def home_of(ports: Ports, user: str) -> list[str]:
    """Open the person's Home tab (app_home_opened) and return what Countersign published."""
    before = _state(ports).get("home_views", {}).get(user)
    with _delivery(ports) as delivery:
        answer = delivery.app_home_opened(user)
    if answer.status_code != 200:
        raise NotRecorded(f"Countersign answered {answer.status_code} {answer.text}")

    def published() -> dict[str, Any] | None:
        view = _state(ports).get("home_views", {}).get(user)
        changed = view is not None and (before is None or view.get("hash") != before.get("hash"))
        return view if changed else None

    view = wait(published, WAIT)
    if view is None:
        raise NotRecorded(f"Countersign published no Home for {user} within {WAIT:.0f} s")
    return view_lines(view)


def command_answer(ports: Ports, line: str, user: str, channel: str) -> str:
    """Run `/billing-exceptions …` as `user`; the answer (in the ack or by response_url)."""
    text = line.strip()
    if text.startswith("/"):
        name, _, text = text.partition(" ")
        if name != SLASH_COMMAND:
            raise NotRecorded(f"Countersign has one command, {SLASH_COMMAND}, not {name}")
    seen = len(_state(ports).get("response_url_posts", []))
    with _delivery(ports) as delivery:
        answer = delivery.slash_command(text.strip(), user, channel)
    if answer.status_code != 200:
        raise NotRecorded(f"Countersign answered {answer.status_code} {answer.text}")
    if answer.content:
        return unescape(answer.text)

    def replied() -> str | None:
        posts = _state(ports).get("response_url_posts", [])[seen:]
        return str(posts[-1].get("text", "")) if posts else None

    found = wait(replied, WAIT)
    if found is None:
        raise NotRecorded(f"Countersign did not answer within {WAIT:.0f} s")
    return unescape(found)


def details_of(ports: Ports, card: Card, user: str) -> list[str]:
    """Click Details on the card as `user`; the modal once Intacct's part is in."""
    before = len(_state(ports).get("opened_views", []))
    notes = len(_state(ports).get("ephemerals", []))
    with _delivery(ports) as delivery:
        try:
            answer = delivery.click(card.channel, card.ts, ActionId.DETAILS, user)
        except LookupError:
            raise NotRecorded(f"{card.label}: its card has no Details button") from None
    if answer.status_code != 200:
        raise NotRecorded(f"Countersign answered {answer.status_code} {answer.text}")

    def shown() -> list[dict[str, Any]] | None:
        state = _state(ports)
        told = [e for e in state.get("ephemerals", [])[notes:] if e.get("user") == user]
        if told:
            raise NotRecorded(f"{card.label}: Countersign told {user}: {told[-1]['text']}")
        views = state.get("opened_views", [])[before:]
        done = [v for v in views if LOADING not in str(v.get("blocks"))]
        return done or None

    views = wait(shown, WAIT)
    if not views:
        raise NotRecorded(f"{card.label}: no Details opened for {user} within {WAIT:.0f} s")
    return view_lines(views[-1])


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)
