"""SqliteStateStore under several real processes (multiprocessing, spawn context).

- compare-and-set: processes increment one counter by read + compare-and-set,
  retrying on conflict. Every successful compare-and-set writes a distinct value
  and the final count is their number: no update is lost.
- run_resumable: processes run the same key at once against an external system
  they share across processes (``Registry``: a small SQLite file standing in for
  a cluster's job table). Exactly one job is submitted; everyone gets its result.
  Also with one process killed (os._exit, no clean-up) between submit and
  persisting the job id: the others adopt its job by reference, or, without a
  lookup and with on_ambiguous=fail, stop for a human; never a second job.

Worker functions live at module level so that spawned children can import them.
Nothing here asserts on timing; sleeps only widen the windows races need.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import (
    JobNotFound,
    JsonValue,
    OnAmbiguous,
    Phase,
    Policy,
    PollPolicy,
    ResumableError,
    load_record,
    run_resumable,
)

CTX = multiprocessing.get_context("spawn")
KEY = "dag/run/processes"
COUNTER = "counter"
POLL = PollPolicy(min_interval=0.01, max_interval=0.05, jitter=0.5)
JOIN_SECONDS = 180.0  # a generous bound on a stuck child, never an assertion on speed


# -- a cross-process external system ------------------------------------------------------------


class Registry:
    """The external system's job table in a SQLite file every process opens.

    A job moves QUEUED -> RUNNING -> SUCCEEDED one step per status query (from
    any process). ``submit_delay`` keeps the submit call open for a while, so
    that the other processes find the intent and not yet a job id.
    """

    def __init__(self, path: str, *, submit_delay: float = 0.0) -> None:
        self.path = path
        self.submit_delay = submit_delay
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " reference TEXT NOT NULL, pid INTEGER NOT NULL, polls INTEGER NOT NULL DEFAULT 0)"
        )

    def submit(self, reference: str) -> str:
        time.sleep(self.submit_delay)
        cursor = self.conn.execute("INSERT INTO jobs (reference, pid) VALUES (?, ?)", (reference, os.getpid()))
        return f"job-{cursor.lastrowid}"

    def status(self, job_id: str) -> str:
        number = int(job_id.removeprefix("job-"))
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT polls FROM jobs WHERE id = ?", (number,)).fetchone()
            if row is None:
                raise JobNotFound(f"registry has no job {job_id!r}", job_id=job_id)
            self.conn.execute("UPDATE jobs SET polls = polls + 1 WHERE id = ?", (number,))
        finally:
            self.conn.execute("COMMIT")
        polls = int(row[0])
        return "QUEUED" if polls == 0 else "RUNNING" if polls < 3 else "SUCCEEDED"

    def find(self, reference: str) -> str | None:
        row = self.conn.execute("SELECT id FROM jobs WHERE reference = ? ORDER BY id", (reference,)).fetchone()
        return None if row is None else f"job-{row[0]}"

    def jobs(self) -> list[tuple[str, str, int]]:
        rows = self.conn.execute("SELECT id, reference, pid FROM jobs ORDER BY id").fetchall()
        return [(f"job-{r[0]}", str(r[1]), int(r[2])) for r in rows]

    def close(self) -> None:
        self.conn.close()


class RegistryJob:
    """A ResumableJob on the registry with the five required operations only."""

    def __init__(self, registry: Registry, *, die_after_submit: bool = False) -> None:
        self.registry = registry
        self.die_after_submit = die_after_submit

    def submit_job(self, reference: str) -> str:
        job_id = self.registry.submit(reference)
        if self.die_after_submit:
            os._exit(137)  # the process dies: no finally, no handler, the id never persisted
        return job_id

    def get_job_status(self, job_id: str) -> str:
        return self.registry.status(job_id)

    def is_job_active(self, status: str) -> bool:
        return status in ("QUEUED", "RUNNING")

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        return {"job_id": job_id, "status": status}


class FindableRegistryJob(RegistryJob):
    def find_job_by_reference(self, reference: str) -> str | None:
        return self.registry.find(reference)


# -- workers (run in spawned children) --------------------------------------------------------------


def cas_worker(path: str, increments: int, start: Any, results: Any) -> None:
    """Increment the counter *increments* times by read + compare-and-set; report what it wrote."""
    store = SqliteStateStore(path)
    written: list[int] = []
    conflicts = 0
    start.wait()
    while len(written) < increments:
        current = store.get(COUNTER)
        value = (current if isinstance(current, int) else 0) + 1
        time.sleep(0.0005)  # between read and write, as real work would: other writers get in
        if store.compare_and_set(COUNTER, current, value):
            written.append(value)
        else:
            conflicts += 1
    store.close()
    results.put((os.getpid(), written, conflicts))


def run_worker(
    state_path: str,
    registry_path: str,
    findable: bool,
    lease: float,
    on_ambiguous: str,
    submit_delay: float,
    die_after_submit: bool,
    start: Any,
    results: Any,
) -> None:
    """One process calling run_resumable on KEY; reports ("result", value) or ("error", type, key)."""
    registry = Registry(registry_path, submit_delay=submit_delay)
    kind = FindableRegistryJob if findable else RegistryJob
    job = kind(registry, die_after_submit=die_after_submit)
    store = SqliteStateStore(state_path)
    start.wait()
    try:
        result = run_resumable(
            job, store, key=KEY, poll=POLL,
            policy=Policy(intent_lease=lease, on_ambiguous=OnAmbiguous(on_ambiguous)),
        )
        results.put(("result", result))
    except ResumableError as exc:
        results.put(("error", type(exc).__name__, exc.key))
    finally:
        store.close()
        registry.close()


# -- running children ---------------------------------------------------------------------------------


@contextmanager
def children(target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> Iterator[list[SpawnProcess]]:
    """Start one spawned child per argument tuple; make sure none outlives the test."""
    processes = [CTX.Process(target=target, args=a, daemon=True) for a in args]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()  # only our own children, by their handle
            process.join(10)


def collect(processes: list[SpawnProcess], results: Any, count: int) -> list[Any]:
    """*count* reports from the children (before joining: a child blocks until its queue drains)."""
    reports = [results.get(timeout=JOIN_SECONDS) for _ in range(count)]
    for process in processes:
        process.join(JOIN_SECONDS)
        assert process.exitcode == 0, f"child {process.pid} exited with {process.exitcode}"
    return reports


# -- tests ---------------------------------------------------------------------------------------------


def test_compare_and_set_from_several_processes_loses_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    SqliteStateStore(path).close()  # created once, so no child races to create the schema
    workers, increments = 4, 200
    start = CTX.Barrier(workers)
    results = CTX.Queue()
    with children(cas_worker, [(path, increments, start, results)] * workers) as processes:
        reports = collect(processes, results, workers)

    written = sorted(value for _, values, _ in reports for value in values)
    # Each successful compare-and-set moved the counter from the value it read to
    # the next one: two winners from the same read would have written the same value.
    assert written == list(range(1, workers * increments + 1))
    with SqliteStateStore(path) as store:
        assert store.get(COUNTER) == len(written) == workers * increments


def start_runs(
    tmp_path: Path,
    count: int,
    *,
    findable: bool,
    lease: float = 120.0,
    on_ambiguous: OnAmbiguous = OnAmbiguous.RESUBMIT,
    submit_delay: float = 0.0,
) -> list[Any]:
    """*count* processes calling run_resumable on KEY at once; their reports."""
    state_path, registry_path = str(tmp_path / "state.db"), str(tmp_path / "registry.db")
    start = CTX.Barrier(count)
    results = CTX.Queue()
    args = (state_path, registry_path, findable, lease, on_ambiguous.value, submit_delay, False, start, results)
    with children(run_worker, [args] * count) as processes:
        return collect(processes, results, count)


def prepare(tmp_path: Path) -> tuple[SqliteStateStore, Registry]:
    return SqliteStateStore(tmp_path / "state.db"), Registry(str(tmp_path / "registry.db"))


def check_one_job(store: SqliteStateStore, registry: Registry, reports: list[Any]) -> None:
    """One job in the registry; the record names it as succeeded; every process returned its result."""
    jobs = registry.jobs()
    assert len(jobs) == 1, f"expected one submission, the registry has {jobs}"
    ((job_id, reference, _),) = jobs
    record = load_record(store, KEY)
    assert record is not None
    assert record.phase is Phase.SUCCEEDED and record.job_id == job_id and record.reference == reference
    assert [h.job_id for h in record.history] == [job_id]
    assert reports == [("result", {"job_id": job_id, "status": "SUCCEEDED"})] * len(reports)


@pytest.mark.parametrize("findable", [True, False], ids=["find-by-reference", "no-lookup"])
def test_processes_running_one_key_submit_exactly_once(tmp_path: Path, findable: bool) -> None:
    store, registry = prepare(tmp_path)
    reports = start_runs(tmp_path, 4, findable=findable, submit_delay=0.3)
    check_one_job(store, registry, reports)
    store.close()
    registry.close()


def kill_one_after_submit(tmp_path: Path, *, findable: bool, lease: float, on_ambiguous: OnAmbiguous) -> None:
    """A process writes its intent, submits, and dies before persisting the job id."""
    start, results = CTX.Barrier(1), CTX.Queue()
    args = (
        str(tmp_path / "state.db"), str(tmp_path / "registry.db"), findable, lease,
        on_ambiguous.value, 0.0, True, start, results,
    )
    with children(run_worker, [args]) as (dying,):
        dying.join(JOIN_SECONDS)
        assert dying.exitcode == 137



def test_process_killed_between_submit_and_persist_is_adopted_by_the_others(tmp_path: Path) -> None:
    store, registry = prepare(tmp_path)
    kill_one_after_submit(tmp_path, findable=True, lease=120.0, on_ambiguous=OnAmbiguous.RESUBMIT)
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None
    ((_, reference, _),) = registry.jobs()
    assert reference == record.reference

    reports = start_runs(tmp_path, 3, findable=True)
    check_one_job(store, registry, reports)
    store.close()
    registry.close()


def test_process_killed_after_submit_without_lookup_stops_the_others_for_a_human(tmp_path: Path) -> None:
    store, registry = prepare(tmp_path)
    kill_one_after_submit(tmp_path, findable=False, lease=0.5, on_ambiguous=OnAmbiguous.FAIL)
    reports = start_runs(tmp_path, 3, findable=False, lease=0.5, on_ambiguous=OnAmbiguous.FAIL)
    assert reports == [("error", "AmbiguousSubmission", KEY)] * 3
    assert len(registry.jobs()) == 1  # the dead process's job, and no second one
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None
    store.close()
    registry.close()
