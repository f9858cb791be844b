"""run_resumable_async and the Supervisor: the same decisions as run_resumable, on an event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from resumable_core import (
    InvalidArgument,
    JobFailed,
    MemoryStateStore,
    Phase,
    PollPolicy,
    StateStore,
    load_record,
    run_resumable,
)
from resumable_core.aio import Supervisor, run_resumable_async
from resumable_core.events import Event, Reattached, ResultReused, Submitted
from resumable_core.telemetry import DECISIONS
from resumable_core.testing import AsyncFakeJob, FakeExternalSystem, FakeJob

FAST = PollPolicy(min_interval=0, max_interval=0, jitter=0)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_the_async_runner_submits_polls_and_records_like_the_sync_one(store: StateStore) -> None:
    system = FakeExternalSystem(running_polls=3)
    events: list[Event] = []
    result = run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST, listener=events.append))
    assert isinstance(result, dict) and result["status"] == "SUCCEEDED"
    record = load_record(store, "k")
    assert record is not None and record.phase is Phase.SUCCEEDED and record.result == result
    assert [type(e).__name__ for e in events][0] == "Submitted"
    # The sync runner reads what the async one wrote, and reuses it.
    again = run_resumable(FakeJob(system), store, key="k", poll=FAST, sleep=lambda s: None)
    assert again == result and len(system.submissions()) == 1


def test_the_async_runner_reattaches_to_what_a_crashed_sync_run_left() -> None:
    system, store = FakeExternalSystem(running_polls=4), MemoryStateStore()

    class Crash(BaseException):
        pass

    class CrashingJob(FakeJob):
        def get_job_status(self, job_id: str) -> str:
            raise Crash()

    with pytest.raises(Crash):
        run_resumable(CrashingJob(system), store, key="k", poll=FAST, sleep=lambda s: None)
    events: list[Event] = []
    result = run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST, listener=events.append))
    assert len(system.submissions()) == 1 and result["job_id"] == system.submissions()[0]
    assert any(isinstance(e, Reattached) for e in events) and not any(isinstance(e, Submitted) for e in events)


def test_a_failed_job_raises_job_failed_and_the_next_async_run_resubmits() -> None:
    system, store = FakeExternalSystem(outcomes=["FAILED"]), MemoryStateStore()
    with pytest.raises(JobFailed):
        run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST))
    result = run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST))
    assert result["status"] == "SUCCEEDED" and len(system.submissions()) == 2


def test_a_blocking_store_runs_off_the_event_loop(tmp_path: Path) -> None:
    from resumable_adapters.sqlite import SqliteStateStore

    loop_threads: set[int] = set()
    store_threads: set[int] = set()

    class WatchedStore(SqliteStateStore):
        def get(self, key: str, default: Any = None) -> Any:
            store_threads.add(threading.get_ident())
            return super().get(key, default)

    async def main() -> Any:
        loop_threads.add(threading.get_ident())
        return await run_resumable_async(AsyncFakeJob(FakeExternalSystem()), WatchedStore(str(tmp_path / "s.db")),
                                         key="k", poll=FAST)

    assert run(main())["status"] == "SUCCEEDED"
    assert store_threads and not (store_threads & loop_threads)


def test_a_blocking_job_is_refused_before_anything_is_submitted() -> None:
    system = FakeExternalSystem()
    with pytest.raises(InvalidArgument, match="coroutine"):
        run(run_resumable_async(FakeJob(system), MemoryStateStore(), key="k"))  # type: ignore[arg-type]  # on purpose
    assert system.submissions() == []


class CountingJob(AsyncFakeJob):
    """Counts the calls in flight to the system, and yields inside each so they can overlap."""

    in_flight = 0
    most = 0

    async def get_job_status(self, job_id: str) -> str:
        CountingJob.in_flight += 1
        CountingJob.most = max(CountingJob.most, CountingJob.in_flight)
        try:
            await asyncio.sleep(0)
            return await super().get_job_status(job_id)
        finally:
            CountingJob.in_flight -= 1


def test_the_supervisor_runs_many_keys_once_each_within_its_bound_on_calls() -> None:
    system, store = FakeExternalSystem(running_polls=3, outcomes=["SUCCEEDED"] * 49 + ["FAILED"]), MemoryStateStore()
    supervisor = Supervisor(store, max_concurrent_calls=5)
    for n in range(50):
        supervisor.add(CountingJob(system, spec=f"spec-{n}"), key=f"job-{n:02d}", poll=FAST)
    outcomes = run(supervisor.run())
    assert len(system.submissions()) == 50
    failed = [o for o in outcomes.values() if not o.ok]
    assert len(failed) == 1 and isinstance(failed[0].error, JobFailed)
    assert all(o.result["spec"] == f"spec-{int(k[4:])}" for k, o in outcomes.items() if o.ok)
    assert 1 < CountingJob.most <= 5
    # Again: every success is reused from the record, the failure resubmitted.
    again = Supervisor(store)
    for n in range(50):
        again.add(CountingJob(system, spec=f"spec-{n}"), key=f"job-{n:02d}", poll=FAST)
    assert all(o.ok for o in run(again.run()).values())
    assert len(system.submissions()) == 51


def test_the_supervisor_refuses_a_key_twice() -> None:
    supervisor = Supervisor(MemoryStateStore())
    supervisor.add(AsyncFakeJob(FakeExternalSystem()), key="k")
    with pytest.raises(InvalidArgument, match="supervised already"):
        supervisor.add(AsyncFakeJob(FakeExternalSystem()), key="k")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []

    def record_decision(self, decision: str, attributes: Mapping[str, str]) -> None:
        self.seen.append((decision, dict(attributes)))


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_every_decision_is_counted_with_key_reference_job_and_prior_status(driver: str) -> None:
    system, store, telemetry = FakeExternalSystem(outcomes=["FAILED"]), MemoryStateStore(), Recorder()

    def go() -> Any:
        if driver == "sync":
            return run_resumable(FakeJob(system), store, key="k", poll=FAST, sleep=lambda s: None, telemetry=telemetry)
        return run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST, telemetry=telemetry))

    with pytest.raises(JobFailed):
        go()
    go()
    go()
    names = [name for name, _ in telemetry.seen]
    assert names == ["fresh_submit", "terminal_resubmit", "already_succeeded"]
    _, attributes = telemetry.seen[1]
    assert attributes["key"] == "k" and attributes["prior_status"] == "FAILED" and attributes["job_id"]
    assert set(names) <= set(DECISIONS)


def test_a_reused_result_event_from_the_async_runner() -> None:
    system, store = FakeExternalSystem(), MemoryStateStore()
    run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST))
    events: list[Event] = []
    run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST, listener=events.append))
    assert [type(e) for e in events] == [ResultReused]


def test_a_blocking_job_joins_the_supervisor_in_threads_with_exactly_its_capabilities() -> None:
    from resumable_core.aio import in_threads
    from resumable_core.testing import PlainFakeJob

    loop_thread: set[int] = set()
    call_threads: set[int] = set()

    class Watched(FakeJob):
        def get_job_status(self, job_id: str) -> str:
            call_threads.add(threading.get_ident())
            return super().get_job_status(job_id)

    system, store = FakeExternalSystem(running_polls=2), MemoryStateStore()
    plain, full = in_threads(PlainFakeJob(system)), in_threads(Watched(system, spec="w"))
    assert not hasattr(plain, "cancel_job") and not hasattr(plain, "find_job_by_reference")
    assert hasattr(full, "cancel_job") and hasattr(full, "find_job_by_reference") and type(full).__name__ == "Watched"

    async def main() -> dict[str, Any]:
        loop_thread.add(threading.get_ident())
        supervisor = Supervisor(store)
        supervisor.add(plain, key="plain", poll=FAST)
        supervisor.add(full, key="full", poll=FAST)
        return {k: o.result for k, o in (await supervisor.run()).items()}

    results = run(main())
    assert results["full"]["spec"] == "w" and results["plain"]["spec"] == "spec-1"
    assert call_threads and not (call_threads & loop_thread)


def test_without_telemetry_no_decision_is_even_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import resumable_core._session as session

    def named(*args: object) -> None:
        raise AssertionError("a decision was named with no telemetry to hand it to")

    monkeypatch.setattr(session, "decision_name", named)
    system = FakeExternalSystem(outcomes=["FAILED"])
    store = MemoryStateStore()
    with pytest.raises(JobFailed):
        run_resumable(FakeJob(system), store, key="k", poll=FAST, sleep=lambda s: None)
    run_resumable(FakeJob(system), store, key="k", poll=FAST, sleep=lambda s: None)
    run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST))
