"""JSON text as the SQL stores keep it: the same checks and errors for SQLite and PostgreSQL."""

from __future__ import annotations

import json

from resumable_core import InvalidArgument, JsonValue, RecordCorrupt, is_json


def check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidArgument(f"key must be a non-empty string, got {key!r}")


def encode(key: str, value: JsonValue) -> str:
    """Compact JSON text; None and values that would not come back unchanged are refused."""
    check_key(key)
    if value is None:
        raise InvalidArgument("None cannot be stored; delete the key instead", key=key)
    if not is_json(value):
        raise InvalidArgument(f"value for key {key!r} is not JSON (NaN, tuple, non-str dict key...)", key=key)
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
