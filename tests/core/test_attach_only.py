"""``attach_only``: follow what is recorded, never submit, write nothing where a run would submit.

Through both drivers (``run_resumable`` and ``run_resumable_async``) with the public
fakes: the system's own list of submissions is the proof that nothing was submitted,
and the stored record, compared whole, the proof that nothing was written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from resumable_core import (
    AmbiguousSubmission,
    InvalidArgument,
    JobFailed,
    JobLost,
    JobRecord,
    JsonValue,
    MemoryStateStore,
    Phase,
    PollPolicy,
    load_record,
    run_resumable,
)
from resumable_core.aio import Supervisor, run_resumable_async
from resumable_core.errors import NothingToAttach
from resumable_core.record import Outcome, Submission
from resumable_core.testing import AsyncFakeJob, FakeClock, FakeExternalSystem, FakeJob, PlainFakeJob

FAST = PollPolicy(min_interval=0.0, max_interval=0.0, jitter=0.0)
Runner = Callable[..., JsonValue]


def run_sync(job: Any, store: MemoryStateStore, **kw: Any) -> JsonValue:
    clock = FakeClock()
    result: JsonValue = run_resumable(job, store, key="k", poll=FAST, clock=clock, sleep=clock.sleep, **kw)
    return result


def run_async(job: Any, store: MemoryStateStore, **kw: Any) -> JsonValue:
    # The async driver takes an async job: the same fake system behind it.
    async_job = AsyncFakeJob(job.system) if isinstance(job, FakeJob) else job
    result: JsonValue = asyncio.run(run_resumable_async(async_job, store, key="k", poll=FAST, **kw))
    return result


DRIVERS = [pytest.param(run_sync, id="sync"), pytest.param(run_async, id="async")]


def submitted(system: FakeExternalSystem, store: MemoryStateStore, job_id: str, reference: str, **kw: Any) -> None:
    record = JobRecord("k", Phase.SUBMITTED, reference, 2, 1.0, job_id=job_id, status="RUNNING",
                       history=(Submission(reference, job_id, Outcome.ACTIVE, intent_at=1.0, submitted_at=1.0),), **kw)
    store.set("k", record.to_json())


@pytest.mark.parametrize("run", DRIVERS)
def test_a_running_job_is_followed_to_its_end_and_recorded(run: Runner) -> None:
    system = FakeExternalSystem(running_polls=2)
    job_id = system.submit("ref-1", "spec")
    store = MemoryStateStore()
    submitted(system, store, job_id, "ref-1")

    result = run(FakeJob(system), store, attach_only=True)

    assert isinstance(result, dict) and result["job_id"] == job_id
    assert system.submissions() == [job_id]
    record = load_record(store, "k")
    assert record is not None and record.phase is Phase.SUCCEEDED and record.result == result


@pytest.mark.parametrize("run", DRIVERS)
def test_a_recorded_success_is_returned(run: Runner) -> None:
    system = FakeExternalSystem(running_polls=0)
    first = run_sync(FakeJob(system), store := MemoryStateStore())
    assert run(FakeJob(system), store, attach_only=True) == first
    assert len(system.submissions()) == 1


@pytest.mark.parametrize("run", DRIVERS)
@pytest.mark.parametrize(
    ("situation", "error", "named"),
    [
        ("nothing recorded", NothingToAttach, "nothing is recorded"),
        ("failed before", JobFailed, "had ended FAILED before this run attached"),
        ("forgotten", JobLost, "does not know the recorded job"),
        ("never submitted", NothingToAttach, "no job carries the recorded submission reference ref-none"),
        ("another generation", NothingToAttach, "another request (fresh_run)"),
    ],
)
def test_where_a_run_would_submit_it_stops_and_writes_nothing(
    run: Runner, situation: str, error: type[Exception], named: str
) -> None:
    system = FakeExternalSystem(running_polls=0, outcomes=["FAILED"])
    store = MemoryStateStore()
    kw: dict[str, Any] = {}
    if situation != "nothing recorded" and situation != "never submitted":
        job_id = system.submit("ref-1", "spec")
        submitted(system, store, job_id, "ref-1", generation="g1")
        if situation == "failed before":
            system.finish(job_id)
        elif situation == "forgotten":
            system.forget(job_id)
        elif situation == "another generation":
            kw["generation"] = "g2"
    elif situation == "never submitted":
        store.set("k", JobRecord("k", Phase.INTENT, "ref-none", 1, 1.0,
                                 history=(Submission("ref-none", None, Outcome.PENDING, intent_at=1.0),)).to_json())
    before_record, before_jobs = store.get("k"), system.submissions()

    with pytest.raises(error) as raised:
        run(FakeJob(system), store, attach_only=True, **kw)

    assert named in str(raised.value) and "does not submit" in str(raised.value)
    assert getattr(raised.value, "key", None) == "k"
    assert system.submissions() == before_jobs  # nothing submitted
    assert store.get("k") == before_record  # nothing written
    if situation == "another generation":  # the old job was not cancelled to make room
        assert system.status(before_jobs[0]) != "CANCELLED"


@pytest.mark.parametrize("run", DRIVERS)
def test_an_intent_that_cannot_be_looked_up_is_ambiguous_whatever_the_policy(run: Runner) -> None:
    system = FakeExternalSystem()
    store = MemoryStateStore()
    store.set("k", JobRecord("k", Phase.INTENT, "ref-x", 1, 1.0,
                             history=(Submission("ref-x", None, Outcome.PENDING, intent_at=1.0),)).to_json())
    job = PlainFakeJob(system) if run is run_sync else _PlainAsync(system)
    with pytest.raises(AmbiguousSubmission):
        run(job, store, attach_only=True)  # the default policy would resubmit (on_ambiguous="resubmit")
    assert system.submissions() == []


class _PlainAsync:
    """An async job with the required operations only: no lookup by reference."""

    def __init__(self, system: FakeExternalSystem) -> None:
        self.inner = AsyncFakeJob(system)

    async def submit_job(self, reference: str) -> str:
        return await self.inner.submit_job(reference)

    async def get_job_status(self, job_id: str) -> str:
        return await self.inner.get_job_status(job_id)

    def is_job_active(self, status: str) -> bool:
        return self.inner.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.inner.is_job_succeeded(status)

    async def get_job_result(self, job_id: str, status: str) -> JsonValue:
        result: JsonValue = await self.inner.get_job_result(job_id, status)
        return result


def test_fresh_and_attach_only_contradict_each_other_before_anything_is_read() -> None:
    system = FakeExternalSystem()
    store = MemoryStateStore()
    with pytest.raises(InvalidArgument, match="attach_only"):
        run_sync(FakeJob(system), store, fresh=True, attach_only=True)
    with pytest.raises(InvalidArgument, match="attach_only"):
        # Refused when called, before there is a coroutine to await.
        _ = run_resumable_async(AsyncFakeJob(system), store, key="k", fresh=True, attach_only=True)
    with pytest.raises(InvalidArgument, match="attach_only"):
        Supervisor(store).add(AsyncFakeJob(system), key="k", fresh=True, attach_only=True)
    assert system.submissions() == [] and store.get("k") is None
