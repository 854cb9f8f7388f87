"""Slack requests are verified on the raw bytes and checked for shape before Bolt sees them."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.slack import inbound

SECRET = "unit-signing-secret"
NOW = 1_800_000_000


def _headers(body: bytes, stamp: str = str(NOW)) -> dict[str, str]:
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": stamp, "x-slack-signature": signature}


def test_invalid_utf8_is_verified_on_its_bytes_then_refused_as_400() -> None:
    """A signed body that is not UTF-8 passes the signature check and is then a 400."""
    body = b"payload=\xff\xfe"
    inbound.verify(SECRET, _headers(body), body, NOW)
    with pytest.raises(inbound.Refused) as refused:
        inbound.decode(body, "application/x-www-form-urlencoded")
    assert refused.value.status == 400


@pytest.mark.parametrize("stamp", ["1.5", "²", "9" * 5000, "", " 1800000000"])
def test_odd_timestamps_are_401_not_an_exception(stamp: str) -> None:
    """A timestamp that is not 1-12 ASCII digits is refused as unsigned."""
    body = b"x=1"
    with pytest.raises(inbound.Refused) as refused:
        inbound.verify(SECRET, _headers(body, stamp), body, NOW)
    assert refused.value.status == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[1]", "application/json"),
        (b'{"a": ', None),
        (b"payload=%5B1%5D", None),
        (b"payload=" + b"%5B" * 100 + b"%5D" * 100, None),
    ],
)
def test_bodies_bolt_cannot_parse_are_400(body: bytes, content_type: str | None) -> None:
    """A JSON list, bad JSON, a payload that is a list or nested 100 deep is a 400."""
    with pytest.raises(inbound.Refused) as refused:
        inbound.decode(body, content_type)
    assert refused.value.status == 400
