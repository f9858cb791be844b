"""For store authors: the protocols, the in-memory store, and the rules every store applies.

A new ``StateStore`` calls ``check_store_key`` on every key and ``check_store_value``
on every value it writes, so that it refuses exactly what the others refuse, with
the same ``InvalidArgument``; ``tests/contracts/store_contract.py`` checks it.
"""

from __future__ import annotations

from ._checks import KEY_MAX_LENGTH, check_key, check_store_key, check_store_value
from ._memory import MemoryStateStore
from ._protocols import CompareAndSetStore, StateStore
from ._types import JsonValue, is_json

__all__ = [
    "KEY_MAX_LENGTH",
    "CompareAndSetStore",
    "JsonValue",
    "MemoryStateStore",
    "StateStore",
    "check_key",
    "check_store_key",
    "check_store_value",
    "is_json",
]
