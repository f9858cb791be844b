"""The StateStore contract over every shipped store (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from tests.contracts.store_contract import StoreContract


class TestEveryStore(StoreContract):
    """``store`` comes from tests/conftest.py, parametrised over the stores."""
