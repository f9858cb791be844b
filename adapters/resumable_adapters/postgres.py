"""PostgresStateStore: JSON values by key in one PostgreSQL table, with atomic compare-and-set.

Needs psycopg 3 (the ``postgres`` extra): ``pip install 'resumable-core[postgres]'``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

try:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import TupleRow, tuple_row
except ImportError as _exc:  # pragma: no cover - exercised by the import test in a bare env
    raise ImportError(
        "resumable_adapters.postgres needs psycopg 3: pip install 'resumable-core[postgres]'"
    ) from _exc

from resumable_adapters._json_text import decode as _decode

# The SQLite store's JSON text: compact, ASCII-only, so NUL and lone surrogates inside strings
# travel as \u escapes PostgreSQL's text type accepts; the store rules are checked first.
from resumable_adapters._json_text import encode as _encode
from resumable_core import InvalidArgument, JsonValue, StoreError, StoreUnavailable
from resumable_core.store import check_store_key

T = TypeVar("T")

ConnectionFactory = Callable[[], "psycopg.Connection[Any]"]

DEFAULT_TABLE = "resumable_state"

# Value column: TEXT holding our own json.dumps output, not JSONB. JSONB would compare JSON
# values in SQL, but it does not give back what was stored: it refuses strings holding
# U+0000 or a lone surrogate (valid Python str, stored fine by the other stores), turns a
# float written with an exponent into an integer on the way out (1e16 -> 10000000000000000,
# so a recorded float result would come back an int), and reorders object keys. TEXT
# round-trips exactly, like the SQLite store.
#
# Compare-and-set equality is therefore decided in Python, on the decoded value, with ``==``
# -- exactly as MemoryStateStore and SqliteStateStore decide it (1 == 1.0, key order
# irrelevant) -- never on text, where two encodings of one value would differ. Atomicity comes
# from the row lock: ``SELECT ... FOR UPDATE`` then ``UPDATE`` in one transaction, so no other
# writer can change the row between our read and our write (a concurrent writer waits; under
# READ COMMITTED the locked read sees its committed result, never a stale snapshot). For
# ``expected=None`` (key absent) there is no row to lock: ``INSERT ... ON CONFLICT DO NOTHING``
# is the atomic step and its rowcount the answer.
#
# The key column is COLLATE "C": byte order, which for UTF-8 is code-point order, so keys()
# sorts like Python's sorted() whatever the database's default collation.
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

# SQLSTATE classes meaning "the store cannot be used right now", as opposed to a failed
# statement: 08 connection exception, 53 insufficient resources (too many connections, disk
# full), 57 operator intervention (shutdown, cancel, cannot connect now), 58 system error.
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58"})
# Serialization failure, deadlock, lock timeout: nothing is wrong with the request; try later.
_UNAVAILABLE_STATES = frozenset({"40001", "40P01", "55P03"})

_SECRET_PARAMS = ("password", "sslpassword")


class PostgresStateStore:
    """JSON values by key in one PostgreSQL table, with atomic compare-and-set.

    *conninfo* is one of:

    - a libpq connection string or URI (``"host=db dbname=app user=app password=..."``,
      ``"postgresql://app:...@db/app"``): the store opens its own connection, in autocommit
      mode, and opens a new one after a fork or after the connection was lost;
    - a callable returning a new ``psycopg.Connection``: used the same way (the store owns,
      configures and closes what it returns; e.g. to add SSL settings or a password from a
      vault);
    - a ``psycopg.Connection``: used as given, never reconfigured nor closed by the store. Each
      operation runs in ``with conn.transaction()``; if the caller has a transaction open on
      it, the store's writes become a savepoint in it and are durable only once the caller
      commits.

    *table* (default ``resumable_state``) and *schema* (default: the first of the session's
    ``search_path``) choose where records live. *timeout*: seconds a write waits for a row
    another writer holds before ``StoreUnavailable`` (``lock_timeout`` on the connections the
    store opens). *connect_timeout*: used unless the connection string sets its own.

    Behaviour:

    - The table (``key``, ``value``, ``updated_at``) is created if missing (and *schema*, when
      given and missing), under an advisory lock so that several processes starting together
      do not race on the catalog.
    - Durable: a write is committed before it returns. On connections it owns, the store keeps
      the server's ``synchronous_commit`` unless it is ``off``, which it raises to ``on`` (a
      committed record lost in a crash could lead to a duplicate submission).
    - Safe under several processes and threads: compare-and-set locks the row (see the note
      above ``_CREATE_TABLE``); one connection per store object, guarded by a lock.
    - Errors: ``StoreUnavailable`` when the server cannot be reached or used right now
      (connection refused or lost, authentication failed, shutdown, too many connections,
      lock timeout), else
      ``StoreError``; both name the store (user@host:port/dbname and table, never a password)
      and the key. A stored value that is not JSON raises ``RecordCorrupt`` naming the key,
      and is left as it is. A kept connection the server dropped while idle is replaced
      transparently (the failure shows at BEGIN, before anything ran); when a connection is
      lost later in an operation, whether a write committed is unknown: read again.
    - The connection string's password (and ``sslpassword``) never appears in a message or
      in ``repr``; a driver error quoting it is not chained.
    """

    def __init__(
        self,
        conninfo: str | psycopg.Connection[Any] | ConnectionFactory,
        *,
        table: str = DEFAULT_TABLE,
        schema: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if not isinstance(table, str) or not table:
            raise InvalidArgument(f"table must be a non-empty string, got {table!r}")
        if schema is not None and (not isinstance(schema, str) or not schema):
            raise InvalidArgument(f"schema must be a non-empty string or None, got {schema!r}")
        if timeout <= 0 or connect_timeout <= 0:
            raise InvalidArgument("timeout and connect_timeout must be positive")
        self.table = table
        self.schema = schema
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._conninfo: str | None = None
        self._factory: ConnectionFactory | None = None
        self._injected: psycopg.Connection[Any] | None = None
        self._secrets: tuple[str, ...] = ()
        self._where = "PostgreSQL state store"
        if isinstance(conninfo, str):
            params, self._secrets = _parse_conninfo(conninfo)
            self._conninfo = conninfo
            self._where = _describe(params.get("user"), params.get("host"), params.get("port"), params.get("dbname"))
        elif isinstance(conninfo, psycopg.Connection):
            self._injected = conninfo
            self._where = _describe_connection(conninfo)
        elif callable(conninfo):
            self._factory = conninfo
        else:
            raise InvalidArgument(
                "conninfo must be a connection string, a psycopg.Connection or a callable "
                f"returning one, got {type(conninfo).__name__}"
            )

        self._qualified = sql.Identifier(schema, table) if schema is not None else sql.Identifier(table)
        self._sql_get = sql.SQL("SELECT value FROM {t} WHERE key = %s").format(t=self._qualified)
        self._sql_lock_row = sql.SQL("SELECT value FROM {t} WHERE key = %s FOR UPDATE").format(t=self._qualified)
        self._sql_upsert = sql.SQL(
            "INSERT INTO {t} (key, value, updated_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        ).format(t=self._qualified)
        self._sql_insert_new = sql.SQL(
            "INSERT INTO {t} (key, value, updated_at) VALUES (%s, %s, now()) ON CONFLICT (key) DO NOTHING"
        ).format(t=self._qualified)
        self._sql_update = sql.SQL("UPDATE {t} SET value = %s, updated_at = now() WHERE key = %s").format(
            t=self._qualified
        )
        self._sql_delete = sql.SQL("DELETE FROM {t} WHERE key = %s").format(t=self._qualified)
        self._sql_keys = sql.SQL("SELECT key FROM {t} ORDER BY key").format(t=self._qualified)

        self._conn: psycopg.Connection[Any] | None = None
        self._pid = -1
        self._table_ready = False
        # Connections a forked child inherited: kept referenced, never closed (closing would
        # end the parent's session on the shared socket; psycopg itself skips PQfinish then).
        self._inherited: list[psycopg.Connection[Any]] = []
        with self._lock:
            self._connection()

    def __repr__(self) -> str:
        return f"PostgresStateStore({self._name()})"

    def _name(self) -> str:
        """How messages name this store: where it connects and its table, never a secret."""
        table = f"{self.schema}.{self.table}" if self.schema is not None else self.table
        return self._scrub(f"{self._where}, table {table}")

    # -- connection ------------------------------------------------------------------------

    def _connection(self, key: str | None = None) -> psycopg.Connection[Any]:
        """The connection for this process, (re)opened when needed. Call with the lock held."""
        pid = os.getpid()
        if self._injected is not None:
            if self._pid not in (-1, pid):
                raise StoreError(
                    f"{self._name()}: the injected connection was opened in process {self._pid} and "
                    f"cannot be used from forked process {pid}; pass a conninfo string or a factory"
                )
            if not self._table_ready:
                self._pid = pid
                self._guard(key, self._ensure_table, self._injected)
            return self._injected
        if self._conn is not None and self._pid != pid:
            self._inherited.append(self._conn)
            self._conn = None
        if self._conn is not None and not self._conn.closed:
            return self._conn
        # Whatever stops us connecting (refused, timeout, bad password, no such database)
        # means the store cannot be opened: StoreUnavailable, whatever the SQLSTATE.
        conn = self._guard(key, self._open, unavailable=True)
        try:
            if not self._table_ready:
                self._guard(key, self._ensure_table, conn)
        except BaseException:
            _close_quietly(conn)
            raise
        self._conn, self._pid = conn, pid
        return conn

    def _open(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any]
        if self._conninfo is not None:
            conn = psycopg.connect(self._conninfo, **self._connect_options())
        else:
            assert self._factory is not None
            conn = self._factory()
            if not isinstance(conn, psycopg.Connection):
                raise InvalidArgument(f"the connection factory returned {type(conn).__name__}, not a psycopg.Connection")
            self._where = _describe_connection(conn)
        try:
            # Our own session: single statements commit at once; CAS opens its own transaction.
            if not conn.autocommit:
                conn.rollback()
                conn.autocommit = True
            with conn.cursor(row_factory=tuple_row) as cur:
                row = cur.execute("SHOW synchronous_commit").fetchone()
                if row is not None and row[0] == "off":
                    cur.execute("SET synchronous_commit = on")
                # Bound the wait for a row another writer holds (like SQLite's busy_timeout):
                # past it, StoreUnavailable rather than a hang.
                cur.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(self.timeout * 1000)}ms",))
        except BaseException:
            _close_quietly(conn)
            raise
        return conn

    def _connect_options(self) -> dict[str, Any]:
        assert self._conninfo is not None
        params, _ = _parse_conninfo(self._conninfo)
        options: dict[str, Any] = {"autocommit": True}
        # What the caller wrote in the string wins; these are only defaults.
        if "connect_timeout" not in params:
            options["connect_timeout"] = max(1, round(self.connect_timeout))
        if "application_name" not in params:
            options["application_name"] = "resumable_core"
        return options

    def _ensure_table(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            target = self._qualified.as_string(conn)
            row = cur.execute("SELECT to_regclass(%s)::text", (target,)).fetchone()
            if row is None or row[0] is None:
                # Several processes may start at once; CREATE ... IF NOT EXISTS alone can still
                # fail with a duplicate catalog entry when two run concurrently.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"resumable_core:{target}",))
                if self.schema is not None:
                    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                cur.execute(sql.SQL(_CREATE_TABLE).format(table=self._qualified))
        self._table_ready = True

    def close(self) -> None:
        """Close the connection the store opened (an injected connection stays open)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                _close_quietly(self._conn)
            self._conn = None

    def __enter__(self) -> PostgresStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- StateStore ------------------------------------------------------------------------

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        check_store_key(key)
        rows = self._run(key, lambda cur: cur.execute(self._sql_get, (key,)).fetchall())
        if not rows:
            return default
        return _decode(key, rows[0][0])

    def set(self, key: str, value: JsonValue) -> None:
        text = _encode(key, value)
        self._run(key, lambda cur: cur.execute(self._sql_upsert, (key, text)))

    def delete(self, key: str) -> None:
        check_store_key(key)
        self._run(key, lambda cur: cur.execute(self._sql_delete, (key,)))

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        text = _encode(key, value)

        def attempt(cur: psycopg.Cursor[TupleRow]) -> bool:
            if expected is None:
                cur.execute(self._sql_insert_new, (key, text))
                return cur.rowcount == 1
            row = cur.execute(self._sql_lock_row, (key,)).fetchone()
            # A non-JSON current value raises RecordCorrupt here; the transaction rolls back.
            if row is None or _decode(key, row[0]) != expected:
                return False
            cur.execute(self._sql_update, (text, key))
            return cur.rowcount == 1

        return self._run(key, attempt)

    # -- beyond the protocol -----------------------------------------------------------------

    def keys(self) -> list[str]:
        rows = self._run(None, lambda cur: cur.execute(self._sql_keys).fetchall())
        return [str(r[0]) for r in rows]

    # -- the edge: every psycopg call goes through here ----------------------------------------

    def _run(self, key: str | None, operation: Callable[[psycopg.Cursor[TupleRow]], T]) -> T:
        """*operation* in one transaction on this process's connection, errors mapped."""

        begun = False

        def in_transaction(conn: psycopg.Connection[Any]) -> T:
            nonlocal begun
            with conn.transaction():
                begun = True  # BEGIN answered: from here on, our statements may have run
                with conn.cursor(row_factory=tuple_row) as cur:
                    return operation(cur)

        with self._lock:
            kept = self._has_kept_connection()
            conn = self._connection(key)
            if not kept:
                return self._guard(key, in_transaction, conn)
            try:
                return self._guard(key, in_transaction, conn)
            except StoreUnavailable:
                # A kept connection that the server dropped while it was idle (restart,
                # failover, idle timeout) fails at BEGIN, before any statement of ours ran:
                # one retry on a new connection is then safe, even for compare-and-set.
                # Past BEGIN, or on a connection still usable, the outcome is the caller's.
                if begun or self._conn is not None:
                    raise
            return self._guard(key, in_transaction, self._connection(key))

    def _has_kept_connection(self) -> bool:
        """True when the store holds a connection of its own, opened earlier in this process."""
        conn = self._conn
        return self._injected is None and conn is not None and not conn.closed and self._pid == os.getpid()

    def _guard(self, key: str | None, call: Callable[..., T], *args: Any, unavailable: bool = False) -> T:
        """Run *call*, turning psycopg's errors into ours (never letting a secret through)."""
        failure: StoreError
        try:
            return call(*args)
        except psycopg.Error as exc:
            self._forget_broken_connection()
            failure = self._map(exc, key, unavailable=unavailable or _is_unavailable(exc))
            if not self._mentions_secret(exc):
                raise failure from exc
        # A driver message quoted the password: raised outside the except block so that
        # neither __cause__ nor __context__ carries it into a traceback or a log.
        raise failure

    def _forget_broken_connection(self) -> None:
        conn = self._conn
        if conn is not None and (conn.closed or conn.broken):
            # Reconnect at the next call (the server may be back by then).
            _close_quietly(conn)
            self._conn = None

    def _map(self, exc: psycopg.Error, key: str | None, *, unavailable: bool) -> StoreError:
        detail = str(exc).strip() or type(exc).__name__
        if unavailable:
            return StoreUnavailable(self._scrub(f"{self._name()} is unavailable: {detail}"), key=key)
        return StoreError(self._scrub(f"{self._name()} failed: {detail}"), key=key)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _mentions_secret(self, exc: BaseException) -> bool:
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            text = f"{current!s} {current!r}"
            if any(secret in text for secret in self._secrets):
                return True
            current = current.__cause__ or current.__context__
        return False


def _is_unavailable(exc: psycopg.Error) -> bool:
    if isinstance(exc, psycopg.InterfaceError):  # e.g. "the connection is closed"
        return True
    state = exc.sqlstate
    if state is None:
        # No server answer at all: refused, timed out, lost mid-statement.
        return isinstance(exc, psycopg.OperationalError)
    return state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE_STATES


def _parse_conninfo(conninfo: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The parameters of *conninfo* and its secrets; InvalidArgument (secret-free) if malformed."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        # libpq quotes pieces of the string in its message (a whole URI, password included,
        # for a bad IPv6 host): drop every quoted piece and do not chain.
        detail = re.sub(r'"[^"]*"', '"…"', str(exc).strip())
        failure = InvalidArgument(f"invalid PostgreSQL connection string: {detail}")
    else:
        secrets = tuple(str(params[name]) for name in _SECRET_PARAMS if params.get(name))
        return params, secrets
    raise failure


def _describe(user: object, host: object, port: object, dbname: object) -> str:
    where = f"{host or 'localhost'}:{port or 5432}/{dbname or user or '?'}"
    return f"PostgreSQL state store {user}@{where}" if user else f"PostgreSQL state store {where}"


def _describe_connection(conn: psycopg.Connection[Any]) -> str:
    try:
        info = conn.info
        return _describe(info.user, info.host, info.port, info.dbname)
    except psycopg.Error:
        return "PostgreSQL state store (injected connection)"


def _close_quietly(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.close()
    except psycopg.Error:
        pass  # closing a broken connection: nothing left to release


__all__ = ["ConnectionFactory", "PostgresStateStore"]
