"""One JSON form for everything the store writes: sorted keys, no spaces, UTF-8 as is.

The engine serializes JSON columns with it, so an audit entry's `detail` column holds exactly
the text that sits inside the entry's hashed canonical form (which makes `audit verify` cheap)."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
