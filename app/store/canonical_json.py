"""One JSON form for everything the store writes: sorted keys, no spaces, UTF-8 as is.

The engine serializes JSON columns with it, so an audit entry's `detail` column holds exactly
the text that sits inside the entry's hashed canonical form (which makes `audit verify` cheap)."""

from __future__ import annotations

import json
from typing import Any


class Encoded(str):
    """Text that is already `dumps` of some value: written to a JSON column as it is, so a
    value shared by many rows (or already encoded for a hash) is not encoded again."""

    __slots__ = ()


def dumps(value: Any) -> str:
    if value.__class__ is Encoded:
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
