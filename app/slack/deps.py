"""What the listeners need, handed to each listener module's `register(app, deps)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from app.clock import Clock
from app.domain.approval import Actor
from app.flows.ports import ChatPort
from app.routing import PolicySet
from app.slack.directory import Directory
from app.slack.executor import Work
from app.slack.render import BlockRenderer
from app.store.db import Database


class ListenerChat(ChatPort, Protocol):
    def respond(self, response_url: str, text: str) -> None:
        """An ephemeral reply through an interaction's response_url."""


@dataclass(frozen=True)
class SlackDeps:
    db: Database
    clock: Clock
    chat: ListenerChat
    directory: Directory
    renderer: BlockRenderer
    work: Work = field(default_factory=Work)
    policy: Callable[[], PolicySet] | None = None  # the policy set in force (time zone, admins)

    def actor(self, user_id: str) -> Actor:
        """Who clicked, as the directory can say (marked unconfirmed when it cannot)."""
        return self.directory.actor(user_id)
