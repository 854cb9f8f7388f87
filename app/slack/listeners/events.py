"""Events API: the Home tab, and retries recognised by event_id.

Every event subscribed in manifest.yml has a listener here, so Bolt answers 200, never 404.
Slack re-sends an event it thinks went unanswered (X-Slack-Retry-Num, the same event_id): an
event_id seen in the last RETRY_WINDOW seconds is answered 200 and not processed again. The
memory is per process: with several instances a retry that lands on another one is processed
there too, which is harmless for what is subscribed today (publishing Home is idempotent); an
event with effects beyond that would keep the ids in the database instead.

app_home_opened is acked at once; the Home view (the person's queue, app/flows/home.py) is built
and published with views.publish on Countersign's workers; when Slack or the pacing says
"later", a `home.publish` outbox job publishes it instead."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from slack_bolt import App, BoltRequest, BoltResponse

from app.flows.jobs import queue_home
from app.flows.ports import RetryLater
from app.slack.deps import SlackDeps
from app.slack.executor import Busy

log = structlog.get_logger("countersign.slack")
RETRY_WINDOW = 3600.0  # Slack retries three times within minutes (FACTS.md): an hour covers it
MAX_REMEMBERED = 100_000
SUBSCRIBED = ("app_home_opened",)  # manifest.yml settings.event_subscriptions.bot_events


class SeenEvents:
    """event_ids recently taken, each forgotten after `window` seconds (or when its first
    delivery was not answered 2xx, so that Slack's retry is processed)."""

    def __init__(
        self,
        window: float = RETRY_WINDOW,
        most: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window, self._most, self._clock = window, most, clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, event_id: str) -> bool:
        """True the first time `event_id` is offered within the window."""
        now = self._clock()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - self._window:
                self._seen.popitem(last=False)
            if event_id in self._seen:
                return False
            while len(self._seen) >= self._most:
                self._seen.popitem(last=False)
            self._seen[event_id] = now
            return True

    def forget(self, event_id: str) -> None:
        with self._lock:
            self._seen.pop(event_id, None)


def register(app: App, deps: SlackDeps) -> None:
    seen = SeenEvents()

    @app.middleware
    def once_per_event(req: BoltRequest, resp: BoltResponse, next: Callable[[], Any]) -> Any:
        body = req.body
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not isinstance(event_id, str):
            return next()
        if not seen.take(event_id):
            retry = req.headers.get("x-slack-retry-num")
            log.info("slack.event_retry_skipped", event_id=event_id, retry=retry)
            return BoltResponse(status=200, body="")
        answer = next()
        if answer is not None and answer.status >= 300:
            seen.forget(event_id)
        return answer

    def publish_home(user: str) -> None:
        """Publish now; when Slack or our pacing says "later", the outbox does it."""
        now = deps.clock.now()
        try:
            queue = deps.home_jobs().queue(user, now, deps.actor(user))
            deps.chat.publish_home(user, queue, now)
        except RetryLater as wait:
            log.info("home.publish_later", user=user, why=str(wait))
            with deps.db.transaction() as session:
                queue_home(session, user, now=now)

    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        user = event.get("user")
        if event.get("tab", "home") != "home" or not isinstance(user, str):
            return
        with contextlib.suppress(Busy):  # when busy, the next visit to Home publishes it
            deps.work.submit(lambda: publish_home(user), "home")
