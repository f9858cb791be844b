"""JSON text as the SQL stores keep it: the same checks and errors for SQLite and PostgreSQL."""

from __future__ import annotations

import json

from resumable_core import JsonValue, RecordCorrupt
from resumable_core.store import check_store_key, check_store_value


def encode(key: str, value: JsonValue) -> str:
    """Compact JSON text; None and values that would not come back unchanged are refused."""
    check_store_value(check_store_key(key), value)
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def decode(key: str, text: object) -> JsonValue:
    """Parse a stored value; text that is not JSON is RecordCorrupt naming the key."""
    try:
        if not isinstance(text, str):
            raise ValueError(f"stored value is {type(text).__name__}, not text")
        value: JsonValue = json.loads(text)
        return value
    except ValueError as exc:
        raise RecordCorrupt(f"value stored under key {key!r} is not JSON: {exc}", key=key) from exc
