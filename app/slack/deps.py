"""What the listeners need, handed to each listener module's `register(app, deps)`."""

from __future__ import annotations

from dataclasses import dataclass

from app.clock import Clock
from app.domain.approval import Actor
from app.flows.ports import ChatPort
from app.slack.directory import Directory
from app.slack.render import BlockRenderer
from app.store.db import Database


@dataclass(frozen=True)
class SlackDeps:
    db: Database
    clock: Clock
    chat: ChatPort
    directory: Directory
    renderer: BlockRenderer

    def actor(self, user_id: str) -> Actor:
        """Who clicked, as the directory can say (marked unconfirmed when it cannot)."""
        return self.directory.actor(user_id)
