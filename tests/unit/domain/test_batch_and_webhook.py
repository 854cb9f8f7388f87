"""Webhook bodies split into events byte-for-byte, and the HMAC signature rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import webhook
from app.domain.batch import BatchTooLarge, BodyError, split_events

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_single_event_is_the_whole_body() -> None:
    """A body that is one event is kept exactly as received."""
    body = '{"event_id": "e1",  "amount": "1.10"}'
    assert split_events(body) == [body]


def test_batch_items_keep_their_exact_bytes() -> None:
    """Each event of a batch is kept as the exact text it had in the body."""
    body = '{ "events" : [ {"a": 1.50 , "b":[1, 2]},\n{"c": "x"} ] }'
    assert split_events(body) == ['{"a": 1.50 , "b":[1, 2]}', '{"c": "x"}']


@pytest.mark.parametrize(
    "body",
    [
        '{"events": []}',
        '{"events": {}}',
        '{"events": [], "x": 1}',
        '{"events": [1], "events": [2]}',
        '{"events": [1,,2]}',
        '{"events": [1] [2]}',
    ],
)
def test_malformed_batches_are_refused(body: str) -> None:
    """An empty batch, a batch with extra or repeated keys, or an undelimitable list is refused."""
    with pytest.raises(BodyError):
        split_events(body)


def test_batch_over_1000_is_too_large() -> None:
    """A batch of 1,001 events is refused as too large."""
    body = '{"events": [' + ",".join(["{}"] * 1001) + "]}"
    with pytest.raises(BatchTooLarge):
        split_events(body)


def test_signature_round_trip() -> None:
    """A body signed with the secret and a fresh timestamp verifies."""
    stamp = int(NOW.timestamp())
    body = b'{"x": 1}'
    webhook.verify("s3cret", str(stamp), webhook.sign("s3cret", stamp, body), body, NOW)


@pytest.mark.parametrize(
    ("secret", "skew", "tamper", "why"),
    [
        ("wrong", 0, False, "does not match"),
        ("s3cret", 301, False, "stale"),
        ("s3cret", -301, False, "stale"),
        ("s3cret", 0, True, "does not match"),
    ],
)
def test_bad_signatures_are_refused(secret: str, skew: int, tamper: bool, why: str) -> None:
    """A wrong secret, a timestamp over 300 s away or an altered body is refused."""
    stamp = int(NOW.timestamp()) + skew
    body = b'{"x": 1}'
    signature = webhook.sign(secret, stamp, body)
    with pytest.raises(webhook.SignatureError, match=why):
        webhook.verify("s3cret", str(stamp), signature, body + (b" " if tamper else b""), NOW)
