"""Property-based fuzzing of a running `countersign serve` over real HTTP, on both databases.

Bounded for CI: COUNTERSIGN_FUZZ_EXAMPLES (400 by default) webhook requests per database and
twice as many Slack requests, 1,600 requests and about 2,100 events in all; raise it to fuzz
longer. Properties: no answer is ever a 5xx; every webhook event that
got an answer is stored (accepted in billing_event, rejected in rejected_event, counts equal);
unsigned Slack requests are a 401; signed ones, however odd, never a 5xx."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import webhook
from app.sandbox.local import WEBHOOK_SECRET
from app.sandbox.slack_delivery import FORM
from app.slack.ids import ActionId, CallbackId
from tests.e2e.hostile import Target, event, target

EXAMPLES = int(os.environ.get("COUNTERSIGN_FUZZ_EXAMPLES", "400"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
SLACK_FUZZ = settings(FUZZ, max_examples=2 * EXAMPLES)
EVENT_IDS = [f"fz-{n}" for n in range(12)]  # few distinct accepted events: few cards to post

# --- hostile values --------------------------------------------------------------------------

deep = st.integers(20, 1500).map(lambda n: "[" * n + "]" * n)
big_int = st.integers(90, 6000).map(lambda n: "9" * n)
odd_number = st.sampled_from(
    ["1e999999999999999999999", "1e400", "-1e-400", "NaN", "Infinity", "-0", "1.5e308", "0e0"]
)
bad_string = st.text(
    st.sampled_from(["\x00", "\ud800", "\udfff", "a", "é", "\u2028", "\\", '"', "²"]),
    min_size=1,
    max_size=12,
)
huge_string = st.integers(150, 200_000).map(lambda n: "x" * n)
amount = st.one_of(
    st.sampled_from(
        ["0", "-5", "1e400", "1" + "0" * 18, "999999999999999999.999999", "1.1234567", "٣", "1_0"]
    ),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
)
wrong_type = st.one_of(
    st.none(), st.booleans(), st.integers(), st.lists(st.integers(), max_size=3), st.just({})
)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    ("event_id",),
    ("source",),
    ("type",),
    ("occurred_at",),
    ("customer", "name"),
    ("customer", "id"),
    ("invoice", "amount"),
    ("invoice", "currency"),
    ("invoice", "key"),
    ("details", "x"),
    ("reason",),
]


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        document = document.setdefault(key, {})
    document[path[-1]] = value


@st.composite
def hostile_event(draw: st.DrawFn) -> bytes:
    """A valid event, or one with one hostile change, as the exact bytes sent."""
    document = event(draw(st.sampled_from(EVENT_IDS)))
    kind = draw(st.sampled_from(["valid", "value", "raw", "duplicate", "utf8", "garbage"]))
    if kind == "value":
        value = draw(st.one_of(bad_string, huge_string, amount, wrong_type, json_value))
        _set(document, draw(st.sampled_from(FIELDS)), value)
    text = json.dumps(document)
    if kind == "raw":  # text JSON cannot express as a Python value: deep, long, odd numbers
        raw = draw(st.one_of(deep, big_int, odd_number))
        text = text.replace('"details": {}', f'"details": {{"x": {raw}}}')
    elif kind == "duplicate":
        text = text.replace('"source": "fuzz"', '"source": "fuzz", "source": "other"')
    elif kind == "garbage":
        text = draw(st.text(st.sampled_from('{}[]",:0123456789.eE-tfnul \\x'), max_size=60))
    data = text.encode("utf-8", "surrogatepass")
    if kind == "utf8":
        at = draw(st.integers(0, len(data)))
        data = (
            data[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))
            + data[at:]
        )
    return data


@st.composite
def webhook_body(draw: st.DrawFn) -> tuple[bytes, str]:
    """(body, how it is signed): one event or a batch, signed, unsigned or badly stamped."""
    if draw(st.booleans()):
        body = draw(hostile_event())
    else:
        items = draw(st.lists(hostile_event(), min_size=1, max_size=6))
        body = b'{"events": [' + b", ".join(items) + b"]}"
    return body, draw(st.sampled_from(["signed"] * 8 + ["unsigned", "odd-stamp"]))


def _expect(answer: httpx.Response, tally: Counter[str]) -> None:
    """Check one webhook answer and count the rows it promises."""
    assert answer.status_code < 500, answer.text
    if answer.status_code in (202, 200) and "results" not in answer.json():
        tally["accepted"] += answer.status_code == 202
    elif answer.status_code == 422:
        tally["rejected"] += 1
    elif answer.status_code == 200:
        for result in answer.json()["results"]:
            tally["accepted"] += result["status"] == "created"
            tally["rejected"] += result["status"] == "rejected"
    tally[str(answer.status_code)] += 1  # (other keys count rows and time)


def _fuzz_webhook(served: Target) -> Counter[str]:
    tally: Counter[str] = Counter()

    @FUZZ
    @given(webhook_body())
    def one(case: tuple[bytes, str]) -> None:
        body, how = case
        headers = webhook.signed_headers("not-the-secret", int(time.time()), body)
        if how == "signed":
            headers = webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)
        elif how == "odd-stamp":
            headers["X-Countersign-Timestamp"] = "1.5"
        started = time.perf_counter()
        answer = served.http.post(f"{served.url}/billing-events", content=body, headers=headers)
        tally["http_ms"] += int((time.perf_counter() - started) * 1000)
        if how != "signed":
            assert answer.status_code == 401
        _expect(answer, tally)

    one()
    return tally


def test_fuzzed_webhook_never_5xx_and_keeps_every_answered_event(
    database_url: str, tmp_path: Path
) -> None:
    """Hostile webhook bodies: never a 5xx; rows in billing_event/rejected_event match answers."""
    with target(database_url, tmp_path) as served:
        tally = _fuzz_webhook(served)
        print(f"webhook fuzz on {database_url.split(':')[0]}: {EXAMPLES} cases, {dict(tally)}")
        assert served.counts() == (tally["accepted"], tally["rejected"])
        assert not any(status.startswith("5") for status in tally)
        served.wait_at_rest()


# --- Slack ------------------------------------------------------------------------------------

slack_text = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["show 9999999999999999999999999", "show BX-²", "list", "help", "show 0"]),
)


@st.composite
def slack_payload(draw: st.DrawFn) -> dict[str, Any]:
    """A Slack-shaped payload whose values may be of any type."""
    kind = draw(st.sampled_from(["block_actions", "view_submission", "event_callback", "junk"]))
    team: Any = {"id": "T0SANDBOX"}
    user: Any = {"id": draw(st.sampled_from(["U0FINMGR1", "U0OUTSIDER"])), "team_id": "T0SANDBOX"}
    if draw(st.integers(0, 9)) >= 7:  # mostly the installed team, so listeners get exercised
        team = draw(st.one_of(st.just({"id": "T0OTHER"}), wrong_type, json_value))
        user = draw(st.one_of(st.just({"id": "U0FINMGR1", "team_id": "T0OTHER"}), wrong_type))
    if kind == "block_actions":
        action = {
            "action_id": draw(st.sampled_from([ActionId.APPROVE, ActionId.REJECT, "other"])),
            "value": draw(st.one_of(st.text(max_size=12), wrong_type, st.just("9" * 30))),
        }
        actions = draw(st.one_of(st.just([action]), wrong_type))
        return {"type": kind, "team": team, "user": user, "actions": actions, "trigger_id": "t"}
    if kind == "view_submission":
        view = {
            "callback_id": CallbackId.REJECT_MODAL,
            "private_metadata": draw(st.one_of(st.text(max_size=12), wrong_type)),
            "state": draw(st.one_of(json_value, wrong_type)),
        }
        return {
            "type": kind,
            "team": team,
            "user": user,
            "view": draw(st.one_of(st.just(view), wrong_type)),
        }
    if kind == "event_callback":
        return {
            "type": kind,
            "team_id": draw(st.one_of(st.just("T0SANDBOX"), wrong_type)),
            "event": draw(
                st.one_of(json_value, st.just({"type": "app_home_opened", "user": "U0FINMGR1"}))
            ),
            "authorizations": draw(st.one_of(wrong_type, st.just([{"team_id": "T0SANDBOX"}]))),
        }
    value = draw(json_value)
    return value if isinstance(value, dict) else {"value": value}


@st.composite
def slack_request(draw: st.DrawFn) -> tuple[bytes, str]:
    """(body, content type): form, JSON, a form with a payload, or arbitrary bytes."""
    shape = draw(st.sampled_from(["command", "payload", "json", "bytes", "deep"]))
    if shape == "command":
        fields = {
            "team_id": draw(st.sampled_from(["T0SANDBOX", "T0OTHER", ""])),
            "enterprise_id": draw(st.sampled_from(["", "E0OTHER"])),
            "user_id": "U0FINMGR1",
            "channel_id": "C0BILLING",
            "command": draw(st.sampled_from(["/billing-exceptions", "/other"])),
            "text": draw(slack_text),
        }
        return urlencode(fields).encode(), FORM
    if shape == "payload":
        return urlencode({"payload": json.dumps(draw(slack_payload()))}).encode(), FORM
    if shape == "json":
        return json.dumps(draw(slack_payload())).encode(), "application/json"
    if shape == "deep":
        return draw(deep).encode(), draw(st.sampled_from(["application/json", FORM]))
    return draw(st.binary(max_size=200)), draw(
        st.sampled_from(["application/json", FORM, "text/plain"])
    )


def test_fuzzed_slack_requests_never_5xx(sqlite_url: str, tmp_path: Path) -> None:
    """Signed odd Slack requests never get a 5xx; unsigned ones are always a 401."""
    tally: Counter[str] = Counter()
    with target(sqlite_url, tmp_path) as served:

        @SLACK_FUZZ
        @given(slack_request(), st.sampled_from(["signed"] * 3 + ["unsigned", "odd-stamp"]))
        def one(request: tuple[bytes, str], how: str) -> None:
            body, content_type = request
            if how == "signed":
                answer = served.delivery.send_raw(body, content_type)
            elif how == "unsigned":
                answer = served.delivery.send_raw(body, content_type, signature="v0=" + "0" * 64)
            else:
                answer = served.delivery.send_raw(body, content_type, timestamp=1, signature="1.5")
            if how != "signed":
                assert answer.status_code == 401
            assert answer.status_code < 500, (body[:200], answer.text)
            tally[f"{how} {answer.status_code}"] += 1

        one()
        print(f"slack fuzz: {2 * EXAMPLES} cases, {dict(tally)}")
        assert not any(" 5" in key for key in tally)
