"""Wires one running Countersign from settings: store, policies, Slack, Intacct, outbox, timers.
`serve`, `sandbox` and the end-to-end tests all build exactly this."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from slack_sdk import WebClient

from app.clock import Clock, SystemClock
from app.config import Settings
from app.flows import jobs, reload_request
from app.flows.changes import Resume
from app.flows.home import HomeJobs, queue_refresh_in
from app.flows.intake import Intake
from app.flows.notify import SlackJobs
from app.flows.outbox_worker import Handler, OutboxWorker, publish_counts
from app.flows.policy_cards import PolicyCards
from app.flows.policy_control import PolicyControl
from app.flows.policy_holder import PolicyHolder, ReloadResult
from app.flows.ports import DeliveryFailed, RetryLater
from app.flows.reconcile import weekly_job
from app.flows.release import Release
from app.flows.snapshot import Snapshot
from app.flows.sweep import TimerSweep
from app.intacct.client import IntacctClient
from app.intacct.port import IntacctInvoices
from app.intacct.receivables import IntacctReceivables
from app.routing import PolicySet
from app.scheduler import OUTBOX, Scheduler
from app.slack.app import create_bolt_app
from app.slack.chat import SlackChat
from app.slack.deps import SlackDeps
from app.slack.directory import Directory
from app.slack.health import SlackHealth
from app.slack.pacing import Pacer
from app.slack.render import BlockRenderer
from app.store import anchor, outbox
from app.store.db import Database

log = structlog.get_logger("countersign.runtime")
REQUIRED = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "BILLING_WEBHOOK_SECRET",
    "INTACCT_CLIENT_ID",
    "INTACCT_CLIENT_SECRET",
    "INTACCT_USERNAME",
)
SLACK_JOBS = (
    jobs.POST_CARD,
    jobs.UPDATE_CARD,
    jobs.THREAD_NOTE,
    jobs.NOTIFY_USER,
    jobs.DM_CARD,
    jobs.CHANNEL_NOTICE,
    jobs.POLICY_CARD,
    jobs.POLICY_CARD_UPDATE,
    jobs.HOME_PUBLISH,
)


def _secret(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    return str(value.get_secret_value())


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        settings.require(*REQUIRED)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.DATABASE_URL)
        self.slack_client = WebClient(
            token=_secret(settings, "SLACK_BOT_TOKEN"),
            base_url=settings.SLACK_API_URL,
            timeout=settings.SLACK_TIMEOUT_SECONDS,
        )
        self.chat = SlackChat(
            self.slack_client, BlockRenderer(), Pacer(scale=settings.SLACK_RATE_SCALE)
        )
        self.directory = Directory(self.slack_client)
        self.homes = HomeJobs(self.db, self.chat, self.directory.known)
        self.policies = PolicyHolder(settings.COUNTERSIGN_POLICIES, self._tell_admins)
        # Every loading stored; under change_control a new hash waits for approval.
        self.policy_control = PolicyControl(
            self.db,
            self.policies,
            self.clock,
            host=socket.gethostname(),
            pid=os.getpid(),
            on_change=lambda: self.wake(),
            requester=lambda: reload_request.take(settings.COUNTERSIGN_PID_FILE, self.clock.now()),
        )
        self.intacct = IntacctClient(
            base_url=settings.INTACCT_API_URL,
            client_id=settings.INTACCT_CLIENT_ID or "",
            client_secret=_secret(settings, "INTACCT_CLIENT_SECRET"),
            username=settings.INTACCT_USERNAME or "",
            entity_id=settings.INTACCT_ENTITY_ID,
            clock=self.clock.now,
        )
        self.intake = Intake(self.db, self.policies.current, wake=self.wake)
        self.worker = OutboxWorker(
            self.db,
            self._handlers(),
            self.clock,
            worker_id=f"{socket.gethostname()}-{os.getpid()}-{id(self):x}",
            max_attempts=settings.OUTBOX_MAX_ATTEMPTS,
            lease=timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
            admin_channel=lambda: self.policies.current().admin_channel,
            on_progress=lambda: self.scheduler.touch(OUTBOX),
            concurrency=settings.OUTBOX_CONCURRENCY,
            linger_seconds=max(1.0, settings.OUTBOX_POLL_SECONDS),
            queues=(outbox.Kinds(jobs.SLACK_KINDS), outbox.Kinds(jobs.SLACK_KINDS, among=False)),
        )
        self.timers = TimerSweep(self.db, self.clock, worker_id=self.worker.worker_id)
        self.slack_health = SlackHealth(
            _secret(settings, "SLACK_BOT_TOKEN"), settings.SLACK_API_URL, on_back=self._slack_back
        )
        self.scheduler = Scheduler(
            self.worker.drain,
            settings.OUTBOX_POLL_SECONDS,
            sweep=self._sweep,
            sweep_seconds=settings.TIMER_SWEEP_SECONDS,
            health=self._health,
        )
        # Signed audit checkpoints outside the database (app/store/anchor.py), when configured.
        self.anchor = anchor.scheduled(settings, self.db, self.clock.now)
        if self.anchor is not None:
            self.scheduler.every("audit_anchor", self.anchor, settings.AUDIT_ANCHOR_SECONDS)
        # The weekly reconciliation with Intacct (app/flows/reconcile.py), unless turned off.
        if settings.RECONCILE_WEEKDAY != "off":
            self.scheduler.every(
                "reconcile",
                weekly_job(
                    self.db,
                    IntacctInvoices(self.intacct),
                    self.clock.now,
                    lambda: self.policies.current().admin_channel,
                    settings.RECONCILE_WEEKDAY,
                    settings.RECONCILE_HOUR,
                ),
                settings.RECONCILE_CHECK_SECONDS,
            )
        # Each instance puts a policy version approved anywhere in force (policy_control.py).
        self.scheduler.every("policy_poll", self.policy_control.poll, settings.POLICY_POLL_SECONDS)
        self.slack_deps = SlackDeps(
            self.db,
            self.clock,
            self.chat,
            self.directory,
            BlockRenderer(),
            homes=self.homes,
            receivables=IntacctReceivables(self.intacct),
            policy=self.policies.current,
        )
        self.bolt = create_bolt_app(
            self.slack_client,
            _secret(settings, "SLACK_SIGNING_SECRET"),
            self.slack_deps,
        )

    @property
    def webhook_secret(self) -> str:
        return _secret(self.settings, "BILLING_WEBHOOK_SECRET")

    def _handlers(self) -> Mapping[str, Handler]:
        slack = SlackJobs(self.db, self.chat)
        policy_cards = PolicyCards(self.db, self.chat)
        return {
            jobs.POST_CARD: self._then_homes(slack.post_card),
            jobs.UPDATE_CARD: self._then_homes(slack.update_card),
            jobs.HOME_PUBLISH: self.homes.publish,
            jobs.THREAD_NOTE: slack.thread_note,
            jobs.NOTIFY_USER: slack.notify_user,
            jobs.DM_CARD: slack.dm_card,
            jobs.CHANNEL_NOTICE: slack.channel_notice,
            jobs.POLICY_CARD: policy_cards.post,
            jobs.POLICY_CARD_UPDATE: policy_cards.update,
            jobs.RELEASE: Release(self.db, IntacctInvoices(self.intacct)),
            jobs.SNAPSHOT: Snapshot(self.db, IntacctInvoices(self.intacct)),
            jobs.RESUBMIT: Resume(self.db, IntacctInvoices(self.intacct)),
        }

    def _then_homes(self, handler: Handler) -> Handler:
        """`handler`, and with its completion a (debounced) Home refresh for everyone its
        exception concerns (in the same transaction as the job's row marked done)."""

        def run(payload: dict[str, Any], now: datetime) -> None:
            exception_id = int(payload["exception_id"])
            outbox.on_completion(lambda session: queue_refresh_in(session, exception_id, now=now))
            handler(payload, now)

        return run

    def _tell_admins(self, kept: PolicySet, problems: str) -> None:
        if not kept.admin_channel:
            return
        text = (
            f"Policy reload refused; policy {kept.content_hash[:12]} stays in force.\n"
            f"```{problems[:2500]}```"
        )
        try:
            self.chat.post_text(kept.admin_channel, text)
        except (RetryLater, DeliveryFailed) as error:  # the log line already has the problems
            log.warning("policies.admin_notice_failed", error=str(error))

    def _sweep(self) -> None:
        """Fire due timers; their DMs and notes go out now, not at the next outbox tick."""
        if self.timers.sweep().fired:
            self.wake()

    def _health(self) -> None:
        """The health job: probe Slack while it is not ready (and once a minute), publish the
        outbox gauges."""
        self.slack_health.check()
        publish_counts(self.db)

    def _slack_back(self) -> None:
        """Slack answers again: what waited for it goes out now, not at its next backoff."""
        with self.db.transaction() as session:
            outbox.make_due(session, kinds=SLACK_JOBS, now=self.clock.now())
        self.wake()

    def reload_policies(self) -> ReloadResult:
        return self.policy_control.reload()

    def wake(self) -> None:
        self.worker.nudge()
        self.scheduler.wake()

    def start(self) -> None:
        self.policy_control.start()  # store the policy loaded at start (the database is ready)
        self.scheduler.start()

    def stop(self) -> None:
        self.slack_deps.work.shutdown()  # finish the clicks already acked
        self.worker.stop()
        self.scheduler.stop()
        if self.anchor is not None:
            self.anchor()  # a last checkpoint at shutdown
        self.intacct.close()
        self.db.dispose()
