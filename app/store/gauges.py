"""Gauges read from the database when /metrics is scraped: open exceptions and the oldest one's
age by route, outbox depth by kind and state. Every instance on one database reports the same
values (take the max over instances, never the sum), and none keeps a count of its own that a
restart or a second instance would skew."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, func, select

from app.store.db import Database
from app.store.tables import ExceptionRow, OutboxRow

OPEN = "open"
DEPTH_STATES = ("pending", "dead")  # done and cancelled rows are history, not depth
log = structlog.get_logger("countersign.metrics")


class DatabaseGauges(Collector):
    def __init__(self, db: Database, now: Callable[[], datetime]) -> None:
        self._db, self._now = db, now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            routes, jobs = self._read()
        except SQLAlchemyError as error:  # the process's counters are still worth a scrape
            log.warning("metrics.database_unreadable", error=type(error).__name__)
            return
        now = self._now()
        opened = GaugeMetricFamily(
            "countersign_open_exceptions",
            "Exceptions waiting for a decision, by route",
            labels=["route"],
        )
        oldest = GaugeMetricFamily(
            "countersign_oldest_open_exception_seconds",
            "Age of the oldest exception waiting for a decision, by route",
            labels=["route"],
        )
        depth = GaugeMetricFamily(
            "countersign_outbox_depth",
            "Outbox jobs not yet done, by kind and state (pending: queued, retrying or running;"
            " dead: parked for a person)",
            labels=["kind", "state"],
        )
        for route, count, first in routes:
            opened.add_metric([route], int(count))
            oldest.add_metric([route], max(0.0, (now - _aware(first)).total_seconds()))
        for kind, state, count in jobs:
            depth.add_metric([kind, state], int(count))
        yield opened
        yield oldest
        yield depth

    def _read(self) -> tuple[list[Any], list[Any]]:
        with self._db.transaction() as session:
            routes = session.exec(
                select(ExceptionRow.route_name, func.count(), func.min(ExceptionRow.created_at))
                .where(ExceptionRow.state == OPEN)
                .group_by(col(ExceptionRow.route_name))
            ).all()
            jobs = session.exec(
                select(OutboxRow.kind, OutboxRow.state, func.count())
                .where(col(OutboxRow.state).in_(DEPTH_STATES))
                .group_by(col(OutboxRow.kind), col(OutboxRow.state))
            ).all()
        return list(routes), list(jobs)


def _aware(value: datetime | str) -> datetime:
    """min() over the column comes back as the stored value (SQLite: text); read it as UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
