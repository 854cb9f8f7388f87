"""Hostile input against a running `countersign serve`: every event its own answer and kept,
authentication before anything else, other workspaces refused, bounded memory."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from app.sandbox.local import SIGNING_SECRET
from app.sandbox.slack_delivery import FORM, SlackDelivery
from app.slack.ids import ActionId
from tests.e2e.harness import wait_for
from tests.e2e.hostile import Target, event, target

DEEP = '{"x": ' + "[" * 1000 + "]" * 1000 + "}"
POISONS: dict[str, bytes] = {
    "nesting 1000 deep": json.dumps(event("p1")).replace('"details": {}', f'"details": {DEEP}'),
    "a 5000-digit integer": json.dumps(event("p2", details={"n": 0})).replace(
        '"n": 0', '"n": ' + "7" * 5000
    ),
    "exponent 1e999999999999999999999": json.dumps(event("p3", details={"n": 0})).replace(
        '"n": 0', '"n": 1e999999999999999999999'
    ),
    "lone surrogate in event_id": json.dumps(event("\ud800-p4")),
    "lone surrogate in source": json.dumps(event("p5", source="crm-\udfff")),
    "NUL in a name": json.dumps(event("p6", customer={"id": "C-1", "name": "A\u0000B"})),
    "amount 1e400": json.dumps(
        event("p7", invoice={"key": "K", "currency": "USD", "amount": "1e400"})
    ),
    "amount -5": json.dumps(event("p8", invoice={"key": "K", "currency": "USD", "amount": "-5"})),
    "amount 0": json.dumps(event("p9", invoice={"key": "K", "currency": "USD", "amount": "0"})),
    "amount 10^18": json.dumps(
        event("p10", invoice={"key": "K", "currency": "USD", "amount": "1" + "0" * 18})
    ),
    "amount with 7 places": json.dumps(
        event("p11", invoice={"key": "K", "currency": "USD", "amount": "1.1234567"})
    ),
    "duplicate keys": json.dumps(event("p12")).replace(
        '"event_id": "p12"', '"event_id": "p12", "event_id": "p13"'
    ),
    "not an object": "[1, 2, 3]",
}
POISON_BYTES = {name: text.encode("utf-8", "surrogatepass") for name, text in POISONS.items()}
POISON_BYTES["invalid UTF-8"] = (
    json.dumps(event("p14", reason="bad \x00")).encode().replace(b"\\u0000", b"\xff\xfe")
)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Target]:
    """`countersign serve` on each backend, with the emulators."""
    with target(database_url, tmp_path) as running:
        yield running


def _batch(items: list[bytes]) -> bytes:
    return b'{"events": [' + b", ".join(items) + b"]}"


def test_a_poisoned_batch_answers_every_event_and_keeps_each_one(served: Target) -> None:
    """[good, 14 poisons, good]: 200, both goods created, every poison rejected and stored
    with its reason and the sha256 of its exact bytes; a retry gives the same answers."""
    goods = [json.dumps(event("good-1")).encode(), json.dumps(event("good-2")).encode()]
    poisons = list(POISON_BYTES.values())
    body = _batch([goods[0], *poisons, goods[1]])
    first = served.post_signed(body)
    assert first.status_code == 200, first.text
    statuses = [r["status"] for r in first.json()["results"]]
    assert statuses == ["created"] + ["rejected"] * len(poisons) + ["created"]
    assert served.counts() == (2, len(poisons))
    rows = served.rejected()
    assert [row.sha256 for row in rows] == [hashlib.sha256(p).hexdigest() for p in poisons]
    assert all(row.errors and row.errors[0]["message"] for row in rows)
    by_name = dict(zip(POISON_BYTES, rows, strict=True))
    assert by_name["lone surrogate in event_id"].event_id == "\\ud800-p4"
    assert "\\xff\\xfe" in by_name["invalid UTF-8"].payload
    assert "duplicate key" in by_name["duplicate keys"].errors[0]["message"]
    assert "nested deeper" in by_name["nesting 1000 deep"].errors[0]["message"]

    again = served.post_signed(body)
    assert [r["status"] for r in again.json()["results"]] == (
        ["duplicate"] + ["rejected"] * len(poisons) + ["duplicate"]
    )
    assert served.counts() == (2, 2 * len(poisons))
    served.wait_at_rest()
    assert len(served.slack.messages("C0BILLING")) == 2


def test_a_single_event_is_answered_on_its_own_and_kept(served: Target) -> None:
    """One poisoned event is a 422 and stored; garbage is an event too; a bad batch is a 400."""
    for poison in POISON_BYTES.values():
        answer = served.post_signed(poison)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"]
    assert served.post_signed(b"not json \x00 at all").status_code == 422
    assert served.post_signed(b'{"events": []}').status_code == 400
    assert served.post_signed(b'{"events": [1], "events": [2]}').status_code == 400
    assert served.send(event("fine")).status_code == 202
    assert served.counts() == (1, len(POISON_BYTES) + 1)
    served.wait_at_rest()


def _raw_post(url: str, path: str, headers: dict[str, str]) -> int:
    """Send only a request head (no body) and read the status: nothing else is needed."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        conn.sendall(head.encode("latin-1"))
        return int(conn.recv(200).split(b" ")[1])


ODD_AUTH = [
    ("²", None),
    ("1.5", None),
    ("9" * 5000, None),
    ("", None),
    (None, "v1=é"),
    (None, "v1=" + "z" * 64),
    (None, ""),
]


def test_webhook_refuses_odd_authentication_with_401(sqlite_url: str, tmp_path: Path) -> None:
    """Odd timestamps or signatures (superscript digits, 5,000 digits, non-ASCII) are a 401."""
    with target(sqlite_url, tmp_path) as served:
        body = json.dumps(event()).encode()
        signed = served.post_signed(body).request.headers
        for stamp, signature in ODD_AUTH:
            headers = {
                "Content-Type": "application/json",
                "X-Countersign-Timestamp": stamp or signed["x-countersign-timestamp"],
                "X-Countersign-Signature": signature or signed["x-countersign-signature"],
            }
            if stamp == "" or signature == "":
                headers = {k: v for k, v in headers.items() if k == "Content-Type"}
            answer = served.http.post(
                f"{served.url}/billing-events", content=body, headers=_latin1(headers)
            )
            assert answer.status_code == 401, (stamp, signature)
        assert served.counts() == (1, 0)
        served.wait_at_rest()


def _latin1(headers: dict[str, str]) -> dict[str, bytes]:
    return {
        k: v.encode("latin-1", "replace") if not v.isascii() else v.encode()
        for k, v in headers.items()
    }


def test_declared_oversize_bodies_are_413_before_reading(sqlite_url: str, tmp_path: Path) -> None:
    """A Content-Length over the cap is refused at once, on both endpoints, unread."""
    with target(sqlite_url, tmp_path) as served:
        big = {"Content-Type": "application/json", "Content-Length": str(50 * 1024 * 1024)}
        assert _raw_post(served.url, "/billing-events", big) == 413
        assert _raw_post(served.url, "/slack/events", big) == 413
        assert served.counts() == (0, 0)


MARKER = "UNSIGNED-BODY-MARKER"


def test_slack_refuses_unsigned_and_malformed_requests_before_bolt(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Unsigned or odd-stamped requests are 401 and never logged; signed but malformed ones
    (invalid UTF-8, bad JSON, a list, a deep payload, odd field types) are 400."""
    with target(sqlite_url, tmp_path) as served:
        bodies = [
            MARKER.encode() + b"\xff\xfe",
            b'{"' + MARKER.encode() + b'": ',
            b'["' + MARKER.encode() + b'"]',
            urlencode({"payload": json.dumps({"type": MARKER})}).encode(),
        ]
        for stamp in ("1.5", "²", "9" * 5000, str(int(time.time()))):
            for body in bodies:
                headers = {
                    "Content-Type": FORM,
                    "X-Slack-Request-Timestamp": stamp,
                    "X-Slack-Signature": "v0=" + "0" * 64,
                }
                status = served.http.post(
                    f"{served.url}/slack/events", content=body, headers=_latin1(headers)
                ).status_code
                assert status == 401
        delivery = served.delivery
        malformed = [
            (b"\xff\xfe", FORM),
            (b'{"type": ', "application/json"),
            (b"[1, 2]", "application/json"),
            (urlencode({"payload": "[1]"}).encode(), FORM),
            (urlencode({"payload": "[" * 100 + "]" * 100}).encode(), FORM),
            (json.dumps({"type": "block_actions", "team": 5}).encode(), "application/json"),
            (
                json.dumps({"type": "event_callback", "authorizations": 7}).encode(),
                "application/json",
            ),
        ]
        for body, content_type in malformed:
            assert delivery.send_raw(body, content_type).status_code == 400, body
        assert MARKER not in served.log.read_text(errors="replace")


def test_other_workspaces_are_refused_and_huge_ids_answered(
    database_url: str, tmp_path: Path
) -> None:
    """A command or click from another team id is a 401, logged, and decides nothing; the
    installed team is served; `show 9999999999999999999999999` is a clear answer, not a 500."""
    with target(database_url, tmp_path) as served:
        assert served.send(event("team-1")).status_code == 202
        card = wait_for(lambda: served.slack.messages("C0BILLING"), what="a card")[0]
        with SlackDelivery(
            app_url=served.delivery.app_url,
            signing_secret=SIGNING_SECRET,
            emulator_url=served.slack.url,
            team_id="T0INTRUDER",
        ) as outsider:
            assert outsider.slash_command("list", "U0FINMGR1").status_code == 401
            assert (
                outsider.click("C0BILLING", card.ts, ActionId.APPROVE, "U0FINMGR1").status_code
                == 401
            )
        answer = served.delivery.slash_command("show 9999999999999999999999999", "U0FINMGR1")
        assert answer.status_code == 200
        assert "is not an exception id" in answer.text
        assert served.delivery.slash_command("list", "U0FINMGR1").status_code == 200
        time.sleep(0.5)  # a wrongly accepted click would have decided by now
        assert _decisions(served) == 0
        assert "slack.other_team_refused" in served.log.read_text()
        served.wait_at_rest()


def _decisions(served: Target) -> int:
    from sqlmodel import select

    from app.store.tables import AuditEntryRow

    with served.db.transaction() as session:
        actions = list(session.exec(select(AuditEntryRow.action)))
    return sum(1 for action in actions if action.startswith("decision"))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_200_mib_unsigned_body_is_413_and_memory_stays_flat(
    sqlite_url: str, tmp_path: Path
) -> None:
    """200 MiB streamed unsigned to /slack/events (no Content-Length): 413, and the server's
    RSS grows by less than the 1 MiB cap plus 16 MiB."""
    with target(sqlite_url, tmp_path) as served:
        before, peak, done = _rss_kib(served.pid), [0], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_kib(served.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        chunk = b"x" * (1024 * 1024)

        def body() -> Iterator[bytes]:
            for _ in range(200):
                yield chunk

        try:
            answer = served.http.post(
                f"{served.url}/slack/events",
                content=body(),
                headers={"Content-Type": FORM, "X-Slack-Request-Timestamp": "1"},
            )
        finally:
            done.set()
            sampler.join()
        growth_mib = (peak[0] - before) / 1024
        print(f"RSS before {before / 1024:.1f} MiB, peak {peak[0] / 1024:.1f} MiB")
        assert answer.status_code == 413
        assert growth_mib < 1 + 16
        assert MARKER not in served.log.read_text(errors="replace")
