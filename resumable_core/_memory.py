"""MemoryStateStore: the in-process store, public for tests and embedding."""

from __future__ import annotations

import copy
import threading
from typing import ClassVar

from ._checks import check_store_key, check_store_value
from ._types import JsonValue


class MemoryStateStore:
    """A dict behind a lock, with compare-and-set. Values are deep-copied in and out,
    so a caller mutating what it got back cannot change what is stored."""

    # Every call returns at once: an async driver calls it in place, not in a worker thread.
    non_blocking: ClassVar[bool] = True

    def __init__(self) -> None:
        self._data: dict[str, JsonValue] = {}
        self._lock = threading.Lock()

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        check_store_key(key)
        with self._lock:
            if key not in self._data:
                return default
            return copy.deepcopy(self._data[key])

    def set(self, key: str, value: JsonValue) -> None:
        _check(key, value)
        with self._lock:
            self._data[key] = copy.deepcopy(value)

    def delete(self, key: str) -> None:
        check_store_key(key)
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
    """The rules every store applies (resumable_core.store), so a test on this store holds on the others."""
    check_store_value(check_store_key(key), value)
