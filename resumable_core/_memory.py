"""MemoryStateStore: the in-process store, public for tests and embedding."""

from __future__ import annotations

import copy
import json
import threading

from ._errors import InvalidArgument
from ._types import JsonValue, is_json


class MemoryStateStore:
    """A dict behind a lock, with compare-and-set. Values are deep-copied in and out,
    so a caller mutating what it got back cannot change what is stored."""

    def __init__(self) -> None:
        self._data: dict[str, JsonValue] = {}
        self._lock = threading.Lock()

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        with self._lock:
            if key not in self._data:
                return default
            return copy.deepcopy(self._data[key])

    def set(self, key: str, value: JsonValue) -> None:
        _check(key, value)
        with self._lock:
            self._data[key] = copy.deepcopy(value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        _check(key, value)
        with self._lock:
            if self._data.get(key) != expected:
                return False
            self._data[key] = copy.deepcopy(value)
            return True

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._data)


def _check(key: str, value: JsonValue) -> None:
    """The same rules as Airflow's store, so a test on this store holds there too."""
    if not isinstance(key, str) or not key:
        raise InvalidArgument(f"key must be a non-empty string, got {key!r}")
    if value is None:
        raise InvalidArgument("None cannot be stored; delete the key instead", key=key)
    if not is_json(value):
        raise InvalidArgument(f"value for key {key!r} is not JSON", key=key)
    json.dumps(value)  # the recursion limit of a deeply nested value shows here, not later
