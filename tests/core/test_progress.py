"""Progress: the pure rules (tables), its JSON form, and both drivers asking, recording and ignoring failures."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from resumable_core import (
    InvalidArgument,
    JobRecord,
    MemoryStateStore,
    Phase,
    PollPolicy,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core._progress import progress_due, progress_update, progress_write_due
from resumable_core.aio import in_threads, run_resumable_async
from resumable_core.events import Event, ProgressReported
from resumable_core.progress import Count, Progress
from resumable_core.record import Outcome, Submission
from resumable_core.testing import AsyncFakeJob, FakeClock, FakeExternalSystem, FakeJob

P1 = Progress(counts=(Count("tasks", 1, 10),), label="stage 0", ui_url="http://driver:4040/")
P2 = Progress(counts=(Count("tasks", 5, 10),), label="stage 1", ui_url="http://driver:4040/")


# -- the pure rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked_at", "now", "interval", "due"),
    [
        (None, 100.0, 10.0, True),   # never asked
        (95.0, 100.0, 10.0, False),  # asked 5 s ago
        (90.0, 100.0, 10.0, True),   # exactly one interval
        (50.0, 100.0, 0.0, True),    # interval 0: every poll
        (100.0, 100.0, 0.0, True),
    ],
)
def test_progress_due(asked_at: float | None, now: float, interval: float, due: bool) -> None:
    assert progress_due(asked_at, now, interval) is due


@pytest.mark.parametrize(
    ("recorded", "recorded_at", "seen", "now", "write"),
    [
        (None, None, P1, 100.0, True),    # first progress
        (None, None, None, 100.0, False),  # nothing to say, nothing recorded
        (P1, 90.0, None, 100.0, False),    # None never erases what was recorded
        (P1, 50.0, P1, 100.0, False),      # unchanged: no write however long ago
        (P1, 95.0, P2, 100.0, False),      # changed, but the last write is 5 s old
        (P1, 90.0, P2, 100.0, True),       # changed, one interval later
        (P1, None, P2, 100.0, True),       # recorded by an older writer without a time
    ],
)
def test_progress_write_due(recorded: Progress | None, recorded_at: float | None, seen: Progress | None,
                            now: float, write: bool) -> None:
    assert progress_write_due(recorded, recorded_at, seen, now, 10.0) is write


def _record(phase: Phase, job_id: str | None = "j1", **changes: Any) -> JobRecord:
    entry = Submission("r1", job_id, Outcome.ACTIVE, 1.0, 2.0)
    return JobRecord(key="k", phase=phase, reference="r1", revision=3, updated_at=2.0, job_id=job_id,
                     history=(entry,), **changes)


@pytest.mark.parametrize(
    ("record", "job_id", "written"),
    [
        (None, "j1", False),                                 # nothing recorded
        (_record(Phase.SUBMITTED), "j1", True),              # the running job
        (_record(Phase.SUBMITTED), "j2", False),             # another job than the recorded one
        (_record(Phase.INTENT, None), "j1", False),          # not submitted (yet)
        (_record(Phase.SUCCEEDED), "j1", False),             # ended: progress is not rewritten
        (_record(Phase.SUBMITTED, progress=P2, progress_at=1.0), "j1", False),  # same progress recorded
    ],
)
def test_progress_update(record: JobRecord | None, job_id: str, written: bool) -> None:
    update = progress_update(record, job_id, P2, 100.0, 10.0)
    assert (update is not None) is written
    if update is not None:
        assert record is not None
        assert update.progress == P2 and update.progress_at == 100.0
        assert update.revision == record.revision + 1
        assert (update.phase, update.status, update.history) == (record.phase, record.status, record.history)


# -- the value and its JSON form ------------------------------------------------------------------


def test_progress_round_trips_through_json_and_the_record() -> None:
    progress = Progress(counts=(Count("tasks", 3, 8), Count("stages", 1, 4, skipped=1)), label="x", ui_url="u")
    assert Progress.from_json(progress.to_json()) == progress
    record = _record(Phase.SUBMITTED, progress=progress, progress_at=5.0)
    again = JobRecord.from_json("k", record.to_json())
    assert again.progress == progress and again.progress_at == 5.0


def test_a_record_without_progress_is_written_as_before() -> None:
    value = _record(Phase.SUBMITTED).to_json()
    assert "progress" not in value and "progress_at" not in value
    assert JobRecord.from_json("k", value).progress is None


@pytest.mark.parametrize(
    "stored",
    [
        {"v": 2, "counts": [], "label": None, "ui_url": None},         # a newer form
        {"v": 1, "counts": [{"unit": "tasks", "done": "3"}]},           # a count that is not a number
        {"v": 1, "counts": [{"unit": "tasks", "done": -1}]},            # a negative count
        {"v": 1, "counts": "tasks"},
        {"v": 1, "counts": [], "label": 3},
        "50%",
    ],
)
def test_unreadable_progress_is_dropped_never_a_corrupt_record(stored: Any) -> None:
    assert Progress.from_json(stored) is None
    value = _record(Phase.SUBMITTED).to_json()
    value["progress"], value["progress_at"] = stored, 5.0
    record = JobRecord.from_json("k", value)
    assert record.progress is None and record.progress_at is None and record.job_id == "j1"


def test_counts_describe_raw_numbers_and_reject_nonsense() -> None:
    stages = Count("stages", 2, 5, skipped=3)
    assert stages.describe() == "2/5 stages (3 skipped)"
    assert stages.fraction == 1.0  # done + skipped: the skipped ones will never run
    assert Count("tasks", 4).describe() == "4/? tasks" and Count("tasks", 4).fraction is None
    assert Progress().describe() == "no progress reported"
    assert len(Progress(label="x" * 500).label or "") == 200
    with pytest.raises(InvalidArgument):
        Count("", 1)
    with pytest.raises(InvalidArgument):
        Count("tasks", 1, -2)
    with pytest.raises(InvalidArgument):
        PollPolicy(progress_interval=-1)


def test_no_credential_reaches_the_link_or_the_label() -> None:
    progress = Progress(label="reading with password=hunter2", ui_url="https://alice:s3cret@ui.example:8443/app?x=1")
    assert progress.ui_url == "https://ui.example:8443/app?x=1"
    assert progress.label is not None and "hunter2" not in progress.label
    assert "s3cret" not in json.dumps(progress.to_json())


# -- the drivers ------------------------------------------------------------------------------------


class CountingStore(MemoryStateStore):
    """Counts the writes that carry a new progress."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[dict[str, Any]] = []

    def compare_and_set(self, key: str, expected: Any, value: Any) -> bool:
        ok = super().compare_and_set(key, expected, value)
        if ok:
            self.writes.append(value)
        return ok


class ProgressJob(FakeJob):
    """A fake job whose progress grows by one task per ask (or fails, as told)."""

    def __init__(self, system: FakeExternalSystem, *, fail_with: BaseException | None = None,
                 returns: object = "counts") -> None:
        super().__init__(system)
        self.asked: list[str] = []
        self.fail_with = fail_with
        self.returns = returns

    def job_progress(self, job_id: str) -> Any:
        self.asked.append(job_id)
        if self.fail_with is not None:
            raise self.fail_with
        if self.returns != "counts":
            return self.returns
        return Progress(counts=(Count("tasks", len(self.asked), 100),), label=f"ask {len(self.asked)}",
                        ui_url=f"http://ui/{job_id}")


def _run(job: Any, store: Any, clock: FakeClock, interval: float | None, events: list[Event]) -> Any:
    poll = PollPolicy(min_interval=1, max_interval=1, jitter=0, progress_interval=interval)
    return run_resumable(job, store, key="k", poll=poll, clock=clock, sleep=clock.sleep,
                         listener=events.append)


def test_progress_is_asked_at_the_bounded_rate_written_on_change_and_kept_after_the_end() -> None:
    system = FakeExternalSystem(running_polls=30)  # a poll a second for 30 s
    job, store, clock = ProgressJob(system), CountingStore(), FakeClock()
    events: list[Event] = []
    _run(job, store, clock, 10.0, events)
    # Polled ~31 times, asked at most once per 10 s of the job's life.
    assert 3 <= len(job.asked) <= 4, job.asked
    reported = [e for e in events if isinstance(e, ProgressReported)]
    assert len(reported) == len(job.asked)  # each ask brought a change, each change one write
    assert [e.progress.counts[0].done for e in reported] == list(range(1, len(reported) + 1))
    progress_writes = [w for w in store.writes if "progress" in w]
    stamps = sorted({w["progress_at"] for w in progress_writes})
    assert len(stamps) == len(reported)
    assert all(b - a >= 10.0 for a, b in zip(stamps, stamps[1:], strict=False))
    record = load_record(store, "k")
    assert record is not None and record.phase is Phase.SUCCEEDED
    assert record.progress == reported[-1].progress  # the last one stays after the end


def test_unchanged_progress_costs_no_write() -> None:
    same = Progress(counts=(Count("steps", 1, 3),))
    system = FakeExternalSystem(running_polls=20)
    job, store, clock = ProgressJob(system, returns=same), CountingStore(), FakeClock()
    events: list[Event] = []
    _run(job, store, clock, 0.0, events)  # asked on every poll
    assert len(job.asked) >= 20
    assert sum(isinstance(e, ProgressReported) for e in events) == 1
    changes = {(w["revision"], w["progress_at"]) for w in store.writes if "progress" in w}
    assert len({at for _, at in changes}) == 1


def test_no_interval_never_asks() -> None:
    job = ProgressJob(FakeExternalSystem(running_polls=5))
    _run(job, MemoryStateStore(), FakeClock(), None, [])
    assert job.asked == []


@pytest.mark.parametrize("failure", [TransientError("ui down"), RuntimeError("bug"), KeyError("numTasks")])
def test_a_failing_progress_call_is_logged_and_costs_no_poll_nor_budget(
    failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    system = FakeExternalSystem(running_polls=8)
    job, store, clock = ProgressJob(system, fail_with=failure), MemoryStateStore(), FakeClock()
    poll = PollPolicy(min_interval=1, max_interval=1, jitter=0, transient_attempts=1, progress_interval=0)
    with caplog.at_level(logging.DEBUG, logger="resumable_core"):
        result: Any = run_resumable(job, store, key="k", poll=poll, clock=clock, sleep=clock.sleep)
    assert result["status"] == "SUCCEEDED"  # a budget of one transient would have ended it otherwise
    assert len(job.asked) >= 8
    said = [r for r in caplog.records if "could not get progress" in r.getMessage()]
    assert [r.levelno for r in said][:2] == [logging.WARNING, logging.DEBUG]  # warned once, then quiet
    record = load_record(store, "k")
    assert record is not None and record.progress is None


def test_a_progress_that_is_not_a_progress_is_dropped() -> None:
    job = ProgressJob(FakeExternalSystem(running_polls=4), returns={"done": 3})
    store = MemoryStateStore()
    result: Any = run_resumable(job, store, key="k",
                                poll=PollPolicy(min_interval=0, max_interval=0, jitter=0, progress_interval=0))
    assert result["status"] == "SUCCEEDED"
    record = load_record(store, "k")
    assert record is not None and record.progress is None


class AsyncProgressJob(AsyncFakeJob):
    def __init__(self, system: FakeExternalSystem, fail: bool = False) -> None:
        super().__init__(system)
        self.asked = 0
        self.fail = fail

    async def job_progress(self, job_id: str) -> Progress | None:
        self.asked += 1
        if self.fail:
            raise TransientError("ui down")
        return Progress(counts=(Count("tasks", self.asked, 50),), ui_url=f"http://ui/{job_id}")


def test_the_async_driver_records_progress_and_ignores_its_failures() -> None:
    poll = PollPolicy(min_interval=0, max_interval=0, jitter=0, transient_attempts=1, progress_interval=0)
    for fail in (False, True):
        job, store = AsyncProgressJob(FakeExternalSystem(running_polls=5), fail), MemoryStateStore()
        events: list[Event] = []
        asyncio.run(run_resumable_async(job, store, key="k", poll=poll, listener=events.append))
        record = load_record(store, "k")
        assert record is not None and record.phase is Phase.SUCCEEDED and job.asked >= 5
        reported = [e for e in events if isinstance(e, ProgressReported)]
        if fail:
            assert record.progress is None and reported == []
        else:
            assert record.progress == reported[-1].progress and record.progress.main is not None
            assert [e.progress.counts[0].done for e in reported] == list(range(1, len(reported) + 1))


def test_a_blocking_job_in_threads_keeps_its_progress() -> None:
    job = ProgressJob(FakeExternalSystem(running_polls=3))
    store = MemoryStateStore()
    poll = PollPolicy(min_interval=0, max_interval=0, jitter=0, progress_interval=0)
    asyncio.run(run_resumable_async(in_threads(job), store, key="k", poll=poll))
    record = load_record(store, "k")
    assert job.asked and record is not None and record.progress is not None
    assert record.progress.ui_url == f"http://ui/{record.job_id}"
