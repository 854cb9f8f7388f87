"""The file readers of `events import`: records with line numbers, in bounded memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path

import pytest

from app.domain.import_formats import FileFormat, ImportFileError, format_for, read_records

EVENT = {
    "event_id": "x",
    "source": "billing",
    "type": "invoice_dispute",
    "occurred_at": "2026-11-24T15:02:00Z",
    "customer": {"id": "C-1", "name": "Globex GmbH"},
    "invoice": {"key": "INV-KEY-1002", "currency": "EUR", "amount": "1200.00"},
    "details": {"disputed_amount": "150.00"},
}


def test_a_100000_line_jsonl_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """Reading 100,000 JSONL lines (about 30 MB) never holds more than a little of the file."""
    path = tmp_path / "big.jsonl"
    with path.open("w") as file:
        for number in range(100_000):
            file.write(json.dumps(EVENT | {"event_id": f"e-{number}"}) + "\n")
    assert path.stat().st_size > 25_000_000
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            count = last = 0
            for record in read_records(stream, FileFormat.jsonl):
                count, last = count + 1, record.line
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (count, last) == (100_000, 100_000)
    assert peak < 2_000_000


def test_json_items_keep_their_text_and_line() -> None:
    """Each item of a JSON list is its exact text, with the line it starts on; amounts Decimal."""
    text = '[\n  {"a": 1.10},\n\n  {"b": [1,\n 2]}\n]'
    records = list(read_records(io.BytesIO(text.encode()), FileFormat.json))
    assert [(r.line, r.raw) for r in records] == [(2, '{"a": 1.10}'), (4, '{"b": [1,\n 2]}')]
    assert str(records[0].document["a"]) == "1.10"


def test_csv_header_names_the_event_fields() -> None:
    """A CSV column is an event field, a sub-field by dotted path, or any details.* name."""
    good = "event_id,customer.name,details.credit.reason\nx,Globex,late\n"
    (record,) = read_records(io.BytesIO(good.encode()), FileFormat.csv)
    assert record.document == {
        "event_id": "x",
        "customer": {"name": "Globex"},
        "details": {"credit": {"reason": "late"}},
    }
    for header, says in [
        ("event_id,customer.nmae", "customer has customer.id, customer.name, customer.tier"),
        ("event_id,event_id", "appears twice"),
        ("event_id.x", "'event_id' has no sub-fields"),
        ("details", "'details' needs a sub-field"),
        ("details.a,details.a.b", "overlaps another column"),
        ("event_id,", "column 2 has no name"),
    ]:
        with pytest.raises(ImportFileError, match=says):
            list(read_records(io.BytesIO(f"{header}\n".encode()), FileFormat.csv))


def test_a_byte_order_mark_and_undecodable_rows() -> None:
    """A UTF-8 byte-order mark (spreadsheets write one) is dropped; a row that is not UTF-8
    text is flagged, not fatal."""
    data = b"\xef\xbb\xbfevent_id,reason\nx,ok\ny,caf\xe9\n"
    first, second = read_records(io.BytesIO(data), FileFormat.csv)
    assert (first.document, first.problem) == ({"event_id": "x", "reason": "ok"}, None)
    assert second.line == 3
    assert second.problem == "not UTF-8 text; save the file as UTF-8"


def test_format_comes_from_the_name_unless_given() -> None:
    """.json, .jsonl/.ndjson and .csv name their format; --format wins; others are refused."""
    assert format_for(Path("a.CSV")) is FileFormat.csv
    assert format_for(Path("a.ndjson")) is FileFormat.jsonl
    assert format_for(Path("a.txt"), FileFormat.json) is FileFormat.json
    with pytest.raises(ImportFileError, match="--format"):
        format_for(Path("a.txt"))


def test_a_broken_csv_row_stops_with_its_line() -> None:
    """A row the CSV reader cannot read (a cell over its size limit) stops the file with its
    line, after the rows before it, and says a second import is safe."""
    data = b"event_id,reason\nx,short\ny," + b"z" * 50 + b"\n"
    before = csv.field_size_limit(10)
    try:
        records = read_records(io.BytesIO(data), FileFormat.csv)
        assert next(records).line == 2
        with pytest.raises(ImportFileError, match=r"line 3: not valid CSV: .*counts them as dupl"):
            next(records)
    finally:
        csv.field_size_limit(before)
