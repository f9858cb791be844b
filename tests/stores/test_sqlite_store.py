"""SqliteStateStore beyond the contract: the file, its mode, its failures."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import RecordCorrupt, StoreUnavailable, load_record, run_resumable
from resumable_core.testing import FakeExternalSystem, FakeJob


def test_file_is_created_owner_only_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.set("k", 1)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600
        wal = path.with_name("state.db-wal")
        assert wal.exists() and stat.S_IMODE(os.stat(wal).st_mode) == 0o600
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_values_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    system = FakeExternalSystem(running_polls=0)
    with SqliteStateStore(path) as store:
        first = run_resumable(FakeJob(system), store, key="k", sleep=lambda s: None)
    with SqliteStateStore(path) as store:
        assert run_resumable(FakeJob(system), store, key="k") == first
        assert store.keys() == ["k"]
    assert len(system.submissions()) == 1


def test_a_value_that_is_not_json_is_corrupt_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStateStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO resumable_state VALUES ('k', '{not json', 0)")
    conn.commit()
    with SqliteStateStore(path) as store:
        with pytest.raises(RecordCorrupt) as info:
            load_record(store, "k")
        assert "'k'" in str(info.value)
        with pytest.raises(RecordCorrupt):
            run_resumable(FakeJob(FakeExternalSystem()), store, key="k")
    assert conn.execute("SELECT value FROM resumable_state WHERE key='k'").fetchone()[0] == "{not json"
    conn.close()


def test_a_path_that_cannot_be_opened_is_store_unavailable_naming_it(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir" / "state.db"
    with pytest.raises(StoreUnavailable) as info:
        SqliteStateStore(missing_dir)
    assert str(missing_dir) in str(info.value)


def test_a_file_that_is_not_a_database_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreUnavailable):
        SqliteStateStore(path)
    assert path.read_bytes() == b"this is not sqlite" * 100


def _open_and_write(path: str, index: int) -> str:
    try:
        with SqliteStateStore(path) as store:
            store.set(f"k{index}", index)
        return "ok"
    except Exception as exc:  # reported to the parent, which asserts on it
        return repr(exc)


def test_several_processes_creating_one_new_file_at_once(tmp_path: Path) -> None:
    # Switching a new file to WAL can answer "database is locked" without waiting
    # on the busy handler; the store must retry rather than fail.
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for round_ in range(5):
        path = str(tmp_path / f"new-{round_}.db")
        with ctx.Pool(4) as pool:
            outcomes = pool.starmap(_open_and_write, [(path, i) for i in range(4)])
        assert outcomes == ["ok"] * 4
        with SqliteStateStore(path) as store:
            assert store.keys() == ["k0", "k1", "k2", "k3"]
