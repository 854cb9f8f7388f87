"""The packet as one self-contained, print-ready HTML page (inline CSS, no external assets)."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from app.flows.ports import DecisionLine, ExceptionCard
from app.slack.render import BlockRenderer

_CSS = """
body { font: 11pt/1.4 system-ui, sans-serif; color: #111; margin: 2em auto; max-width: 60em; }
h1 { font-size: 18pt; margin-bottom: 0; } h2 { font-size: 13pt; border-bottom: 1px solid #999;
  margin-top: 1.6em; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: .4em 0; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top;
  overflow-wrap: break-word; }
th { white-space: nowrap; } td.mono { overflow-wrap: anywhere; }
th { background: #eee; } .mono, pre { font: 8.5pt/1.3 ui-monospace, monospace; }
pre { white-space: pre-wrap; word-break: break-all; background: #f6f6f6; padding: 6px; }
.note { color: #8a4b00; } .card { border: 1px solid #999; padding: 6px; margin: .6em 0;
  break-inside: avoid; }
tr { break-inside: avoid; }
@media print { body { margin: 0; max-width: none; } @page { size: A4; margin: 15mm; } }
"""


def _e(value: Any) -> str:
    return escape("—" if value is None else str(value))


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def card_text(facts: dict[str, Any]) -> str:
    """What the card showed as Slack renders it: the blocks' text, re-rendered from the facts
    recorded in the audit with the templates of this Countersign."""
    card = ExceptionCard(
        **{k: v for k, v in facts.items() if k not in ("figures", "approvers", "decisions")},
        figures=tuple((str(a), str(b)) for a, b in facts.get("figures", [])),
        approvers=tuple(facts.get("approvers", [])),
        decisions=tuple(DecisionLine(**d) for d in facts.get("decisions", [])),
    )
    _, blocks = BlockRenderer().card(card)
    lines: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            lines.append(str(block["text"].get("text", "")))
        for part in block.get("fields", []) + block.get("elements", []):
            if isinstance(part, dict):
                text = part.get("text")
                lines.append(str(text.get("text", "") if isinstance(text, dict) else text or ""))
    return _as_seen("\n".join(line for line in lines if line))


def _as_seen(text: str) -> str:
    """mrkdwn as Slack shows it: mentions as @id, and its three escapes undone."""
    text = re.sub(r"<@([UW][A-Z0-9]+)>", r"@\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render(packet: dict[str, Any]) -> str:
    x = packet["exception"]
    route, invoice, audit = packet["route"], packet["invoice"], packet["audit"]
    parts = [
        f"<h1>Evidence packet {_e(x['label'])}</h1>",
        f"<p>Generated {_e(packet['generated_at'])} (UTC). The JSON beside this page holds the"
        " same facts; <code>countersign evidence verify DIR</code> re-checks every hash.</p>",
        "<h2>Exception</h2>",
        _table([(k.replace("_", " "), v) for k, v in x.items()]),
        "<h2>Event as received</h2>",
    ]
    event = packet.get("event")
    if event is None:
        parts.append("<p class=note>no stored event</p>")
    else:
        parts.append(_table([(k, v) for k, v in event.items() if k != "payload"]))
        parts.append(f"<pre>{_e(event['payload'])}</pre>")
    parts += [
        "<h2>Route and policy</h2>",
        _table([("route", route["name"]), ("why it matched", route["why"])]),
        _table([("policy hash", route["policy_hash"])]),
        "".join(
            f"<h4>{_e(file['path'])}</h4><pre>{_e(file['text'])}</pre>"
            for file in route["policy_files"]
        )
        if route["policy_files"] is not None
        else f"<p class=note>{_e(route['policy_note'])}</p>",
        f"<pre>{_e(json.dumps(route['steps'], indent=1))}</pre>",
        "<h2>Cards shown</h2>",
    ]
    for card in packet["cards"]:
        parts.append(
            f"<div class=card><b>{_e(card['action'])}</b> at {_e(card['at'])} in"
            f" {_e(card['channel'])} (ts {_e(card['ts'])}, audit entry {_e(card['seq'])})<br>"
            f"<span class=mono>card sha256 {_e(card['card_sha256'])}</span>"
            f"<pre>{_e(card_text(card['card']) if card['card'] else 'not recorded')}</pre></div>"
        )
    if not packet["cards"]:
        parts.append("<p class=note>no card was shown (auto-approved, or not posted)</p>")
    parts.append("<h2>Decisions</h2>")
    head = ("step", "outcome", "slack_id", "email", "name", "on_behalf_of", "decided_at", "reason")
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{_e(d[k])}</td>" for k in head)
        + f"<td>{'set aside: the step was asked again' if d.get('set_aside') else ''}</td></tr>"
        for d in packet["decisions"]
    )
    th = "".join(f"<th>{_e(k.replace('_', ' '))}</th>" for k in (*head, "note"))
    parts.append(f"<table><tr>{th}</tr>{rows}</table>")
    parts += [
        "<h2>Invoice</h2><h3>As approved</h3>",
        _table(list(invoice["as_approved"].items())),
        "<h3>As released (Intacct's answer)</h3>",
        _table(list(invoice["as_released"].items()))
        if invoice["as_released"]
        else "<p class=note>not released</p>",
        "<h2>Audit entries</h2>",
    ]
    rows = "".join(
        f"<tr><td>{_e(e['seq'])}</td><td>{_e(e['at'])}</td><td>{_e(e['actor'])}</td>"
        f"<td>{_e(e['action'])}</td></tr><tr><td colspan=4 class=mono>"
        f"{_e(json.dumps(e['detail'], ensure_ascii=False))}<br>prev {_e(e['prev_hash'])}<br>"
        f"hash {_e(e['hash'])}</td></tr>"
        for e in audit["entries"]
    )
    parts.append(
        f"<table><tr><th>seq</th><th>at (UTC)</th><th>actor</th><th>action</th></tr>{rows}</table>"
    )
    proof = audit["proof"]
    parts.append("<h2>Proof of the chain</h2>")
    if proof:
        end = proof["ends_at"]
        parts.append(
            _table(
                [
                    ("from entry", proof["from_seq"]),
                    ("previous hash", proof["start_prev_hash"]),
                    ("links", len(proof["links"])),
                    ("ends at", f"{end['kind']} entry {end['seq']}"),
                    ("end hash", end["hash"]),
                    ("checkpoint time", end.get("at")),
                    ("checkpoint signature", end.get("sig")),
                    ("note", proof["note"]),
                ]
            )
        )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Evidence {_e(x['label'])}</title><style>{_CSS}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
