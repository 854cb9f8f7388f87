"""What the listeners need, handed to each listener module's `register(app, deps)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.clock import Clock
from app.domain.approval import Actor
from app.flows.details import ReceivablesPort
from app.flows.home import HomeJobs, HomePort
from app.flows.ports import ChatPort
from app.routing import PolicySet
from app.slack.directory import Directory
from app.slack.executor import Work
from app.slack.render import BlockRenderer
from app.store.db import Database


class ListenerChat(ChatPort, HomePort, Protocol):
    def respond(self, response_url: str, text: str) -> None:
        """An ephemeral reply through an interaction's response_url."""

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """Open a modal on a trigger; its view id."""

    def update_view(self, view_id: str, view: dict[str, Any]) -> None:
        """Replace an open modal's content."""


@dataclass(frozen=True)
class SlackDeps:
    db: Database
    clock: Clock
    chat: ListenerChat
    directory: Directory
    renderer: BlockRenderer
    work: Work = field(default_factory=Work)
    homes: HomeJobs | None = None  # builds a person's queue (with delegation's additions)
    receivables: ReceivablesPort | None = None  # Intacct, read live for Details and `show`
    policy: Callable[[], PolicySet] | None = None  # the policy in force (time zone, access, admins)

    def home_jobs(self) -> HomeJobs:
        return self.homes or HomeJobs(self.db, self.chat, self.actor)

    def actor(self, user_id: str) -> Actor:
        """Who clicked, as the directory can say (marked unconfirmed when it cannot)."""
        return self.directory.actor(user_id)
