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
        return Actor(user_id, self.directory.email_of(user_id))
