"""SqliteStateStore: the embedded default store. One file, WAL, durable, multi-process safe.

Standard library only (sqlite3), so it needs no extra.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from resumable_core import JsonValue, StoreError, StoreUnavailable
from resumable_core.store import check_store_key

from ._json_text import decode as _decode
from ._json_text import encode as _encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resumable_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
)
"""


class SqliteStateStore:
    """JSON values by key in one SQLite file, with atomic compare-and-set.

    - WAL journal, ``synchronous=FULL``: a write that returned survives a power loss.
    - Several processes may use one file: writers serialise on SQLite's lock
      (``busy_timeout``), and compare-and-set runs in a ``BEGIN IMMEDIATE``
      transaction so that read-compare-write is one step.
    - The file is created readable and writable by its owner only (0600); SQLite
      gives its -wal and -shm files the same mode.
    - One connection per store object, guarded by a lock; after a ``fork`` the
      child opens its own connection (a shared one would corrupt the file).
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pid = -1
        self._conn: sqlite3.Connection | None = None
        self._connect()

    # -- connection ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            if not self.path.exists():
                # Create it 0600 before SQLite does (SQLite would honour the umask).
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                os.close(fd)
            conn = sqlite3.connect(
                str(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self._set_up(conn)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open SQLite state store {str(self.path)!r}: {exc}") from exc
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the table, retried while another process does the same.

        Switching to WAL takes an exclusive lock and does not always wait on the
        busy handler: two processes opening a new file at once can get
        "database is locked" here, so this step retries until the timeout.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> SqliteStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- StateStore ------------------------------------------------------------------------

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        check_store_key(key)
        with self._lock:
            row = self._execute("SELECT value FROM resumable_state WHERE key = ?", (key,), key).fetchone()
        if row is None:
            return default
        return _decode(key, row[0])

    def set(self, key: str, value: JsonValue) -> None:
        text = _encode(key, value)
        with self._lock:
            self._execute(
                "INSERT INTO resumable_state (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, text, time.time()),
                key,
            )

    def delete(self, key: str) -> None:
        check_store_key(key)
        with self._lock:
            self._execute("DELETE FROM resumable_state WHERE key = ?", (key,), key)

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        text = _encode(key, value)
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute("SELECT value FROM resumable_state WHERE key = ?", (key,)).fetchone()
                    current = None if row is None else _decode(key, row[0])
                    if current != expected:
                        conn.execute("ROLLBACK")
                        return False
                    conn.execute(
                        "INSERT INTO resumable_state (key, value, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                        (key, text, time.time()),
                    )
                    conn.execute("COMMIT")
                    return True
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _map(exc, key) from exc

    # -- beyond the protocol -----------------------------------------------------------------

    def keys(self) -> list[str]:
        with self._lock:
            rows = self._execute("SELECT key FROM resumable_state ORDER BY key", (), None).fetchall()
        return [str(r[0]) for r in rows]

    def _execute(self, sql: str, params: tuple[object, ...], key: str | None) -> sqlite3.Cursor:
        conn = self._connect()
        try:
            return conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _map(exc, key) from exc


def _map(exc: sqlite3.Error, key: str | None) -> StoreError:
    if isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError)):
        return StoreUnavailable(f"SQLite state store failed: {exc}", key=key)
    return StoreError(f"SQLite state store failed: {exc}", key=key)


__all__ = ["SqliteStateStore"]
