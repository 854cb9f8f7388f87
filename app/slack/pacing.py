"""Slack's rate limits, kept by the whole worker: one Pacer shared by every delivery thread.

Limits (docs.slack.dev/apis/web-api/rate-limits, /work/shared/reference/slack/FACTS.md):
- `chat.postMessage`: about one message per second per channel, short bursts tolerated;
  `chat.update` is paced per channel the same way (edits of one card land in order) and also
  by its tier. Every other method by its tier, per workspace: Tier 1/2/3/4 = 1/20/50/100 calls
  a minute, with a burst of about ten seconds' worth.
- A 429 carries Retry-After: that method (and channel, for the per-channel methods) gets no
  call until exactly that moment; other methods and channels go on.

Each key is a GCRA bucket (a "theoretical arrival time"). `acquire` answers 0 when the call
may go now, else the seconds until its slot; that slot is reserved (a ticket), so a job put
back until then finds its slot free, and N waiting jobs get N successive slots instead of all
coming back at the same instant. Pure logic on an injected monotonic clock."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

PER_CHANNEL = frozenset({"chat.postMessage", "chat.update"})
TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
METHOD_TIER = {
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "conversations.open": 3,
    "conversations.history": 3,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "views.open": 4,
    "views.publish": 4,
    "views.update": 4,
}
DEFAULT_TIER = 3
CHANNEL_PER_SECOND = 1.0  # chat.postMessage, per channel
CHANNEL_BURST = 4
TICKET_GRACE = 5.0  # a reserved slot nobody came for within this many seconds is dropped


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int


def tier_rate(tier: int) -> Rate:
    per_minute = TIER_PER_MINUTE[tier]
    return Rate(per_minute / 60.0, max(3, per_minute // 6))


@dataclass
class _Bucket:
    rate: Rate
    tat: float = 0.0  # theoretical arrival time of the next call at the steady rate
    paused_until: float = 0.0
    tickets: deque[float] = field(default_factory=deque)


class Pacer:
    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        scale: float = 1.0,
    ) -> None:
        """`scale` multiplies every rate: 1 is Slack's; more only against an emulator."""
        self._now = monotonic
        self._scale = scale
        self._channel_rate = Rate(CHANNEL_PER_SECOND * scale, CHANNEL_BURST)
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._in_flight: dict[tuple[str, str], threading.Lock] = {}

    def one_at_a_time(self, method: str, channel: str | None) -> threading.Lock:
        """The lock a caller holds while its call of `method` (in `channel`, for the
        per-channel methods) is in flight: a second call waits for the first one's answer,
        so it never goes out inside a Retry-After that answer brings."""
        key = (method, channel or "") if method in PER_CHANNEL else (method, "")
        with self._lock:
            return self._in_flight.setdefault(key, threading.Lock())

    def paused_for(self, method: str, channel: str | None) -> float:
        """Seconds left of a Retry-After pause of this method (and channel); 0 if none."""
        scope = channel if method in PER_CHANNEL and channel else ""
        with self._lock:
            bucket = self._buckets.get((method, scope))
            return max(0.0, bucket.paused_until - self._now()) if bucket else 0.0

    def _keys(self, method: str, channel: str | None) -> list[tuple[str, str, Rate]]:
        keys = []
        if method in PER_CHANNEL and channel:
            keys.append((method, channel, self._channel_rate))
        if method != "chat.postMessage":
            keys.append((method, "", self._rate_of(method, "")))
        return keys

    def _bucket(self, method: str, scope: str, rate: Rate) -> _Bucket:
        return self._buckets.setdefault((method, scope), _Bucket(rate))

    def acquire(self, method: str, channel: str | None = None) -> float:
        """0.0: call now (the slot is taken). Otherwise the seconds until this call's slot,
        which is reserved for whoever comes back for it then."""
        with self._lock:
            now = self._now()
            buckets = [self._bucket(*key) for key in self._keys(method, channel)]
            waits = [self._wait(bucket, now) for bucket in buckets]
            wait = max(waits, default=0.0)
            if wait <= 0.0:
                for bucket in buckets:
                    if bucket.tickets and bucket.tickets[0] <= now:
                        bucket.tickets.popleft()  # a reserved slot, counted when reserved
                    else:
                        self._take(bucket, now)
                return 0.0
            for bucket in buckets:  # reserve the slot in every bucket this call needs
                self._take(bucket, now + wait)
                bucket.tickets.append(now + wait)
            return wait

    def _wait(self, bucket: _Bucket, now: float) -> float:
        while bucket.tickets and bucket.tickets[0] < now - TICKET_GRACE:
            bucket.tickets.popleft()  # its holder never came back: the slot is gone
        if bucket.tickets and bucket.tickets[0] <= now:
            return -1.0  # a reserved slot is due: it is this caller's
        # The later of a Retry-After's end and the next slot at the pace: callers who come
        # during a pause line up one slot apart after it instead of all going at its end.
        tolerance = (bucket.rate.burst - 1) / bucket.rate.per_second
        wait = max(bucket.paused_until, bucket.tat - tolerance) - now
        return wait if wait > 1e-9 else 0.0

    @staticmethod
    def _take(bucket: _Bucket, at: float) -> None:
        bucket.tat = max(bucket.tat, at) + 1.0 / bucket.rate.per_second

    def pause(self, method: str, channel: str | None, seconds: float) -> None:
        """Slack answered 429 with Retry-After `seconds`: no call of this method (in this
        channel, for the per-channel methods) before then. Slots reserved meanwhile are void."""
        with self._lock:
            until = self._now() + max(seconds, 0.0)
            scope = channel if method in PER_CHANNEL and channel else ""
            bucket = self._bucket(method, scope, self._rate_of(method, scope))
            bucket.paused_until = max(bucket.paused_until, until)
            # then one call at `until` and the steady pace after it, no burst into a new 429
            tolerance = (bucket.rate.burst - 1) / bucket.rate.per_second
            bucket.tat = until + tolerance  # the void reservations no longer count
            bucket.tickets.clear()

    def _rate_of(self, method: str, scope: str) -> Rate:
        if scope:
            return self._channel_rate
        rate = tier_rate(METHOD_TIER.get(method, DEFAULT_TIER))
        return Rate(rate.per_second * self._scale, rate.burst)
