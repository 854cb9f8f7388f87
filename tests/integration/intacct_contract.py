"""Validate wire bodies against Sage's AR OpenAPI (tests/reference/intacct/, a verbatim copy of
/work/shared/reference/intacct/ar-invoice-openapi.json; provenance in its info.description)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30ReadValidator
from openapi_schema_validator import oas30_format_checker as format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).resolve().parents[1] / "reference/intacct/ar-invoice-openapi.json"
SPEC_URI = "urn:sage:intacct:ar-openapi"
INVOICE_GET = "/objects/accounts-receivable/invoice/{key}"
SUBMIT = "/workflows/accounts-receivable/invoice/submit"
ERROR_RESPONSE = "#/components/schemas/error-response"
# Declared nowhere in the invoice schema, yet in Sage's own "Get an invoice" example record.
EXAMPLE_ONLY_FIELDS = frozenset({"href"})

# RFC 6749 §5.1 (successful token response) and §5.2 (error response): the spec file declares
# the OAuth2 scheme (tokenUrl) but no token body, so the RFC is the schema.
TOKEN_OK = {
    "type": "object",
    "required": ["access_token", "token_type"],
    "properties": {
        "access_token": {"type": "string", "minLength": 1},
        "token_type": {"type": "string", "enum": ["Bearer", "bearer"]},
        "expires_in": {"type": "integer", "minimum": 1},
    },
}
TOKEN_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "enum": [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_scope",
                "temporarily_unavailable",  # RFC 6749 §4.1.2.1, used by servers for 5xx
            ],
        },
        "error_description": {"type": "string"},
    },
}


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


def _registry() -> Registry[Any]:
    return Registry().with_resource(SPEC_URI, DRAFT4.create_resource(spec()))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def response_schema_ref(path: str, method: str, status: str) -> str:
    """A $ref to the JSON schema the spec gives a response of one operation."""
    return "#/" + _pointer(
        "paths", path, method, "responses", status, "content", "application/json", "schema"
    )


def validation_errors(body: Any, ref: str) -> list[str]:
    """Every way `body` breaks the spec's schema at `ref` (a #/… pointer into the spec)."""
    validator = OAS30ReadValidator(
        {"$ref": f"{SPEC_URI}{ref}"}, registry=_registry(), format_checker=format_checker
    )
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def schema_errors(body: Any, schema: dict[str, Any]) -> list[str]:
    """Every way `body` breaks a plain schema (the RFC 6749 token bodies above)."""
    validator = OAS30ReadValidator(schema, format_checker=format_checker)
    return [e.message for e in validator.iter_errors(body)]


def undeclared_fields(body: Any, ref: str) -> list[str]:
    """Fields in `body` the schema at `ref` does not declare (the emulator must not invent)."""
    return list(_undeclared(body, _resolve({"$ref": ref}), ""))


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(schema)
    merged = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        merged |= _properties(part)
    return merged


def _undeclared(body: Any, schema: dict[str, Any], where: str) -> Iterator[str]:
    schema = _resolve(schema)
    if isinstance(body, dict):
        declared = _properties(schema)
        for name, value in body.items():
            if name in declared:
                yield from _undeclared(value, declared[name], f"{where}/{name}")
            elif name not in EXAMPLE_ONLY_FIELDS:
                yield f"{where}/{name}"
    elif isinstance(body, list) and "items" in schema:
        for index, item in enumerate(body):
            yield from _undeclared(item, schema["items"], f"{where}/{index}")


def load(content: bytes) -> Any:
    """Parse a body as the client does: non-integer numbers as Decimal, never float."""
    return json.loads(content, parse_float=Decimal)
