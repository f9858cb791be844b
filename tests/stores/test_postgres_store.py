"""PostgresStateStore beyond the store contract, against a real PostgreSQL server.

Concurrency (row-locked compare-and-set, several processes), failures (server down, crash,
lock timeout, bad password), corrupt values, durability settings, injected connections, and
the password never leaking. The server comes from tests/services/postgres.py.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from resumable_adapters.postgres import PostgresStateStore
from resumable_core import (
    InvalidArgument,
    JsonValue,
    RecordCorrupt,
    StoreError,
    StoreUnavailable,
    load_record,
    run_resumable,
)
from resumable_core.testing import FakeExternalSystem, FakeJob
from tests.services.postgres import PostgresServer, free_port, start_postgres

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
_BOUND = 60.0  # seconds: how long a broken test may hang before failing, never an expectation


def _table(schema: str) -> sql.Composed:
    return sql.SQL("{}.resumable_state").format(sql.Identifier(schema))


def _raw_value(dsn: str, schema: str, key: str) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql.SQL("SELECT value FROM {} WHERE key = %s").format(_table(schema)), (key,)).fetchone()
    return None if row is None else str(row[0])


def _everything_said(exc: BaseException) -> str:
    """Whatever a log or a traceback could show of *exc*: message, repr, chained causes."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


# -- compare-and-set under concurrency ----------------------------------------------------------


class _BlockedCas:
    """A compare_and_set running in a thread, on its own connection, tagged so that the test can
    see in pg_stat_activity when it is waiting for a row lock."""

    def __init__(self, server: PostgresServer, schema: str, call: Callable[[PostgresStateStore], bool]) -> None:
        self.app = f"cas-{uuid.uuid4().hex[:12]}"
        self.store = PostgresStateStore(server.dsn(application_name=self.app), schema=schema)
        self.result: bool | BaseException | None = None
        self._call = call
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = self._call(self.store)
        except BaseException as exc:  # handed to the test thread
            self.result = exc

    def start_and_wait_until_blocked(self, observer: psycopg.Connection[Any]) -> None:
        self.thread.start()
        deadline = time.monotonic() + _BOUND
        while time.monotonic() < deadline:
            # autocommit observer: pg_stat_activity is re-read each statement, not per transaction
            row = observer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                (self.app,),
            ).fetchone()
            if row is not None and row[0] == 1:
                return
            if not self.thread.is_alive():
                pytest.fail(f"compare_and_set returned {self.result!r} without waiting for the locked row")
            time.sleep(0.02)
        pytest.fail("compare_and_set never waited for the row lock")

    def finish(self) -> bool:
        self.thread.join(_BOUND)
        assert not self.thread.is_alive(), "compare_and_set still blocked after the writer ended"
        self.store.close()
        if isinstance(self.result, BaseException):
            raise self.result
        assert isinstance(self.result, bool)
        return self.result


@pytest.mark.parametrize("writer_ends", ["commit", "rollback"])
def test_cas_waits_for_a_writer_holding_the_row_and_sees_its_outcome(
    postgres_server: PostgresServer, postgres_dsn: str, postgres_schema: str, writer_ends: str
) -> None:
    # The interleaving a read-then-write CAS gets wrong: the row changes (uncommitted) after
    # a reader would have read it. A plain SELECT would see the old value, match, then
    # overwrite the writer's update once it commits: a lost update.
    store = PostgresStateStore(postgres_dsn, schema=postgres_schema)
    store.set("k", {"rev": 1})
    with psycopg.connect(postgres_dsn, autocommit=True) as observer, psycopg.connect(postgres_dsn) as writer:
        writer.execute(
            sql.SQL("UPDATE {} SET value = %s WHERE key = 'k'").format(_table(postgres_schema)), ('{"rev":2}',)
        )
        cas = _BlockedCas(postgres_server, postgres_schema, lambda s: s.compare_and_set("k", {"rev": 1}, {"rev": 9}))
        cas.start_and_wait_until_blocked(observer)
        writer.commit() if writer_ends == "commit" else writer.rollback()
        swapped = cas.finish()
    if writer_ends == "commit":
        assert swapped is False
        assert store.get("k") == {"rev": 2}, "the concurrent writer's update was lost"
    else:
        assert swapped is True
        assert store.get("k") == {"rev": 9}
    store.close()


@pytest.mark.parametrize("writer_ends", ["commit", "rollback"])
def test_cas_on_an_absent_key_waits_for_a_concurrent_insert(
    postgres_server: PostgresServer, postgres_dsn: str, postgres_schema: str, writer_ends: str
) -> None:
    store = PostgresStateStore(postgres_dsn, schema=postgres_schema)  # creates the table
    with psycopg.connect(postgres_dsn, autocommit=True) as observer, psycopg.connect(postgres_dsn) as writer:
        writer.execute(
            sql.SQL("INSERT INTO {} (key, value) VALUES ('k', %s)").format(_table(postgres_schema)), ('"theirs"',)
        )
        cas = _BlockedCas(postgres_server, postgres_schema, lambda s: s.compare_and_set("k", None, "ours"))
        cas.start_and_wait_until_blocked(observer)
        writer.commit() if writer_ends == "commit" else writer.rollback()
        swapped = cas.finish()
    assert swapped is (writer_ends == "rollback")
    assert store.get("k") == ("theirs" if writer_ends == "commit" else "ours")
    store.close()


def _increment(store: PostgresStateStore, key: str, rounds: int) -> tuple[int, int]:
    """Add 1 *rounds* times by read + compare-and-set; (successes, lost races)."""
    won = lost = 0
    while won < rounds:
        current = store.get(key)
        assert isinstance(current, int)
        if store.compare_and_set(key, current, current + 1):
            won += 1
        else:
            lost += 1
    return won, lost


def _increment_in_child(dsn: str, schema: str, rounds: int, barrier: Any, results: Any) -> None:
    store = PostgresStateStore(dsn, schema=schema)
    barrier.wait(_BOUND)
    results.put(_increment(store, "counter", rounds))
    store.close()


def _in_processes(workers: int, target: Callable[..., None], *args: object) -> list[Any]:
    """Run ``target(*args, barrier, results)`` in *workers* forked processes started together;
    what each put on ``results``."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=_BOUND) for _ in procs]
    for proc in procs:
        proc.join(_BOUND)
        assert proc.exitcode == 0
    return outcomes


def test_no_lost_update_across_processes(postgres_dsn: str, postgres_schema: str) -> None:
    workers, rounds = 4, 25
    PostgresStateStore(postgres_dsn, schema=postgres_schema).set("counter", 0)
    outcomes = _in_processes(workers, _increment_in_child, postgres_dsn, postgres_schema, rounds)
    store = PostgresStateStore(postgres_dsn, schema=postgres_schema)
    lost_races = sum(lost for _, lost in outcomes)
    assert sum(won for won, _ in outcomes) == workers * rounds
    assert store.get("counter") == workers * rounds, f"lost updates ({lost_races} CAS attempts lost a race)"
    store.close()


def test_no_lost_update_across_threads_with_their_own_connections(postgres_dsn: str, postgres_schema: str) -> None:
    workers, rounds = 4, 25
    stores = [PostgresStateStore(postgres_dsn, schema=postgres_schema) for _ in range(workers)]
    stores[0].set("counter", 0)
    barrier = threading.Barrier(workers)
    outcomes: list[tuple[int, int]] = []

    def work(store: PostgresStateStore) -> None:
        barrier.wait(_BOUND)
        outcomes.append(_increment(store, "counter", rounds))

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(_BOUND)
    assert len(outcomes) == workers
    assert stores[0].get("counter") == workers * rounds
    for s in stores:
        s.close()


def _open_store_in_child(dsn: str, schema: str, table: str, barrier: Any, results: Any) -> None:
    barrier.wait(_BOUND)
    try:
        store = PostgresStateStore(dsn, schema=schema, table=table)
        store.compare_and_set(f"pid-{os.getpid()}", None, True)
        results.put("ok")
    except BaseException as exc:  # reported to the parent
        results.put(repr(exc))


def test_processes_creating_the_table_together_all_succeed(postgres_dsn: str, postgres_schema: str) -> None:
    # CREATE TABLE IF NOT EXISTS alone can fail with a duplicate catalog row when two
    # sessions run it at once; the store serialises creation on an advisory lock.
    workers = 4
    outcomes = _in_processes(workers, _open_store_in_child, postgres_dsn, postgres_schema, "fresh")
    assert outcomes == ["ok"] * workers
    assert len(PostgresStateStore(postgres_dsn, schema=postgres_schema, table="fresh").keys()) == workers


def test_a_forked_child_uses_its_own_connection(postgres_store: PostgresStateStore) -> None:
    postgres_store.set("parent", 1)
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=lambda: postgres_store.set("child", 2))
    child.start()
    child.join(_BOUND)
    assert child.exitcode == 0
    # Had the child used (or closed) the parent's connection, the parent's session would be
    # broken or desynchronised now and this would raise.
    assert postgres_store.get("child") == 2
    assert postgres_store.keys() == ["child", "parent"]


def test_a_lock_held_too_long_is_store_unavailable(postgres_dsn: str, postgres_schema: str) -> None:
    store = PostgresStateStore(postgres_dsn, schema=postgres_schema, timeout=0.2)
    store.set("k", 1)
    with psycopg.connect(postgres_dsn) as writer:
        writer.execute(sql.SQL("SELECT 1 FROM {} WHERE key = 'k' FOR UPDATE").format(_table(postgres_schema)))
        with pytest.raises(StoreUnavailable) as info:
            store.compare_and_set("k", 1, 2)
        writer.rollback()
    assert info.value.key == "k"
    assert "lock timeout" in str(info.value)
    assert store.get("k") == 1
    store.close()


def _terminate(observer: psycopg.Connection[Any], app: str) -> None:
    row = observer.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s", (app,)
    ).fetchone()
    assert row == (1,)


def test_a_connection_dropped_while_idle_is_replaced_transparently(
    postgres_server: PostgresServer, postgres_dsn: str, postgres_schema: str
) -> None:
    app = f"idle-{uuid.uuid4().hex[:12]}"
    store = PostgresStateStore(postgres_server.dsn(application_name=app), schema=postgres_schema)
    store.set("k", 1)
    with psycopg.connect(postgres_dsn, autocommit=True) as observer:
        _terminate(observer, app)  # what a restart, failover or idle timeout does to it
        assert store.compare_and_set("k", 1, 2)  # fails at BEGIN, retried on a new connection
        _terminate(observer, app)
        assert store.get("k") == 2
    store.close()


def test_a_connection_lost_during_compare_and_set_is_not_retried(
    postgres_server: PostgresServer, postgres_dsn: str, postgres_schema: str
) -> None:
    # Past BEGIN the outcome of a compare-and-set is unknown to the store; retrying it could
    # report a lost race for a swap that in fact committed. It must say "unavailable" instead.
    store = PostgresStateStore(postgres_dsn, schema=postgres_schema)
    store.set("k", 1)
    with psycopg.connect(postgres_dsn, autocommit=True) as observer, psycopg.connect(postgres_dsn) as writer:
        writer.execute(sql.SQL("SELECT 1 FROM {} WHERE key = 'k' FOR UPDATE").format(_table(postgres_schema)))
        cas = _BlockedCas(postgres_server, postgres_schema, lambda s: s.compare_and_set("k", 1, 2))
        cas.start_and_wait_until_blocked(observer)
        _terminate(observer, cas.app)
        with pytest.raises(StoreUnavailable) as info:
            cas.finish()  # a retry would block again on the row the writer still holds
        writer.rollback()
    assert info.value.key == "k"
    assert "administrator command" in str(info.value), "the terminated attempt, not a retry's lock timeout"
    assert store.get("k") == 1
    assert cas.store.get("k") == 1, "the store reconnects at its next call"
    cas.store.close()
    store.close()


# -- failures ---------------------------------------------------------------------------------


def test_server_down_is_store_unavailable_and_the_store_recovers() -> None:
    with start_postgres(pid_name="postgres-down-test") as server:
        store = PostgresStateStore(server.dsn())
        store.set("k", {"job_id": "j-1"})
        server.stop()  # fast shutdown: the store's session is terminated
        attempts: tuple[Callable[[], object], ...] = (lambda: store.get("k"), lambda: store.set("k", {"job_id": "j-2"}))
        for attempt in attempts:
            with pytest.raises(StoreUnavailable) as info:
                attempt()
            assert f"127.0.0.1:{server.port}/resumable_test" in str(info.value)
            assert info.value.key == "k"
            assert "resumable_state" in str(info.value)
        server.start()
        assert store.get("k") == {"job_id": "j-1"}, "the failed set must not have been applied"
        # A write that returned survives a crash of the server (no checkpoint: WAL replay).
        store.set("k", {"job_id": "j-3"})
        server.crash()
        server.start()
        assert store.get("k") == {"job_id": "j-3"}
        store.close()


def test_no_server_listening_is_store_unavailable_naming_it() -> None:
    port = free_port()
    with pytest.raises(StoreUnavailable) as info:
        PostgresStateStore(f"host=127.0.0.1 port={port} dbname=app user=app connect_timeout=5")
    assert f"app@127.0.0.1:{port}/app" in str(info.value)
    assert isinstance(info.value.__cause__, psycopg.OperationalError)


def test_the_password_never_appears(postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"pw-{uuid.uuid4().hex}"
    wrong = postgres_server.dsn().replace(postgres_server.password, secret)
    closed = f"postgresql://app:{secret}@127.0.0.1:{free_port()}/app?connect_timeout=5"
    raised: list[BaseException] = []
    for conninfo in (wrong, closed):
        with pytest.raises(StoreUnavailable) as info:
            PostgresStateStore(conninfo)
        raised.append(info.value)
    assert "password authentication failed" in str(raised[0])
    # libpq quotes a malformed URI whole in its message, password included.
    malformed = f"postgresql://app:{secret}@[::1/app"
    with pytest.raises(InvalidArgument) as bad:
        PostgresStateStore(malformed)
    raised.append(bad.value)
    for exc in raised:
        assert secret not in _everything_said(exc)
    assert secret not in caplog.text

    store = PostgresStateStore(postgres_server.dsn())
    assert postgres_server.password not in repr(store)
    store.close()


def test_a_driver_message_quoting_the_password_is_scrubbed_and_not_chained(postgres_dsn: str) -> None:
    # A server error that echoes the password (here: a table named like it) must not carry it.
    password = psycopg.conninfo.conninfo_to_dict(postgres_dsn)["password"]
    assert password
    store = PostgresStateStore(postgres_dsn, table=f"t{password}", schema=f"no_such_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(str(store.schema))))
    with pytest.raises(StoreError) as info:
        store.get("k")
    assert str(password) not in _everything_said(info.value)
    assert "***" in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    store.close()


def test_a_value_that_is_not_json_is_corrupt_and_left_untouched(postgres_dsn: str, postgres_schema: str) -> None:
    store = PostgresStateStore(postgres_dsn, schema=postgres_schema)
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} (key, value) VALUES ('k', '{{not json')").format(_table(postgres_schema))
        )
    with pytest.raises(RecordCorrupt) as info:
        store.get("k")
    assert info.value.key == "k" and "'k'" in str(info.value)
    with pytest.raises(RecordCorrupt):
        store.compare_and_set("k", {"rev": 1}, {"rev": 2})
    assert store.compare_and_set("k", None, {"rev": 2}) is False  # present, whatever it holds
    with pytest.raises(RecordCorrupt):
        load_record(store, "k")
    system = FakeExternalSystem()
    with pytest.raises(RecordCorrupt):
        run_resumable(FakeJob(system), store, key="k")
    assert system.submissions() == []
    assert _raw_value(postgres_dsn, postgres_schema, "k") == "{not json"
    store.close()


# -- what is stored, and how --------------------------------------------------------------------


def test_values_jsonb_would_alter_round_trip_exactly(postgres_store: PostgresStateStore) -> None:
    # The reasons the value column is TEXT, not JSONB (see adapters/resumable_adapters/postgres.py).
    value: dict[str, JsonValue] = {"z": 1e16, "nul": "a\x00b", "lone": "\ud800", "a": [5e-324, -0.0, 1.5]}
    postgres_store.set("k", value)
    got = postgres_store.get("k")
    assert got == value
    assert isinstance(got, dict)
    assert list(got) == ["z", "nul", "lone", "a"], "key order kept"
    assert type(got["z"]) is float
    assert postgres_store.compare_and_set("k", value, {"done": True})


def test_cas_compares_like_the_other_stores(postgres_store: PostgresStateStore) -> None:
    postgres_store.set("k", {"n": 1})
    assert postgres_store.compare_and_set("k", {"n": 1.0}, {"n": 2})  # 1 == 1.0, as in Python


@pytest.mark.parametrize("key", ["a\x00b", "\udc80"])
def test_keys_postgres_cannot_hold_are_rejected(postgres_store: PostgresStateStore, key: str) -> None:
    calls: tuple[Callable[[], object], ...] = (lambda: postgres_store.set(key, 1), lambda: postgres_store.get(key))
    for call in calls:
        with pytest.raises(InvalidArgument):
            call()
    assert postgres_store.keys() == []


def test_keys_sort_by_code_point_whatever_the_database_collation(postgres_server: PostgresServer) -> None:
    name = f"icu_{uuid.uuid4().hex[:8]}"
    with postgres_server.connect("postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'").format(
                sql.Identifier(name)
            )
        )
    try:
        with postgres_server.connect(name) as conn:
            words = conn.execute("SELECT array_agg(x ORDER BY x) FROM unnest(array['b','B','a','Z','é']) x").fetchone()
        assert words is not None and words[0] != sorted(words[0]), "the collation should differ from code points"
        with PostgresStateStore(postgres_server.dsn(name)) as store:
            for key in words[0]:
                store.set(key, 1)
            assert store.keys() == sorted(words[0])
    finally:
        with postgres_server.connect("postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_synchronous_commit_off_is_raised_to_on(postgres_server: PostgresServer) -> None:
    name = f"async_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    try:
        with postgres_server.connect("postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name)))
        opened: list[psycopg.Connection[Any]] = []

        def factory() -> psycopg.Connection[Any]:
            conn = postgres_server.connect(name)
            opened.append(conn)
            return conn

        with postgres_server.connect(name) as plain:  # what a session there gets by default
            assert plain.execute("SHOW synchronous_commit").fetchone() == ("off",)
        with PostgresStateStore(factory) as store:
            store.set("k", 1)
            assert opened[0].execute("SHOW synchronous_commit").fetchone() == ("on",)
        assert opened[0].closed, "the store owns what its factory returned"
    finally:
        with postgres_server.connect("postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# -- injected connections ----------------------------------------------------------------------


@pytest.fixture
def injected(postgres_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    conn = psycopg.connect(postgres_dsn, row_factory=dict_row)  # not autocommit, dict rows
    yield conn
    conn.close()


def test_an_injected_connection_commits_each_write_and_stays_open(
    injected: psycopg.Connection[Any], postgres_dsn: str, postgres_schema: str
) -> None:
    store = PostgresStateStore(injected, schema=postgres_schema)
    store.set("k", {"v": 1})
    assert store.compare_and_set("k", {"v": 1}, {"v": 2})
    assert _raw_value(postgres_dsn, postgres_schema, "k") == '{"v":2}', "committed, visible to others"
    assert store.get("k") == {"v": 2}
    store.close()
    assert not injected.closed and injected.autocommit is False
    assert injected.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_an_injected_connection_in_a_transaction_joins_it(
    injected: psycopg.Connection[Any], postgres_dsn: str, postgres_schema: str
) -> None:
    store = PostgresStateStore(injected, schema=postgres_schema)
    injected.execute("SELECT 1")  # the caller opens a transaction
    store.set("k", 1)
    assert _raw_value(postgres_dsn, postgres_schema, "k") is None, "not committed before the caller's commit"
    injected.rollback()
    assert store.get("k") is None


def test_a_store_used_with_run_resumable_reattaches_from_another_store_object(
    postgres_dsn: str, postgres_schema: str
) -> None:
    system = FakeExternalSystem(running_polls=0)
    with PostgresStateStore(postgres_dsn, schema=postgres_schema) as store:
        first = run_resumable(FakeJob(system), store, key="k", sleep=lambda s: None)
    with PostgresStateStore(postgres_dsn, schema=postgres_schema) as store:
        assert run_resumable(FakeJob(system), store, key="k", sleep=lambda s: None) == first
    assert len(system.submissions()) == 1


def test_without_psycopg_the_import_error_names_the_extra() -> None:
    code = "import sys; sys.modules['psycopg'] = None; import resumable_adapters.postgres"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "pip install 'resumable-core[postgres]'" in result.stderr
