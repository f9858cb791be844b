"""Shared fixtures: the store contract's parametrisation and the real services' plugins."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from resumable_core import JsonValue, MemoryStateStore, StateStore

# Each service plugin starts its real server lazily, only for tests that ask for it.
pytest_plugins = [
    name
    for name in ("tests.services.spark", "tests.services.postgres", "tests.services.kdc", "tests.services.flink")
    if importlib.util.find_spec(name) is not None
]

class PlainStore:
    """A store without compare-and-set, like Airflow's task_state_store: the core's other write path."""

    def __init__(self) -> None:
        self._inner = MemoryStateStore()

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        return self._inner.get(key, default)

    def set(self, key: str, value: JsonValue) -> None:
        self._inner.set(key, value)

    def delete(self, key: str) -> None:
        self._inner.delete(key)


STORE_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("plain", id="plain"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Every StateStore the project ships, fresh for each test."""
    kind = request.param
    if kind == "memory":
        yield MemoryStateStore()
    elif kind == "plain":
        yield PlainStore()
    elif kind == "sqlite":
        from resumable_adapters.sqlite import SqliteStateStore

        with SqliteStateStore(tmp_path / "state.db") as sqlite_store:
            yield sqlite_store
    else:
        postgres_store: StateStore = request.getfixturevalue("postgres_store")
        yield postgres_store
