"""Resumption from a recorded state (SupportsResumeState): the pure rules as table rows, then both drivers.

The fake job reports a state per job id (what a Flink job's last checkpoint is) and
remembers which state each submission started from.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from resumable_core import (
    JobFailed,
    JsonValue,
    MemoryStateStore,
    Phase,
    Policy,
    PollPolicy,
    cancel_resumable,
    load_record,
    run_resumable,
)
from resumable_core.aio import run_resumable_async
from resumable_core.decision import Request
from resumable_core.events import SubmitReason
from resumable_core.record import JobRecord, Outcome, Submission
from resumable_core.resume import (
    SupportsResumeState,
    resume_from,
    resume_state_due,
    resume_state_update,
    with_resume_state,
)
from resumable_core.testing import AsyncFakeJob, FakeClock, FakeExternalSystem, FakeJob


class ResumingJob(FakeJob):
    """A FakeJob that checkpoints: ``states[job_id]`` is where it got to."""

    def __init__(self, system: FakeExternalSystem, spec: str = "spec-1") -> None:
        super().__init__(system, spec)
        self.states: dict[str, str] = {}
        self.started_from: dict[str, str | None] = {}
        self.asked = 0
        self.failing = False

    def resume_state(self, job_id: str) -> str | None:
        self.asked += 1
        if self.failing:
            raise RuntimeError("checkpoint statistics unavailable")
        return self.states.get(job_id)

    def submit_job(self, reference: str) -> str:
        job_id = super().submit_job(reference)
        self.started_from[job_id] = None
        return job_id

    def submit_job_from(self, reference: str, state: str | None) -> str:
        job_id = self.submit_job(reference)
        self.started_from[job_id] = state
        return job_id


class AsyncResumingJob(AsyncFakeJob):
    def __init__(self, system: FakeExternalSystem) -> None:
        self.sync = self.resuming = ResumingJob(system)

    async def resume_state(self, job_id: str) -> str | None:
        return self.resuming.resume_state(job_id)

    async def submit_job_from(self, reference: str, state: str | None) -> str:
        return self.resuming.submit_job_from(reference, state)


def _record(**changes: object) -> JobRecord:
    entry = Submission(reference="r1", job_id="j1", outcome=Outcome.ACTIVE, intent_at=1.0)
    base = JobRecord(key="k", phase=Phase.SUBMITTED, reference="r1", revision=2, updated_at=1.0, job_id="j1",
                     history=(entry,))
    return replace(base, **changes)  # type: ignore[arg-type]  # the test's own fields


def _request(**changes: object) -> Request:
    base = Request(fingerprint=None, generation=None, fresh=False, owner="me", now=10.0, can_find=True,
                   can_cancel=True, key="k", new_reference="r2", can_resume=True)
    return replace(base, **changes)  # type: ignore[arg-type]  # the test's own fields


# -- the pure rules -----------------------------------------------------------------------------

@pytest.mark.parametrize(("reason", "request_changes", "recorded", "starts_from"), [
    (SubmitReason.PREVIOUS_FAILED, {}, "chk-7", "chk-7"),
    (SubmitReason.JOB_LOST, {}, "chk-7", "chk-7"),
    (SubmitReason.PREVIOUS_FAILED, {}, None, None),                                    # nothing recorded yet
    (SubmitReason.PREVIOUS_FAILED, {"policy": Policy(resume=False)}, "chk-7", None),   # a fresh start asked
    (SubmitReason.PREVIOUS_FAILED, {"can_resume": False}, "chk-7", None),              # the job cannot resume
    (SubmitReason.FRESH_RUN, {}, "chk-7", None),               # another request's state
    (SubmitReason.FINGERPRINT_CHANGED, {}, "chk-7", None),
    (SubmitReason.NEW, {}, "chk-7", None),
])
def test_resume_from(reason: SubmitReason, request_changes: dict[str, object], recorded: str | None,
                     starts_from: str | None) -> None:
    assert resume_from(_record(resume_state=recorded), reason, _request(**request_changes)) == starts_from


def test_resume_from_without_a_record_is_a_fresh_start() -> None:
    assert resume_from(None, SubmitReason.PREVIOUS_FAILED, _request()) is None


@pytest.mark.parametrize(("recorded", "seen", "changed"), [
    (None, "chk-1", True), ("chk-1", "chk-2", True), ("chk-1", "chk-1", False), ("chk-1", None, False),
])
def test_with_resume_state_sets_record_and_entry_on_change_only(recorded: str | None, seen: str | None,
                                                                 changed: bool) -> None:
    record = _record(resume_state=recorded)
    after = with_resume_state(record, seen)
    assert (after is not record) is changed
    if changed:
        assert after.resume_state == seen and after.history[-1].resume_state == seen
        assert after.revision == record.revision  # not a write of its own


@pytest.mark.parametrize(("changes", "job_id", "seen", "written"), [
    ({}, "j1", "chk-1", True),
    ({"resume_state": "chk-1"}, "j1", "chk-1", False),       # no change: no write
    ({}, "j1", None, False),                                 # nothing to say never erases
    ({}, "j0", "chk-1", False),                              # another job's
    ({"phase": Phase.FAILED}, "j1", "chk-1", False),          # moved on
])
def test_resume_state_update(changes: dict[str, object], job_id: str, seen: str | None, written: bool) -> None:
    update = resume_state_update(_record(**changes), job_id, seen, 20.0)
    assert (update is not None) is written
    if update is not None:
        assert update.resume_state == seen and update.history[-1].resume_state == seen and update.updated_at == 20.0


@pytest.mark.parametrize(("asked_at", "now", "interval", "due"), [
    (None, 5.0, 30.0, True), (0.0, 29.0, 30.0, False), (0.0, 30.0, 30.0, True), (None, 5.0, None, False),
])
def test_resume_state_due(asked_at: float | None, now: float, interval: float | None, due: bool) -> None:
    assert resume_state_due(asked_at, now, interval) is due


def test_the_record_keeps_states_only_when_set() -> None:
    plain = _record()
    assert "resume_state" not in plain.to_json() and "started_from" not in plain.history[0].to_json()
    with_state = with_resume_state(replace(plain, history=(replace(plain.history[0], started_from="sp-0"),)), "chk-1")
    again = JobRecord.from_json("k", with_state.to_json())
    assert again == with_state and again.history[0].started_from == "sp-0"


# -- the drivers ----------------------------------------------------------------------------------

POLL = PollPolicy(min_interval=1, max_interval=1, jitter=0.0, resume_state_interval=0.0)


def test_a_failed_job_is_resubmitted_from_the_state_it_reached() -> None:
    system = FakeExternalSystem(running_polls=3, outcomes=["FAILED", "SUCCEEDED"])
    job, store, clock = ResumingJob(system), MemoryStateStore(), FakeClock()
    assert isinstance(job, SupportsResumeState)
    job.states["job-0001"] = "chk-1"
    with pytest.raises(JobFailed):
        run_resumable(job, store, key="k", poll=POLL, clock=clock, sleep=clock.sleep)
    failed = load_record(store, "k")
    assert failed is not None and failed.phase is Phase.FAILED and failed.resume_state == "chk-1"
    assert failed.history[-1].resume_state == "chk-1" and failed.history[-1].started_from is None

    result = run_resumable(job, store, key="k", poll=POLL, clock=clock, sleep=clock.sleep)
    assert isinstance(result, dict) and result["job_id"] == "job-0002"
    assert job.started_from == {"job-0001": None, "job-0002": "chk-1"}
    done = load_record(store, "k")
    assert done is not None and done.phase is Phase.SUCCEEDED
    assert [h.started_from for h in done.history] == [None, "chk-1"]  # the history says where each began


def test_the_state_is_asked_once_more_when_the_job_is_seen_failing() -> None:
    # Never asked between polls (interval None): the failure itself asks, and that state is recorded.
    system = FakeExternalSystem(running_polls=2, outcomes=["FAILED"])
    job, store, clock = ResumingJob(system), MemoryStateStore(), FakeClock()
    job.states["job-0001"] = "chk-9"
    with pytest.raises(JobFailed):
        run_resumable(job, store, key="k", poll=replace(POLL, resume_state_interval=None), clock=clock,
                      sleep=clock.sleep)
    record = load_record(store, "k")
    assert job.asked == 1 and record is not None and record.resume_state == "chk-9"


def test_a_job_seen_failed_by_a_later_run_starts_from_its_last_state() -> None:
    system = FakeExternalSystem(running_polls=1, outcomes=["FAILED", "SUCCEEDED"])
    job, store, clock = ResumingJob(system), MemoryStateStore(), FakeClock()
    job_id = job.submit_job("r1")
    store.set("k", _record(key="k", job_id=job_id, reference="r1",
                           history=(Submission("r1", job_id, Outcome.ACTIVE, 1.0),)).to_json())
    system.finish(job_id)  # it failed while nobody polled it
    job.states[job_id] = "chk-3"
    run_resumable(job, store, key="k", poll=POLL, clock=clock, sleep=clock.sleep)
    assert job.started_from["job-0002"] == "chk-3"


def test_policy_resume_false_and_a_fresh_run_start_afresh() -> None:
    system = FakeExternalSystem(running_polls=1, outcomes=["FAILED", "SUCCEEDED", "SUCCEEDED"])
    job, store, clock = ResumingJob(system), MemoryStateStore(), FakeClock()
    job.states["job-0001"] = "chk-1"
    with pytest.raises(JobFailed):
        run_resumable(job, store, key="k", poll=POLL, clock=clock, sleep=clock.sleep)
    run_resumable(job, store, key="k", poll=POLL, policy=Policy(resume=False), clock=clock, sleep=clock.sleep)
    run_resumable(job, store, key="k", poll=POLL, fresh=True, clock=clock, sleep=clock.sleep)
    assert job.started_from == {"job-0001": None, "job-0002": None, "job-0003": None}


def test_a_failing_state_call_never_fails_the_run() -> None:
    system = FakeExternalSystem(running_polls=2)
    job, store, clock = ResumingJob(system), MemoryStateStore(), FakeClock()
    job.failing = True
    run_resumable(job, store, key="k", poll=POLL, clock=clock, sleep=clock.sleep)
    record = load_record(store, "k")
    assert job.asked >= 1 and record is not None and record.phase is Phase.SUCCEEDED and record.resume_state is None


def test_a_state_is_written_on_change_only() -> None:
    system = FakeExternalSystem(running_polls=6)
    job, clock = ResumingJob(system), FakeClock()
    writes: list[str | None] = []

    class CountingStore(MemoryStateStore):
        def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
            if isinstance(value, dict):
                state = value.get("resume_state")
                writes.append(state if isinstance(state, str) else None)
            return super().compare_and_set(key, expected, value)

    job.states["job-0001"] = "chk-1"
    run_resumable(job, CountingStore(), key="k", poll=POLL, clock=clock, sleep=clock.sleep)
    assert job.asked >= 5  # asked at every poll (interval 0)...
    changes = [after for before, after in zip([None, *writes], writes, strict=False) if after != before]
    assert changes == ["chk-1"]  # ...and the change written once, then only carried along


def test_cancel_with_rerun_records_the_stopped_state_and_the_next_run_starts_there() -> None:
    system = FakeExternalSystem(running_polls=100, outcomes=["SUCCEEDED", "SUCCEEDED"])
    job, store = ResumingJob(system), MemoryStateStore()
    job_id = job.submit_job("r1")
    store.set("k", _record(key="k", job_id=job_id, reference="r1",
                           history=(Submission("r1", job_id, Outcome.ACTIVE, 1.0),)).to_json())
    job.states[job_id] = "savepoint-1"  # what a stop-with-savepoint leaves
    record = cancel_resumable(job, store, key="k", rerun=True)
    assert record is not None and record.phase is Phase.FAILED and record.resume_state == "savepoint-1"
    system.running_polls = 1
    clock = FakeClock()
    run_resumable(job, store, key="k", poll=POLL, clock=clock, sleep=clock.sleep)
    assert job.started_from["job-0002"] == "savepoint-1"


def test_the_async_driver_resumes_the_same_way() -> None:
    system = FakeExternalSystem(running_polls=2, outcomes=["FAILED", "SUCCEEDED"])
    job, store = AsyncResumingJob(system), MemoryStateStore()
    job.resuming.states["job-0001"] = "chk-1"
    poll = replace(POLL, min_interval=0.0, max_interval=0.0)
    with pytest.raises(JobFailed):
        asyncio.run(run_resumable_async(job, store, key="k", poll=poll))
    failed = load_record(store, "k")
    assert failed is not None and failed.resume_state == "chk-1"
    asyncio.run(run_resumable_async(job, store, key="k", poll=poll))
    assert job.resuming.started_from == {"job-0001": None, "job-0002": "chk-1"}


def test_a_blocking_job_in_threads_keeps_both_resume_operations() -> None:
    from resumable_core.aio import in_threads

    system = FakeExternalSystem(running_polls=1, outcomes=["FAILED", "SUCCEEDED"])
    blocking, store = ResumingJob(system), MemoryStateStore()
    blocking.states["job-0001"] = "chk-1"
    job = in_threads(blocking)
    assert callable(getattr(job, "resume_state", None)) and callable(getattr(job, "submit_job_from", None))
    assert not callable(getattr(in_threads(FakeJob(system)), "resume_state", None))
    poll = replace(POLL, min_interval=0.0, max_interval=0.0)
    with pytest.raises(JobFailed):
        asyncio.run(run_resumable_async(job, store, key="k", poll=poll))
    asyncio.run(run_resumable_async(job, store, key="k", poll=poll))
    assert blocking.started_from == {"job-0001": None, "job-0002": "chk-1"}
