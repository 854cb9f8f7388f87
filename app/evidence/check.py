"""Check an evidence packet on its own, without the database: every file against SHA256SUMS,
the event against its sha256, every audit entry and card against its hash, the decisions and
the invoice against the audit entries that recorded them, and the chain from the exception's
first entry to the checkpoint (whose signature is checked when the anchor key is given)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.domain.invoice import FULL_PREFIX, InvoiceSnapshot
from app.routing.loader import content_hash
from app.store import canonical_json
from app.store.audit import chain_hash

SUMS = "SHA256SUMS"
PACKET = "packet.json"


class PacketBroken(Exception):
    """The packet does not hold: the message names what."""


class PacketUnreadable(Exception):
    """The folder is not a packet (no SHA256SUMS or packet.json, not JSON)."""


@dataclass(frozen=True)
class PacketCheck:
    label: str
    entries: int
    links: int
    ends_at: str  # "checkpoint" or "head"
    signature_checked: bool


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def sums_text(folder: Path, names: list[str]) -> str:
    """SHA256SUMS in the form `sha256sum -c` reads."""
    return "".join(f"{sha256_file(folder / name)}  {name}\n" for name in names)


def verify(folder: Path, anchor_key: str | None) -> PacketCheck:
    packet = _read(folder)
    _check(PACKET in _files(folder), f"{PACKET} is not listed in {SUMS}")
    label = str(packet["exception"]["label"])
    entries = packet["audit"]["entries"]
    by_seq = {int(entry["seq"]): entry for entry in entries}
    for entry in entries:
        _entry(entry, packet["exception"]["id"])
    opened = next((e["detail"] for e in entries if e["action"] == "exception.opened"), None)
    _event(packet.get("event"), opened)
    _route(packet["route"], opened)
    for card in packet["cards"]:
        _card(card, by_seq)
    shown = {card["seq"] for card in packet["cards"]}
    for entry in entries:
        if entry["action"] in ("card.posted", "card.updated") and entry["seq"] not in shown:
            raise PacketBroken(f"the card of audit entry {entry['seq']} is missing")
    for decision in packet["decisions"]:
        _decision(decision, by_seq)
    listed = {decision["audit_seq"] for decision in packet["decisions"]}
    for entry in entries:
        if entry["action"] == "decision.recorded" and entry["seq"] not in listed:
            raise PacketBroken(f"the decision of audit entry {entry['seq']} is missing")
    _invoice(packet["invoice"], opened, by_seq)
    proof = packet["audit"]["proof"]
    signed = _proof(proof, by_seq, packet["exception"]["id"], anchor_key) if proof else False
    return PacketCheck(
        label,
        len(entries),
        len(proof["links"]) if proof else 0,
        proof["ends_at"]["kind"] if proof else "none",
        signed,
    )


def _check(ok: bool, problem: str) -> None:
    if not ok:
        raise PacketBroken(problem)


def _read(folder: Path) -> Any:
    sums = folder / SUMS
    if not (folder / PACKET).is_file() or not sums.is_file():
        raise PacketUnreadable(f"{folder}: not an evidence packet (no {PACKET} or {SUMS})")
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        target = folder / name
        if "/" in name or not target.is_file():
            raise PacketBroken(f"{name}: listed in {SUMS} but missing")
        _check(sha256_file(target) == digest, f"{name}: its sha256 differs from {SUMS}")
    try:
        return json.loads((folder / PACKET).read_text(encoding="utf-8"))
    except ValueError:
        raise PacketUnreadable(f"{folder / PACKET}: not JSON") from None


def _files(folder: Path) -> set[str]:
    text = (folder / SUMS).read_text(encoding="utf-8")
    return {line.partition("  ")[2] for line in text.splitlines()}


def _entry(entry: dict[str, Any], exception_id: int) -> None:
    seq = entry["seq"]
    _check(
        chain_hash(entry["prev_hash"], entry["canonical"]) == entry["hash"],
        f"audit entry {seq}: its hash does not match its canonical text",
    )
    hashed = json.loads(entry["canonical"])
    shown = {
        "seq": seq,
        "at": entry["at"],
        "exception_id": exception_id,
        "actor": entry["actor"],
        "action": entry["action"],
        "detail": entry["detail"],
    }
    for name, value in shown.items():
        _check(hashed.get(name) == value, f"audit entry {seq}: its {name} is not what was hashed")


def _event(event: dict[str, Any] | None, opened: dict[str, Any] | None) -> None:
    if event is None:
        _check(
            opened is None or "event_sha256" not in opened,
            "the event is missing, though the audit recorded its sha256",
        )
        return
    digest = hashlib.sha256(event["payload"].encode()).hexdigest()
    _check(digest == event["sha256"], "the event's bytes do not match its sha256")
    if opened is not None and "event_sha256" in opened:
        _check(
            opened["event_sha256"] == digest,
            "the event's sha256 is not the one the audit recorded when it was opened",
        )


def _route(route: dict[str, Any], opened: dict[str, Any] | None) -> None:
    if opened is None:
        return
    for name, key in (("name", "route"), ("why", "why"), ("policy_hash", "policy_hash")):
        _check(route[name] == opened.get(key), f"the route's {name} is not what the audit says")
    files = route.get("policy_files")
    if files is not None:
        sources = [(str(f["path"]), str(f["text"]).encode("utf-8")) for f in files]
        _check(
            content_hash(sources) == route["policy_hash"],
            "the policy text is not the version whose hash routed the exception",
        )


def _card(card: dict[str, Any], by_seq: dict[int, dict[str, Any]]) -> None:
    seq = card["seq"]
    digest = hashlib.sha256(canonical_json.dumps(card["card"]).encode()).hexdigest()
    _check(digest == card["card_sha256"], f"the card of entry {seq}: its facts do not match")
    _check(seq in by_seq, f"the card of entry {seq} has no audit entry")
    detail = by_seq[seq]["detail"]
    _check(
        detail.get("card_sha256") == digest and detail.get("card") == card["card"],
        f"the card of entry {seq} is not the one the audit recorded",
    )


def _decision(decision: dict[str, Any], by_seq: dict[int, dict[str, Any]]) -> None:
    entry = by_seq.get(decision.get("audit_seq") or -1)
    _check(
        entry is not None
        and entry["action"] == "decision.recorded"
        and entry["detail"].get("decision") == decision["id"],
        f"decision {decision['id']} has no audit entry",
    )
    assert entry is not None
    detail = entry["detail"]
    for name, key in (("outcome", "outcome"), ("email", "email"), ("reason", "reason")):
        _check(
            decision[name] == detail.get(key),
            f"decision {decision['id']}: its {name} is not what the audit recorded",
        )
    _check(decision["step"] == detail.get("step", -2) + 1, f"decision {decision['id']}: step")


def _invoice(
    invoice: dict[str, Any], opened: dict[str, Any] | None, by_seq: dict[int, dict[str, Any]]
) -> None:
    approved = invoice["as_approved"]
    claim = InvoiceSnapshot(
        approved["key"], approved["customer_id"], approved["currency"], Decimal(approved["total"])
    ).claim_fingerprint()
    if opened is not None:
        _check(
            opened.get("invoice_fingerprint") == claim,
            "the approved invoice is not the one the audit recorded when it was opened",
        )
    if not str(approved["fingerprint"]).startswith(FULL_PREFIX):
        _check(claim == approved["fingerprint"], "the approved invoice's fingerprint differs")
    else:  # taken from Intacct's record after intake: the read is in the packet and the audit
        read = approved.get("as_read_from_intacct")
        _check(read is not None, "the invoice as read from Intacct is missing")
        full = InvoiceSnapshot.from_material(read).fingerprint()
        _check(full == approved["fingerprint"], "the approved invoice's fingerprint differs")
        _check(
            any(
                e["action"] == "invoice.snapshot_taken" and e["detail"].get("fingerprint") == full
                for e in by_seq.values()
            ),
            "the invoice read from Intacct has no audit entry",
        )
    released = invoice.get("as_released")
    if released is not None:
        _check(released["seq"] in by_seq, "the released invoice has no audit entry")
        detail = by_seq[released["seq"]]["detail"]
        shown = {k: v for k, v in released.items() if k not in ("seq", "at", "outcome")}
        _check(shown == detail, "the released invoice is not what the audit recorded")


def _proof(
    proof: dict[str, Any], by_seq: dict[int, dict[str, Any]], exception_id: int, key: str | None
) -> bool:
    prev = proof["start_prev_hash"]
    expected = proof["from_seq"]
    for link in proof["links"]:
        seq = link["seq"]
        _check(seq == expected, f"the proof skips entry {expected}")
        digest = chain_hash(prev, link["canonical"])
        _check(digest == link["hash"], f"the proof breaks at entry {seq}")
        if seq in by_seq:
            _check(by_seq[seq]["hash"] == digest, f"audit entry {seq} is not in the proof")
        else:  # an entry of this exception left out of the packet's list
            _check(
                json.loads(link["canonical"]).get("exception_id") != exception_id,
                f"audit entry {seq} of this exception is missing from the packet",
            )
        prev, expected = digest, expected + 1
    _check(not (set(by_seq) - {link["seq"] for link in proof["links"]}), "entries left unproved")
    end = proof["ends_at"]
    _check(
        end["seq"] == expected - 1 and end["hash"] == prev,
        f"the proof does not end at the {end['kind']} it names (entry {end['seq']})",
    )
    if end["kind"] != "checkpoint" or key is None:
        return False
    body = {name: end[name] for name in ("seq", "hash", "at", "host")}
    sig = hmac.new(key.encode(), canonical_json.dumps(body).encode(), hashlib.sha256).hexdigest()
    _check(hmac.compare_digest(sig, end["sig"]), "the checkpoint's signature does not match")
    return True
