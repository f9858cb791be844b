"""Batched status (issue 23): one listing per system and tick, and nothing decided changes.

Against the public fakes (``BatchFakeJob``, ``AsyncBatchFakeJob``): a listing moves each
job it shows one step, as its own status query would, so a batched run and a direct one
see the same answers and must end the same way.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from resumable_core import (
    InvalidArgument,
    JobRecord,
    MemoryStateStore,
    Policy,
    PollPolicy,
    ProtocolError,
    TransientError,
    load_record,
)
from resumable_core.aio import AsyncSupportsBatchStatus, StatusBatcher, Supervised, Supervisor, in_threads
from resumable_core.errors import TransientBudgetExhausted
from resumable_core.events import Event, StatusChanged
from resumable_core.testing import FAILED, SUCCEEDED, AsyncBatchFakeJob, BatchFakeJob, FakeExternalSystem

FAST = PollPolicy(min_interval=0.001, max_interval=0.004, jitter=0)
TICK = 0.01


class CountingJob(AsyncBatchFakeJob):
    """Counts the direct status calls (the listings are counted by the fake system)."""

    direct: Counter[str]

    def __init__(self, system: FakeExternalSystem, direct: Counter[str]) -> None:
        super().__init__(system)
        self.direct = direct

    async def get_job_status(self, job_id: str) -> str:
        self.direct[job_id] += 1
        return await super().get_job_status(job_id)


def supervise(system: FakeExternalSystem, keys: int, *, tick: float | None = TICK, poll: PollPolicy = FAST,
              job: Any = None, policy: Policy | None = None,
              listener: Any = None) -> tuple[dict[str, Supervised], Counter[str], MemoryStateStore]:
    direct: Counter[str] = Counter()
    store = MemoryStateStore()
    supervisor = Supervisor(store, batch_tick=tick, policy=policy, listener=listener)
    for i in range(keys):
        supervisor.add(job(system, direct) if job else CountingJob(system, direct), key=f"k{i:03d}", poll=poll)
    return asyncio.run(supervisor.run()), direct, store


def ending(outcomes: Mapping[str, Supervised], store: MemoryStateStore) -> Counter[tuple[Any, ...]]:
    """What each key ended with, as a multiset (which key got which job id may differ)."""
    seen: Counter[tuple[Any, ...]] = Counter()
    for key, outcome in outcomes.items():
        record = load_record(store, key)
        assert isinstance(record, JobRecord)
        seen[(outcome.ok, type(outcome.error).__name__, record.phase, record.status, len(record.history))] += 1
    return seen


def test_many_jobs_are_asked_in_one_listing_per_tick_and_never_one_by_one() -> None:
    system = FakeExternalSystem(running_polls=3)
    outcomes, direct, _ = supervise(system, 60)
    assert all(o.ok for o in outcomes.values())
    assert len(system.submissions()) == 60
    # Each job is asked 5 times (QUEUED, RUNNING x3, SUCCEEDED): 300 calls one by one.
    assert sum(direct.values()) == 0, direct
    assert 5 <= system.listings <= 40, system.listings


def test_batched_and_direct_runs_end_the_same() -> None:
    plan = [SUCCEEDED, FAILED, SUCCEEDED, FAILED, FAILED] * 6
    batched_system = FakeExternalSystem(running_polls=2, outcomes=list(plan))
    direct_system = FakeExternalSystem(running_polls=2, outcomes=list(plan))
    batched, _, batched_store = supervise(batched_system, len(plan))
    direct, calls, direct_store = supervise(direct_system, len(plan), tick=None)
    assert direct_system.listings == 0 and sum(calls.values()) > 0
    assert batched_system.listings > 0
    assert ending(batched, batched_store) == ending(direct, direct_store)
    assert len(batched_system.submissions()) == len(direct_system.submissions()) == len(plan)


def test_a_job_missing_from_the_listing_is_asked_directly_and_not_resubmitted() -> None:
    system = FakeExternalSystem(running_polls=3)
    system.unlisted.add("job-0002")  # the listing never shows it (retention, paging: a partial listing)
    outcomes, direct, store = supervise(system, 4)
    assert all(o.ok for o in outcomes.values()), outcomes
    assert len(system.submissions()) == 4  # no resubmission: absence is not "not found"
    assert set(direct) == {"job-0002"} and direct["job-0002"] == 5
    records = [load_record(store, key) for key in outcomes]
    record = next(r for r in records if r is not None and r.job_id == "job-0002")
    assert record.status == SUCCEEDED and len(record.history) == 1


def forget_when_running(system: FakeExternalSystem, job_id: str) -> Any:
    def listener(event: Event) -> None:
        if isinstance(event, StatusChanged) and event.job_id == job_id and event.status == "RUNNING":
            system.forget(job_id)

    return listener


@pytest.mark.parametrize("on_lost", ["resubmit", "fail"])
def test_a_job_gone_from_listing_and_system_follows_the_lost_rules_as_without_batching(on_lost: str) -> None:
    from resumable_core import OnLost

    policy = Policy(on_lost=OnLost(on_lost))
    endings = []
    for tick in (TICK, None):
        system = FakeExternalSystem(running_polls=3)
        outcomes, direct, store = supervise(system, 3, tick=tick, policy=policy,
                                            listener=forget_when_running(system, "job-0001"))
        # The forgotten job was confirmed gone by a direct ask before anything counted it.
        assert direct["job-0001"] >= 1
        endings.append((ending(outcomes, store), len(system.submissions())))
    assert endings[0] == endings[1]
    assert endings[0][1] == (4 if on_lost == "resubmit" else 3)


class FailingListing(CountingJob):
    """A listing that fails *failures* times in a row (then answers), shared by every job of a system."""

    state: dict[str, int]

    async def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        self.state["listings"] += 1
        if self.state["failures"] > 0:
            self.state["failures"] -= 1
            raise TransientError("listing refused (503)")
        return await super().get_job_statuses(job_ids)


def failing(failures: int) -> tuple[dict[str, int], Any]:
    state = {"failures": failures, "listings": 0}

    def make(system: FakeExternalSystem, direct: Counter[str]) -> FailingListing:
        job = FailingListing(system, direct)
        job.state = state
        return job

    return state, make


def test_a_listing_that_keeps_failing_spends_each_jobs_budget_as_a_single_call_would() -> None:
    poll = PollPolicy(min_interval=0.001, max_interval=0.002, jitter=0, transient_attempts=3)
    state, make = failing(10**6)
    outcomes, direct, _ = supervise(FakeExternalSystem(), 5, poll=poll, job=make)
    assert sum(direct.values()) == 0  # a failed listing is a transient, not a reason to ask one by one
    for outcome in outcomes.values():
        assert isinstance(outcome.error, TransientBudgetExhausted), outcome
        assert "after 3 attempts" in outcome.error.message and outcome.error.job_id
    # Each job spent exactly its 3 attempts; the listings it shared with others count once each.
    assert 3 <= state["listings"] <= 15

    # The same budget without batching: each job's own status call fails as the listing did.
    class Refusing(CountingJob):
        async def get_job_status(self, job_id: str) -> str:
            self.direct[job_id] += 1
            raise TransientError("status refused (503)")

    direct_outcomes, calls, _ = supervise(FakeExternalSystem(), 5, poll=poll, tick=None,
                                          job=lambda s, d: Refusing(s, d))
    assert sorted(calls.values()) == [3] * 5
    assert {type(o.error) for o in direct_outcomes.values()} == {TransientBudgetExhausted}


def test_a_listing_that_fails_within_the_budget_is_retried_and_nothing_is_resubmitted() -> None:
    poll = PollPolicy(min_interval=0.001, max_interval=0.002, jitter=0, transient_attempts=4)
    system = FakeExternalSystem(running_polls=2)
    state, make = failing(3)
    outcomes, direct, _ = supervise(system, 6, poll=poll, job=make)
    assert all(o.ok for o in outcomes.values()), outcomes
    assert len(system.submissions()) == 6 and sum(direct.values()) == 0


def test_a_listing_that_answers_nonsense_is_not_trusted_every_job_asks_directly() -> None:
    class Nonsense(CountingJob):
        async def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
            raise ProtocolError("the listing is not JSON")

    system = FakeExternalSystem(running_polls=1)
    outcomes, direct, _ = supervise(system, 4, job=lambda s, d: Nonsense(s, d))
    assert all(o.ok for o in outcomes.values())
    assert len(system.submissions()) == 4 and sorted(direct.values()) == [3] * 4


def test_a_blocking_job_in_threads_keeps_the_capability_and_is_batched() -> None:
    system = FakeExternalSystem(running_polls=2)
    wrapped = in_threads(BatchFakeJob(system))
    assert isinstance(wrapped, AsyncSupportsBatchStatus) and StatusBatcher.accepts(wrapped)
    assert wrapped.batch_key == BatchFakeJob(system).batch_key
    outcomes, _, _ = supervise(system, 8, job=lambda s, d: in_threads(BatchFakeJob(s)))
    assert all(o.ok for o in outcomes.values())
    assert system.listings > 0 and len(system.submissions()) == 8


def test_jobs_of_two_systems_are_listed_apart() -> None:
    first, second = FakeExternalSystem(running_polls=1), FakeExternalSystem(running_polls=1)
    store = MemoryStateStore()
    supervisor = Supervisor(store, batch_tick=TICK)
    for i in range(4):
        supervisor.add(AsyncBatchFakeJob(first), key=f"a{i}", poll=FAST)
        supervisor.add(AsyncBatchFakeJob(second), key=f"b{i}", poll=FAST)
    outcomes = asyncio.run(supervisor.run())
    assert all(o.ok for o in outcomes.values())
    assert first.listings > 0 and second.listings > 0
    assert len(first.submissions()) == len(second.submissions()) == 4


def test_an_empty_batch_key_or_no_tick_asks_each_job_directly() -> None:
    class Unlisted(CountingJob):
        @property
        def batch_key(self) -> str:
            return ""  # this job cannot list right now (a Spark client without a web UI)

    system = FakeExternalSystem(running_polls=1)
    outcomes, direct, _ = supervise(system, 3, job=lambda s, d: Unlisted(s, d))
    assert all(o.ok for o in outcomes.values()) and system.listings == 0 and sum(direct.values()) == 9
    outcomes, direct, _ = supervise(FakeExternalSystem(running_polls=1), 3, tick=None)
    assert all(o.ok for o in outcomes.values()) and sum(direct.values()) == 9


def test_the_tick_bounds_the_listings_a_system_sees() -> None:
    # 40 jobs polling every millisecond for ~0.3 s: one by one that is thousands of calls;
    # batched, at most one listing per tick (plus the first).
    system = FakeExternalSystem(running_polls=60)
    poll = PollPolicy(min_interval=0.001, max_interval=0.001, jitter=0)
    loop_time: list[float] = []

    async def main() -> dict[str, Supervised]:
        supervisor = Supervisor(MemoryStateStore(), batch_tick=0.02)
        for i in range(40):
            supervisor.add(AsyncBatchFakeJob(system), key=f"k{i}", poll=poll)
        started = asyncio.get_running_loop().time()
        outcomes = await supervisor.run()
        loop_time.append(asyncio.get_running_loop().time() - started)
        return outcomes

    outcomes = asyncio.run(main())
    assert all(o.ok for o in outcomes.values())
    assert system.listings <= loop_time[0] / 0.02 + 2, (system.listings, loop_time)


def test_bad_ticks_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        Supervisor(MemoryStateStore(), batch_tick=-1)
    with pytest.raises(InvalidArgument):
        StatusBatcher(float("nan"))
