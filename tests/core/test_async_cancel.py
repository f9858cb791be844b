"""cancel_resumable_async: the cancel path on an event loop, deciding and recording as cancel_resumable does.

Each scenario runs through both drivers from the same starting state; the records
they leave are compared with each other (phase, status, history outcomes), and the
fake system's own state says what was killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from resumable_core import (
    InvalidArgument,
    JobCancelled,
    JobRecord,
    MemoryStateStore,
    Phase,
    PollPolicy,
    cancel_resumable,
    load_record,
)
from resumable_core.aio import cancel_resumable_async, run_resumable_async
from resumable_core.events import Cancelled, Event, SubmitReason, Submitted
from resumable_core.record import Outcome, Submission
from resumable_core.testing import ACTIVE, AsyncFakeJob, FakeClock, FakeExternalSystem, FakeJob

FAST = PollPolicy(min_interval=0, max_interval=0, jitter=0)
Cancel = Callable[..., "JobRecord | None"]


def cancel_sync(system: FakeExternalSystem, store: MemoryStateStore, **kw: Any) -> JobRecord | None:
    clock = FakeClock()
    return cancel_resumable(FakeJob(system), store, key="k", clock=clock, sleep=clock.sleep, poll=FAST, **kw)


def cancel_async(system: FakeExternalSystem, store: MemoryStateStore, **kw: Any) -> JobRecord | None:
    record: JobRecord | None = asyncio.run(cancel_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST,
                                                                  **kw))
    return record


DRIVERS = [pytest.param(cancel_sync, id="sync"), pytest.param(cancel_async, id="async")]


def running(store: MemoryStateStore, system: FakeExternalSystem) -> str:
    """A key whose process died while polling: the job runs, the record names it."""
    job_id = system.submit("ref-1", "spec-1")
    store.set("k", JobRecord("k", Phase.SUBMITTED, "ref-1", 2, 1.0, job_id=job_id, status="RUNNING",
                             history=(Submission("ref-1", job_id, Outcome.ACTIVE, intent_at=1.0,
                                                 submitted_at=1.0),)).to_json())
    return job_id


def shape(record: JobRecord | None) -> tuple[Any, ...]:
    """What both drivers must agree on (times and revisions aside)."""
    assert record is not None
    return record.phase, record.job_id, record.reference, tuple((h.reference, h.job_id, h.outcome)
                                                                for h in record.history)


@pytest.mark.parametrize("rerun", [False, True])
def test_both_drivers_leave_the_same_record_and_kill_the_job(rerun: bool) -> None:
    shapes = []
    for cancel in (cancel_sync, cancel_async):
        system, store = FakeExternalSystem(running_polls=100), MemoryStateStore()
        job_id = running(store, system)
        record = cancel(system, store, rerun=rerun)
        assert system.runs[job_id].status not in ACTIVE  # killed
        assert record == load_record(store, "k")
        assert record is not None and record.phase is (Phase.FAILED if rerun else Phase.CANCELLED)
        assert record.history[-1].outcome is Outcome.CANCELLED
        shapes.append(shape(record))
    assert shapes[0] == shapes[1]


@pytest.mark.parametrize("cancel", DRIVERS)
def test_cancelling_again_changes_nothing_and_an_unknown_key_is_none(cancel: Cancel) -> None:
    system, store = FakeExternalSystem(running_polls=100), MemoryStateStore()
    running(store, system)
    first = cancel(system, store)
    assert cancel(system, store) == first
    assert asyncio.run(cancel_resumable_async(AsyncFakeJob(system), store, key="other")) is None


@pytest.mark.parametrize("cancel", DRIVERS)
def test_an_intent_is_found_by_reference_and_its_job_killed(cancel: Cancel) -> None:
    system, store = FakeExternalSystem(running_polls=100), MemoryStateStore()
    job_id = system.submit("ref-1", "spec-1")  # submitted; the process died before recording the id
    store.set("k", JobRecord("k", Phase.INTENT, "ref-1", 1, 1.0,
                             history=(Submission("ref-1", None, Outcome.PENDING, intent_at=1.0),)).to_json())
    record = cancel(system, store)
    assert record is not None and record.phase is Phase.CANCELLED and record.job_id == job_id
    assert system.runs[job_id].status not in ACTIVE


def test_a_job_that_cannot_cancel_is_refused_and_the_record_kept() -> None:
    class NoCancel(AsyncFakeJob):
        cancel_job = None  # type: ignore[assignment]  # the capability absent, as on a plain job

    system, store = FakeExternalSystem(running_polls=100), MemoryStateStore()
    job_id = running(store, system)
    before = store.get("k")
    with pytest.raises(InvalidArgument, match="NoCancel cannot cancel jobs") as raised:
        asyncio.run(cancel_resumable_async(NoCancel(system), store, key="k"))
    assert raised.value.key == "k" and raised.value.job_id == job_id
    assert system.runs[job_id].status in ACTIVE and store.get("k") == before


def test_on_one_loop_a_cancel_ends_the_run_polling_the_job_and_no_retry_undoes_it() -> None:
    system, store = FakeExternalSystem(running_polls=10_000), MemoryStateStore()
    events: list[Event] = []

    async def scenario() -> BaseException | None:
        run = asyncio.ensure_future(run_resumable_async(AsyncFakeJob(system), store, key="k",
                                                        poll=PollPolicy(min_interval=0.001, max_interval=0.001,
                                                                        jitter=0)))
        while not system.submissions():
            await asyncio.sleep(0.001)
        record = await cancel_resumable_async(AsyncFakeJob(system), store, key="k", listener=events.append)
        assert record is not None and record.phase is Phase.CANCELLED
        try:
            await run
        except JobCancelled as exc:
            return exc
        return None

    stopped = asyncio.run(scenario())
    assert isinstance(stopped, JobCancelled) and stopped.key == "k"
    assert [type(e) for e in events] == [Cancelled]
    with pytest.raises(JobCancelled):  # an automatic retry
        asyncio.run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST))
    assert len(system.submissions()) == 1


def test_after_a_cancel_with_rerun_the_next_async_run_submits_afresh() -> None:
    system, store = FakeExternalSystem(running_polls=1), MemoryStateStore()
    first = running(store, system)
    cancel_async(system, store, rerun=True)
    events: list[Event] = []
    result = asyncio.run(run_resumable_async(AsyncFakeJob(system), store, key="k", poll=FAST,
                                             listener=events.append))
    assert isinstance(result, dict) and result["job_id"] != first
    [submitted] = [e for e in events if isinstance(e, Submitted)]
    assert submitted.reason is SubmitReason.PREVIOUS_FAILED
