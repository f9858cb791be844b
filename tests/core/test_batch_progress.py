"""Progress under a Supervisor: one call per tick where the job can batch it, a budget of calls
per system where it cannot, so that showing progress does not undo batched status.

The jobs here stay RUNNING until the test releases them (once what it waits for has been
seen), so no assertion depends on how fast anything runs; the budget's bound is checked
against the event loop's own elapsed time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from resumable_core import InvalidArgument, MemoryStateStore, PollPolicy, load_record
from resumable_core._batch import PROGRESS_BURST_SECONDS
from resumable_core.aio import (
    DEFERRED,
    AsyncSupportsBatchProgress,
    StatusBatcher,
    Supervisor,
    SupportsBatchProgress,
    in_threads,
)
from resumable_core.events import Event, ProgressReported
from resumable_core.progress import Count, Progress

POLL = PollPolicy(min_interval=0.002, max_interval=0.002, jitter=0, progress_interval=0.0)
TICK = 0.01


class System:
    """Jobs that run until released; counts every call a cluster would see."""

    def __init__(self, name: str = "cluster-a") -> None:
        self.name = name
        self.released = False
        self.listings = 0
        self.progress_calls: Counter[str] = Counter()  # job id -> its own job_progress calls
        self.progress_batches: list[int] = []  # ids asked, per batch call
        self.unlisted: set[str] = set()  # keys whose job ids the batch progress call leaves out
        self.submitted = 0

    def progress(self, job_id: str) -> Progress:
        return Progress(counts=(Count("tasks", 1, 4),), label=f"{job_id} at work")


class ProgressJob:
    """An async job with batched status and a progress call of its own per job."""

    def __init__(self, system: System, key: str) -> None:
        self.system = system
        self.key = key

    @property
    def batch_key(self) -> str:
        return self.system.name

    async def submit_job(self, reference: str) -> str:
        self.system.submitted += 1
        return f"{self.key}:{reference}"

    async def get_job_status(self, job_id: str) -> str:
        return "SUCCEEDED" if self.system.released else "RUNNING"

    async def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        self.system.listings += 1
        return {job_id: await self.get_job_status(job_id) for job_id in job_ids}

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    async def get_job_result(self, job_id: str, status: str) -> str:
        return job_id

    async def job_progress(self, job_id: str) -> Progress | None:
        self.system.progress_calls[job_id] += 1
        return self.system.progress(job_id)


class BatchProgressJob(ProgressJob):
    """``ProgressJob`` that can also say the progress of many jobs in one call."""

    async def get_job_progresses(self, job_ids: Sequence[str]) -> Mapping[str, Progress]:
        self.system.progress_batches.append(len(job_ids))
        return {job_id: self.system.progress(job_id) for job_id in job_ids
                if job_id.split(":")[0] not in self.system.unlisted}


class OwnUiJob(ProgressJob):
    """Progress read from each job's own UI (a Spark driver's): nothing central to budget."""

    progress_key = ""


def supervise(make: Callable[[str], Any], keys: int, *, release_when: Callable[[MemoryStateStore], bool],
              system: System, timeout: float = 60.0, **options: Any) -> tuple[MemoryStateStore, list[Event], float]:
    """Run *keys* jobs until *release_when* holds (or *timeout* passes), then let them end."""
    store, events = MemoryStateStore(), list[Event]()
    elapsed: list[float] = []

    async def main() -> None:
        supervisor = Supervisor(store, batch_tick=TICK, listener=events.append, **options)
        for i in range(keys):
            supervisor.add(make(f"k{i:03d}"), key=f"k{i:03d}", poll=POLL)
        loop = asyncio.get_running_loop()
        started = loop.time()
        run = asyncio.ensure_future(supervisor.run())
        deadline = started + timeout
        while not release_when(store) and loop.time() < deadline and not run.done():
            await asyncio.sleep(0.01)
        elapsed.append(loop.time() - started)
        system.released = True
        outcomes = await run
        assert all(o.ok for o in outcomes.values()), outcomes

    asyncio.run(main())
    return store, events, elapsed[0]


def all_have_progress(keys: int) -> Callable[[MemoryStateStore], bool]:
    def check(store: MemoryStateStore) -> bool:
        records = [load_record(store, f"k{i:03d}") for i in range(keys)]
        return all(r is not None and r.progress is not None for r in records)

    return check


def test_progress_that_can_be_batched_is_one_call_per_tick_and_never_one_per_job() -> None:
    system = System()
    store, events, _ = supervise(lambda key: BatchProgressJob(system, key), 30, system=system,
                                 release_when=all_have_progress(30))
    assert sum(system.progress_calls.values()) == 0, system.progress_calls
    assert system.progress_batches and max(system.progress_batches) > 1  # many jobs per call
    reported = {e.key for e in events if isinstance(e, ProgressReported)}
    assert reported == {f"k{i:03d}" for i in range(30)}
    record = load_record(store, "k007")
    assert record is not None and record.progress is not None and record.progress.label is not None
    assert record.progress.label.endswith("at work") and record.job_id is not None
    assert record.progress.label == f"{record.job_id} at work"  # each job its own progress
    assert system.submitted == 30


def test_a_job_the_batch_left_out_is_asked_on_its_own_within_the_budget() -> None:
    system = System()
    system.unlisted.add("k003")  # a run with more tasks than the listing shows, say
    store, _, _ = supervise(lambda key: BatchProgressJob(system, key), 6, system=system,
                            release_when=all_have_progress(6))
    record = load_record(store, "k003")
    assert record is not None and record.progress is not None and record.job_id is not None
    assert set(system.progress_calls) == {record.job_id}  # asked on its own, and only that one


def test_progress_calls_of_their_own_stay_within_the_systems_budget() -> None:
    # 40 jobs, each due for progress at every 2 ms poll: unbudgeted, that is thousands of
    # calls a second to one cluster; within the budget, at most rate x elapsed (+ the burst).
    system = System()
    rate = 100.0
    every_job = all_have_progress(40)
    began: list[float] = []

    def half_a_second_and_every_job(store: MemoryStateStore) -> bool:
        now = asyncio.get_running_loop().time()
        began[:] = began or [now]
        return now - began[0] >= 0.5 and every_job(store)

    store, _, elapsed = supervise(lambda key: ProgressJob(system, key), 40, system=system, progress_rate=rate,
                                  release_when=half_a_second_and_every_job)
    calls = sum(system.progress_calls.values())
    assert all_have_progress(40)(store)  # the asks the budget deferred were made later: every job got its turn
    assert calls <= rate * (elapsed + PROGRESS_BURST_SECONDS) + 1, (calls, elapsed)


def test_without_a_budget_or_with_a_key_of_its_own_each_job_asks_freely() -> None:
    unbudgeted = System()
    supervise(lambda key: ProgressJob(unbudgeted, key), 10, system=unbudgeted, progress_rate=None,
              release_when=lambda store: min(unbudgeted.progress_calls.values(), default=0) >= 20)
    assert len(unbudgeted.progress_calls) == 10 and min(unbudgeted.progress_calls.values()) >= 20
    own = System()
    supervise(lambda key: OwnUiJob(own, key), 10, system=own, progress_rate=0.01,
              release_when=lambda store: min(own.progress_calls.values(), default=0) >= 20)
    # A budget of one call in a hundred seconds would have allowed one in all; each job made 20.
    assert len(own.progress_calls) == 10 and min(own.progress_calls.values()) >= 20


def test_a_blocking_job_in_threads_keeps_batch_progress_and_its_progress_key() -> None:
    class Blocking:
        batch_key = "blocking-cluster"
        progress_key = "blocking-ui"

        def submit_job(self, reference: str) -> str:
            return reference

        def get_job_status(self, job_id: str) -> str:
            return "RUNNING"

        def is_job_active(self, status: str) -> bool:
            return True

        def is_job_succeeded(self, status: str) -> bool:
            return False

        def get_job_result(self, job_id: str, status: str) -> None:
            return None

        def job_progress(self, job_id: str) -> Progress | None:
            return None

        def get_job_progresses(self, job_ids: Sequence[str]) -> Mapping[str, Progress]:
            return {job_id: Progress(label=job_id) for job_id in job_ids}

    assert isinstance(Blocking(), SupportsBatchProgress)
    wrapped: Any = in_threads(Blocking())
    assert isinstance(in_threads(Blocking()), AsyncSupportsBatchProgress)
    assert (wrapped.batch_key, wrapped.progress_key) == ("blocking-cluster", "blocking-ui")
    seen = asyncio.run(wrapped.get_job_progresses(["a", "b"]))
    assert seen == {"a": Progress(label="a"), "b": Progress(label="b")}


def test_the_budget_defers_rather_than_waits() -> None:
    system = System()

    async def main() -> list[object]:
        batcher = StatusBatcher(TICK, progress_rate=1.0)
        job = ProgressJob(system, "k")
        return [await batcher.progress(job, f"k:{i}") for i in range(8)]

    answers = asyncio.run(main())
    saved = int(PROGRESS_BURST_SECONDS)  # one call a second, saved up for this many seconds
    assert answers[:saved] == [system.progress(f"k:{i}") for i in range(saved)]
    assert answers[saved:] == [DEFERRED] * (8 - saved)  # the others are not made, nor waited for
    assert sum(system.progress_calls.values()) == saved


def test_bad_progress_rates_are_refused() -> None:
    for rate in (0, -1.0, float("nan")):
        with pytest.raises(InvalidArgument):
            Supervisor(MemoryStateStore(), progress_rate=rate)
        with pytest.raises(InvalidArgument):
            StatusBatcher(TICK, progress_rate=rate)
