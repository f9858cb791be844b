"""mypy-only: PostgresStateStore satisfies the store protocols structurally (never run)."""

from __future__ import annotations

from resumable_adapters.postgres import PostgresStateStore
from resumable_core import CompareAndSetStore, StateStore


def _conforms(store: PostgresStateStore) -> None:
    as_cas: CompareAndSetStore = store
    as_plain: StateStore = store
    del as_cas, as_plain
