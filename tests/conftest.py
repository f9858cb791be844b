"""Shared fixtures: the store contract's parametrisation and the real services' plugins."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from resumable_core import MemoryStateStore, StateStore

# Each service plugin starts its real server lazily, only for tests that ask for it.
pytest_plugins = [
    name
    for name in ("tests.services.spark", "tests.services.postgres")
    if importlib.util.find_spec(name) is not None
]

STORE_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Every StateStore the project ships, fresh for each test."""
    kind = request.param
    if kind == "memory":
        yield MemoryStateStore()
    elif kind == "sqlite":
        from adapters.sqlite import SqliteStateStore

        with SqliteStateStore(tmp_path / "state.db") as sqlite_store:
            yield sqlite_store
    else:
        postgres_store: StateStore = request.getfixturevalue("postgres_store")
        yield postgres_store
