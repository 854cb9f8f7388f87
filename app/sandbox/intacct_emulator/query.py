"""POST /services/core/query over the emulated invoices, as Sage's query service answers it.

One implementation answers every query Countersign sends: a customer's open receivables
(Details, `show`: `$eq` on customer.id, `$in` on state, ordered by dueDate) and the invoices
posted since a time (reconcile: `$in` on state, `$gte` on audit.modifiedDateTime, paged).

Request: `core-query` (common-resources CR@99645, kept in tests/reference/intacct/
ar-invoice-openapi.json components/schemas/core-query): object, fields (dotted for related
objects, e.g. `customer.id`), filters (`$eq`, `$ne`, `$lt`, `$lte`, `$gt`, `$gte`, `$in`,
`$notIn`), filterExpression, orderBy, start (1-based) and size ("4000 maximum", CR@124416).
Response: 200 {"ia::result": [ {field: value} ], "ia::meta": metadata-pages} (CR@15684; pages:
totalCount, start, pageSize, next, previous, AR@519191); each row holds the fields as they were
asked for, a related one under its dotted name (`{"customer.id": …}`, as the `fields`
description names them, CR@99645). The emulator serves the AR invoice object only and an
all-`and` filterExpression; anything else is refused with a 400 saying so."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from app.sandbox.intacct_emulator.records import Reply, ia_error, invalid_field, payload_errors

QUERY_PATH = "/services/core/query"  # CR@15684
OBJECT = "accounts-receivable/invoice"
MAX_SIZE = 4000  # "4000 maximum" (core-query size, CR@124416)
DEFAULT_SIZE = 100  # the example pageSize (AR@232797)
_OPERATORS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$notIn")
_KNOWN = frozenset(
    {"object", "fields", "filters", "filterExpression", "filterParameters", "orderBy"}
    | {"start", "size"}
)
_AND_ONLY = re.compile(r"^\s*\d+(\s+and\s+\d+)*\s*$", re.IGNORECASE)


def _value(record: Mapping[str, Any], field: str) -> Any:
    node: Any = record
    for part in field.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _comparable(value: Any) -> Any:
    """Totals are decimal strings: compare them as numbers, everything else as text."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def _matches(record: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    ((operator, test),) = condition.items()
    ((field, wanted),) = test.items()
    have = _value(record, field)
    if operator == "$in":
        return have in wanted
    if operator == "$notIn":
        return have not in wanted
    if operator == "$eq":
        return bool(have == wanted)
    if operator == "$ne":
        return bool(have != wanted)
    if have is None:
        return False
    left, right = _comparable(have), _comparable(wanted)
    if type(left) is not type(right):
        left, right = str(have), str(wanted)
    outcome = {
        "$lt": left < right,
        "$lte": left <= right,
        "$gt": left > right,
        "$gte": left >= right,
    }[operator]
    return bool(outcome)


def _sort_key(field: str) -> Callable[[dict[str, Any]], str]:
    return lambda record: str(_value(record, field))


def _problems(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = [invalid_field(str(name)) for name in sorted(body) if name not in _KNOWN]
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        details.append({"code": "required", "message": "fields is required", "target": "/fields"})
    for index, condition in enumerate(body.get("filters") or []):
        ok = (
            isinstance(condition, Mapping)
            and len(condition) == 1
            and next(iter(condition)) in _OPERATORS
            and isinstance(next(iter(condition.values())), Mapping)
            and len(next(iter(condition.values()))) == 1
        )
        if ok and next(iter(condition)) in ("$in", "$notIn"):
            ok = isinstance(next(iter(next(iter(condition.values())).values())), list)
        if not ok:
            message = f"filter {index + 1} is not one {{operator: {{field: value}}}}"
            details.append({"code": "invalidRequest", "message": message, "target": "/filters"})
    return details


def query(records: list[dict[str, Any]], body: Any) -> Reply:
    """Answer one core-query over `records` (deep copies, in creation order)."""
    if not isinstance(body, Mapping):
        message = "The payload must be a JSON object"
        return payload_errors([{"code": "invalidRequest", "message": message}])
    if body.get("object") != OBJECT:
        message = f"The emulator serves object {OBJECT!r} only, not {body.get('object')!r}"
        return ia_error(400, "invalidRequest", message, "REST-1064")
    details = _problems(body)
    if details:
        return payload_errors(details)
    expression = body.get("filterExpression")
    if expression is not None and not _AND_ONLY.match(str(expression)):
        message = "The emulator evaluates only filterExpression of the form '1 and 2 and …'"
        return ia_error(400, "invalidRequest", message, "REST-1064")
    start, size = body.get("start", 1), body.get("size", DEFAULT_SIZE)
    if not isinstance(start, int) or start < 1 or not isinstance(size, int) or size < 1:
        return ia_error(400, "invalidRequest", "start and size must be positive", "REST-1064")
    if size > MAX_SIZE:
        return ia_error(400, "invalidRequest", f"size is at most {MAX_SIZE}", "REST-1064")
    hits = [r for r in records if all(_matches(r, c) for c in body.get("filters") or [])]
    for order in reversed(body.get("orderBy") or []):
        ((field, direction),) = order.items()
        hits.sort(key=_sort_key(str(field)), reverse=direction == "desc")
    page = hits[start - 1 : start - 1 + size]
    following = start + size if start - 1 + size < len(hits) else None
    meta = {
        "totalCount": len(hits),
        "start": start,
        "pageSize": size,
        "next": following,
        "previous": max(1, start - size) if start > 1 else None,
    }
    result = [{field: _value(record, field) for field in body["fields"]} for record in page]
    return Reply(200, {"ia::result": result, "ia::meta": meta})
