"""Billing events in the files billing teams keep: JSON, JSONL and CSV.

Pure parsing: a binary stream in, records out, each the raw JSON text of one event with the
file line it starts on. JSONL and CSV are read line by line, so a file of any size is read in
bounded memory; a JSON file is one document and is read whole. A line or row that cannot be
an event carries its `problem` and is still yielded, so that it can be kept as rejected."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from app.domain.batch import parse_item
from app.domain.events import BillingEvent


class FileFormat(StrEnum):
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


SUFFIXES = {
    ".json": FileFormat.json,
    ".jsonl": FileFormat.jsonl,
    ".ndjson": FileFormat.jsonl,
    ".csv": FileFormat.csv,
}


class ImportFileError(ValueError):
    """The file as a whole cannot be read as events (not JSON, a CSV header that is wrong)."""


@dataclass(frozen=True)
class Record:
    """One event as written in the file: its raw JSON text, and the parsed document."""

    line: int
    raw: str
    document: Any = None
    problem: str | None = None  # why it cannot be an event, before schema validation


def format_for(path: Path, override: FileFormat | None = None) -> FileFormat:
    """The format named by `override`, else the one the file name ends with."""
    if override is not None:
        return override
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(
            "cannot tell the format from the file name; name it .json, .jsonl or .csv, "
            "or add --format json|jsonl|csv"
        )
    return found


def read_records(stream: IO[bytes], file_format: FileFormat) -> Iterator[Record]:
    """Every event of the file in order. Raises ImportFileError before the first record when
    the file as a whole is unusable."""
    readers = {FileFormat.json: _json, FileFormat.jsonl: _jsonl, FileFormat.csv: _csv}
    return readers[file_format](stream)


def parse_event_text(text: str) -> tuple[Any, str | None]:
    """Parse one event's JSON (numbers as Decimal): (document, None), or (None, why not)."""
    try:
        return parse_item(text), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON: {error.msg} (column {error.colno})"
    except (ValueError, RecursionError) as error:
        return None, f"not valid JSON: {error or 'nested too deeply'}"


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, decoded cleanly) for each line, a UTF-8 byte-order mark dropped."""
    for number, data in enumerate(stream, start=1):
        if number == 1:
            data = data.removeprefix(codecs.BOM_UTF8)
        try:
            yield number, data.decode("utf-8"), True
        except UnicodeDecodeError:
            yield number, data.decode("utf-8", errors="replace"), False


def _jsonl(stream: IO[bytes]) -> Iterator[Record]:
    for number, line, clean in _lines(stream):
        text = line.strip()
        if not text:
            continue
        if not clean:
            yield Record(number, text, problem="not UTF-8 text; save the file as UTF-8")
            continue
        document, problem = parse_event_text(text)
        yield Record(number, text, document, problem)


# ---- JSON: one event, a list of events, or {"events": [...]} ----

_DECODER = json.JSONDecoder()


def _json(stream: IO[bytes]) -> Iterator[Record]:
    try:
        text = stream.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(f"not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    try:
        document = parse_item(text)
    except json.JSONDecodeError as error:
        raise ImportFileError(
            f"line {error.lineno}, column {error.colno}: not valid JSON: {error.msg}"
        ) from None
    except (ValueError, RecursionError) as error:
        raise ImportFileError(f"not valid JSON: {error or 'nested too deeply'}") from None
    start = _skip(text, 0)
    if isinstance(document, list):
        return _array(text, start)
    if isinstance(document, dict) and "events" in document:
        if set(document) != {"events"} or not isinstance(document["events"], list):
            raise ImportFileError('a batch is {"events": [...]} with no other keys')
        return _array(text, _events_value(text, start))
    return iter([Record(text.count("\n", 0, start) + 1, text.strip(), document)])


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _events_value(text: str, index: int) -> int:
    """Where the list of {"events": [...]} starts; the document holds only that key."""
    index = _skip(text, index + 1)  # past the brace
    _, index = _DECODER.raw_decode(text, index)  # the key
    index = _skip(text, _skip(text, index) + 1)  # past the colon
    _, end = _DECODER.raw_decode(text, index)
    if text[_skip(text, end)] != "}":
        raise ImportFileError('"events" is given more than once')
    return index


def _array(text: str, index: int) -> Iterator[Record]:
    """Each item of the list opening at `index`, as written, with the line it starts on."""
    line, counted = 1, 0
    index = _skip(text, index + 1)
    while text[index] != "]":
        _, end = _DECODER.raw_decode(text, index)
        line += text.count("\n", counted, index)
        counted = index
        raw = text[index:end]
        yield Record(line, raw, parse_item(raw))
        index = _skip(text, end)
        if text[index] == ",":
            index = _skip(text, index + 1)


# ---- CSV: a header of event fields as dotted paths, one event per row ----

EXTRA_CELLS = "(cells beyond the header)"


def csv_columns() -> dict[str, tuple[str, ...] | None]:
    """The top-level event fields and the sub-fields a column may name (None: a plain value;
    details takes any name)."""
    columns: dict[str, tuple[str, ...] | None] = {}
    for name, field in BillingEvent.model_fields.items():
        model = _model_in(field.annotation)
        columns[name] = tuple(model.model_fields) if model else None
    columns["details"] = ()
    return columns


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _check_header(header: list[str]) -> list[tuple[str, ...]]:
    columns = csv_columns()
    paths: list[tuple[str, ...]] = []
    for number, name in enumerate(header, start=1):
        path = tuple(part.strip() for part in name.split("."))
        top, rest = path[0], path[1:]
        if not name.strip():
            raise ImportFileError(f"header: column {number} has no name")
        if top not in columns or "" in path:
            raise ImportFileError(f"header: unknown column {name!r}; {_columns_hint(columns)}")
        allowed = columns[top]
        if allowed is None and rest:
            raise ImportFileError(f"header: {top!r} has no sub-fields; name the column {top!r}")
        if allowed is not None and not rest:
            example = f"{top}.{allowed[0]}" if allowed else "details.discount_pct"
            raise ImportFileError(f"header: {top!r} needs a sub-field, e.g. {example!r}")
        if allowed and (len(rest) > 1 or rest[0] not in allowed):
            fields = ", ".join(f"{top}.{sub}" for sub in allowed)
            raise ImportFileError(f"header: unknown column {name!r}; {top} has {fields}")
        if path in paths:
            raise ImportFileError(f"header: column {name!r} appears twice")
        if any(_clash(path, other) for other in paths):
            raise ImportFileError(f"header: column {name!r} overlaps another column")
        paths.append(path)
    return paths


def _clash(one: tuple[str, ...], other: tuple[str, ...]) -> bool:
    shorter = min(len(one), len(other))
    return one[:shorter] == other[:shorter]


def _columns_hint(columns: dict[str, tuple[str, ...] | None]) -> str:
    names = [name if sub is None else f"{name}.…" for name, sub in columns.items()]
    return "columns are " + ", ".join(names)


def _csv(stream: IO[bytes]) -> Iterator[Record]:
    lines = _lines(stream)
    unclean: set[int] = set()

    def text() -> Iterator[str]:
        for number, line, clean in lines:
            if not clean:
                unclean.add(number)
            yield line

    reader = csv.reader(text())
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ImportFileError(f"header: not valid CSV: {error}") from None
    if header is None:
        raise ImportFileError("the file is empty; the first line names the columns")
    if unclean:
        raise ImportFileError("header: not UTF-8 text; save the file as UTF-8")
    return _rows(reader, _check_header(header), unclean)


def _rows(reader: Any, paths: list[tuple[str, ...]], unclean: set[int]) -> Iterator[Record]:
    last = reader.line_num
    while True:
        try:
            row = next(reader, None)
        except csv.Error as error:
            raise ImportFileError(
                f"line {last + 1}: not valid CSV: {error}; the rows before it were imported, "
                "and importing the corrected file again counts them as duplicates"
            ) from None
        if row is None:
            return
        first, last = last + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        document: dict[str, Any] = {}
        for path, cell in zip(paths, row, strict=False):
            if cell.strip():
                _put(document, path, cell.strip())
        problem = None
        if len(row) > len(paths):
            document[EXTRA_CELLS] = row[len(paths) :]
            problem = f"the row has {len(row)} cells; the header names {len(paths)} columns"
        if unclean.intersection(range(first, last + 1)):
            problem = "not UTF-8 text; save the file as UTF-8"
        yield Record(first, json.dumps(document, ensure_ascii=False), document, problem)


def _put(document: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    for part in path[:-1]:
        document = document.setdefault(part, {})
    document[path[-1]] = value
