"""POST /services/core/query over the emulated AR invoices.

Shape: the core-query request (CR@99645, in tests/reference/intacct/ar-invoice-openapi.json
components/schemas/core-query): `object`, `fields`, `filters` ($eq, $in, ...), `filterExpression`,
`orderBy`, `start` (1-based) and `size` ("4000 maximum", CR@124416). The 200 answer is
`ia::result`: an array of objects holding the requested fields, and `ia::meta`: metadata-pages
{totalCount, start, pageSize, next, previous} (the path's 200 schema, CR@15684).

The subset served: object `accounts-receivable/invoice`; filters `$eq`, `$ne` and `$in` on
top-level fields or `customer.id`, all of them required (filterExpression absent or only "and");
orderBy one top-level field; fields top-level names (a related field such as `customer.id` is
answered nested, `{"customer": {"id": ...}}`, as the record holds it)."""

from __future__ import annotations

import re
from typing import Any

from app.sandbox.intacct_emulator.records import Reply, invalid_field, payload_errors

QUERY_PATH = "/services/core/query"
INVOICE_OBJECT = "accounts-receivable/invoice"
MAX_SIZE = 4000  # CR@124416
DEFAULT_SIZE = 100  # the example pageSize (AR@232797)
_ONLY_AND = re.compile(r"^\s*\d+(\s+and\s+\d+)*\s*$", re.IGNORECASE)


def _value(record: dict[str, Any], field: str) -> Any:
    value: Any = record
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(record: dict[str, Any], condition: dict[str, Any]) -> bool:
    ((operator, test),) = condition.items()
    ((field, wanted),) = test.items()
    value = _value(record, field)
    if operator == "$eq":
        return bool(value == wanted)
    if operator == "$ne":
        return bool(value != wanted)
    return value in wanted  # $in


def _well_formed(condition: Any) -> bool:
    """{"$eq"|"$ne": {field: value}} or {"$in": {field: [values]}}."""
    if not (isinstance(condition, dict) and len(condition) == 1):
        return False
    ((operator, test),) = condition.items()
    if operator not in ("$eq", "$ne", "$in") or not (isinstance(test, dict) and len(test) == 1):
        return False
    return operator != "$in" or isinstance(next(iter(test.values())), list)


def _problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    problems = []
    if body.get("object") != INVOICE_OBJECT:
        problems.append(invalid_field("object"))
    filters = body.get("filters", [])
    if not isinstance(filters, list) or not all(_well_formed(f) for f in filters):
        problems.append(invalid_field("filters"))
    expression = body.get("filterExpression")
    if expression is not None and not (isinstance(expression, str) and _ONLY_AND.match(expression)):
        problems.append(invalid_field("filterExpression"))
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        problems.append(invalid_field("fields"))
    size, start = body.get("size", DEFAULT_SIZE), body.get("start", 1)
    if not isinstance(size, int) or not 0 < size <= MAX_SIZE:
        problems.append(invalid_field("size"))
    if not isinstance(start, int) or start < 1:
        problems.append(invalid_field("start"))
    return problems


def _pick(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for field in fields:
        head, _, rest = field.partition(".")
        if rest:
            value = _value(record, field)
            picked.setdefault(head, {})[rest] = value
        else:
            picked[head] = record.get(head)
    return picked


def run_query(body: Any, invoices: list[dict[str, Any]]) -> Reply:
    """Answer one core query over `invoices` (copies of the stored records)."""
    if not isinstance(body, dict):
        return payload_errors([invalid_field("object")])
    problems = _problems(body)
    if problems:
        return payload_errors(problems)
    found = [r for r in invoices if all(_matches(r, f) for f in body.get("filters", []))]
    for order in reversed(body.get("orderBy") or []):
        if isinstance(order, dict) and len(order) == 1:
            ((field, direction),) = order.items()
            found.sort(key=lambda r: str(_value(r, field) or ""), reverse=direction == "desc")
    start, size = body.get("start", 1), body.get("size", DEFAULT_SIZE)
    page = found[start - 1 : start - 1 + size]
    after = start + len(page)
    meta = {
        "totalCount": len(found),
        "start": start,
        "pageSize": size,
        "next": after if after <= len(found) else None,
        "previous": max(1, start - size) if start > 1 else None,
    }
    return Reply(200, {"ia::result": [_pick(r, body["fields"]) for r in page], "ia::meta": meta})
