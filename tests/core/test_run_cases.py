"""The cases run_resumable must get right (issue 2), against every shipped store.

Each test drives the public fake system (resumable_core.testing) and a real
store from the ``store`` fixture (memory, SQLite file, PostgreSQL).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from resumable_core import (
    AmbiguousSubmission,
    Event,
    JobCancelled,
    JobFailed,
    JobLost,
    JobRecord,
    OnAmbiguous,
    OnLost,
    OnSuperseded,
    Outcome,
    Phase,
    Policy,
    PollPolicy,
    RecordCorrupt,
    StateStore,
    cancel_resumable,
    load_record,
    run_resumable,
)
from resumable_core.errors import TransientBudgetExhausted
from resumable_core.events import Reattached, ResultReused, SubmitReason, Submitted, Superseded, WaitingForOwner
from resumable_core.testing import FakeClock, FakeExternalSystem, FakeJob, PlainFakeJob

KEY = "dag/run/task"


class Crash(BaseException):
    """The process dies here (BaseException: nothing in the library may swallow it)."""
FAST = PollPolicy(min_interval=1, max_interval=4, transient_attempts=5)


class Harness:
    def __init__(self, store: StateStore, **system: Any) -> None:
        self.store = store
        self.system = FakeExternalSystem(**system)
        self.clock = FakeClock()
        self.events: list[Event] = []

    def run(self, job: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("poll", FAST)
        return run_resumable(
            job if job is not None else FakeJob(self.system),
            self.store,
            key=KEY,
            clock=self.clock,
            sleep=self.clock.sleep,
            listener=self.events.append,
            **kwargs,
        )

    def record(self) -> JobRecord:
        record = load_record(self.store, KEY)
        assert record is not None
        return record

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def crash_while_polling(self, job: Any = None) -> None:
        """Simulate a process that persisted the job id, then died while polling."""
        inner = job if job is not None else FakeJob(self.system)

        class DiesWhilePolling(type(inner)):  # type: ignore[misc]  # subclass of the job given
            def get_job_status(self, job_id: str) -> str:
                raise Crash

        with pytest.raises(Crash):
            self.run(DiesWhilePolling(inner.system, inner.spec))

    def write_intent_then_crash(self, job: Any) -> str:
        """Simulate a process that persisted the intent, then died (inside or after submit)."""

        class CrashAfterSubmit:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def __getattr__(self, name: str) -> Any:
                return getattr(self.inner, name)

            def submit_job(self, reference: str) -> str:
                self.inner.submit_job(reference)
                raise Crash

        with pytest.raises(Crash):
            self.run(CrashAfterSubmit(job))
        return self.record().reference


@pytest.fixture
def h(store: StateStore) -> Harness:
    return Harness(store, running_polls=2)


def test_nothing_stored_submits_persists_polls_and_records(h: Harness) -> None:
    seen_before_polling: list[JobRecord] = []

    class Spy(FakeJob):
        def get_job_status(self, job_id: str) -> str:
            if not seen_before_polling:
                seen_before_polling.append(h.record())
            return super().get_job_status(job_id)

    result = h.run(Spy(h.system))
    (job_id,) = h.system.submissions()
    assert result["job_id"] == job_id
    # The id was durable before the first poll.
    assert seen_before_polling[0].phase is Phase.SUBMITTED and seen_before_polling[0].job_id == job_id
    record = h.record()
    assert record.phase is Phase.SUCCEEDED and record.has_result and record.result == result
    assert record.history[-1].outcome is Outcome.SUCCEEDED and record.history[-1].job_id == job_id
    assert [e.reason for e in h.of(Submitted)] == [SubmitReason.NEW]


def test_failure_is_recorded_and_raised_with_job_id_and_status(h: Harness) -> None:
    h.system.outcomes.append("FAILED")
    with pytest.raises(JobFailed) as info:
        h.run()
    (job_id,) = h.system.submissions()
    assert (info.value.job_id, info.value.status, info.value.key) == (job_id, "FAILED", KEY)
    assert job_id in str(info.value)
    assert h.record().phase is Phase.FAILED


def test_active_job_is_reattached_and_its_result_returned(h: Harness) -> None:
    h.crash_while_polling()
    (job_id,) = h.system.submissions()
    result = h.run()
    assert h.system.submissions() == [job_id], "no second submission"
    assert result["job_id"] == job_id, "the reattach path returns the result"
    assert [e.job_id for e in h.of(Reattached)] == [job_id]
    assert h.record().phase is Phase.SUCCEEDED


def test_stored_job_already_succeeded_returns_result_without_polling(h: Harness) -> None:
    h.crash_while_polling()
    (job_id,) = h.system.submissions()
    h.system.finish(job_id)  # it finished while nobody watched
    sleeps_before = len(h.clock.slept)
    result = h.run()
    assert result["job_id"] == job_id
    assert h.system.submissions() == [job_id]
    assert len(h.clock.slept) == sleeps_before, "no polling loop"
    assert [e.asked_external for e in h.of(ResultReused)] == [True]


def test_recorded_success_is_returned_without_asking_the_system(h: Harness) -> None:
    first = h.run()
    h.system.forget(first["job_id"])  # the cluster forgot it (master restart, retention)

    class MustNotBeAsked(FakeJob):
        def get_job_status(self, job_id: str) -> str:
            raise AssertionError("asked the external system")

        def get_job_result(self, job_id: str, status: str) -> Any:
            raise AssertionError("asked the external system")

    assert h.run(MustNotBeAsked(h.system)) == first
    assert len(h.system.submissions()) == 1
    assert [e.asked_external for e in h.of(ResultReused)] == [False]


def test_non_json_result_is_not_recorded_and_fetched_again(h: Harness) -> None:
    class TupleResult(FakeJob):
        def get_job_result(self, job_id: str, status: str) -> Any:
            return ("not", "json")

    assert h.run(TupleResult(h.system)) == ("not", "json")
    record = h.record()
    assert record.phase is Phase.SUCCEEDED and not record.has_result
    assert h.run(TupleResult(h.system)) == ("not", "json")
    assert len(h.system.submissions()) == 1


def test_stored_failure_is_resubmitted_with_a_new_reference(h: Harness) -> None:
    h.system.outcomes.append("FAILED")
    with pytest.raises(JobFailed):
        h.run()
    first_reference = h.record().reference
    result = h.run()
    first, second = h.system.submissions()
    assert result["job_id"] == second
    record = h.record()
    assert record.reference != first_reference
    assert [(s.job_id, s.outcome) for s in record.history] == [
        (first, Outcome.FAILED),
        (second, Outcome.SUCCEEDED),
    ]
    assert h.of(Submitted)[-1].reason is SubmitReason.PREVIOUS_FAILED


def test_stored_job_found_failed_on_retry_is_resubmitted(h: Harness) -> None:
    h.system.outcomes.append("FAILED")
    h.crash_while_polling()
    (first,) = h.system.submissions()
    h.system.finish(first)
    result = h.run()
    assert result["job_id"] != first and len(h.system.submissions()) == 2
    assert h.record().history[0].outcome is Outcome.FAILED
    assert h.record().history[0].status == "FAILED"


def test_intent_without_id_adopts_the_job_found_by_reference(h: Harness) -> None:
    reference = h.write_intent_then_crash(FakeJob(h.system))
    (job_id,) = h.system.submissions()
    assert h.record().phase is Phase.INTENT and h.record().job_id is None
    result = h.run()
    assert h.system.submissions() == [job_id], "adopted, not resubmitted"
    assert result["reference"] == reference
    assert [(e.job_id, e.via) for e in h.of(Reattached)] == [(job_id, "reference")]


def test_intent_with_nothing_found_submits_with_the_same_reference(h: Harness) -> None:
    class CrashBeforeSubmit(FakeJob):
        def submit_job(self, reference: str) -> str:
            raise Crash

    with pytest.raises(Crash):
        h.run(CrashBeforeSubmit(h.system))
    reference = h.record().reference
    result = h.run()
    assert result["reference"] == reference
    assert len(h.system.submissions()) == 1
    assert h.of(Submitted)[-1].reason is SubmitReason.NOT_SUBMITTED
    # The crashed owner's lease was honoured (it might have been a live zombie), and said once.
    assert len(h.of(WaitingForOwner)) == 1 and len(h.clock.slept) > 1


def test_no_lookup_resubmits_by_default_with_a_warning(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h.write_intent_then_crash(PlainFakeJob(h.system))
    h.clock.now += 1000  # the crashed owner's lease is long gone
    h.run(PlainFakeJob(h.system))
    assert len(h.system.submissions()) == 2  # the documented cost of having no lookup
    assert h.of(Submitted)[-1].reason is SubmitReason.AMBIGUOUS
    assert any(r.levelname == "WARNING" and "ambiguous" in r.getMessage() for r in caplog.records)


def test_no_lookup_with_fail_policy_stops_for_a_human(h: Harness) -> None:
    h.write_intent_then_crash(PlainFakeJob(h.system))
    h.clock.now += 1000
    before = h.store.get(KEY)
    with pytest.raises(AmbiguousSubmission) as info:
        h.run(PlainFakeJob(h.system), policy=Policy(on_ambiguous=OnAmbiguous.FAIL))
    assert info.value.key == KEY
    assert len(h.system.submissions()) == 1
    assert h.store.get(KEY) == before, "the record is left for the human"


def test_unknown_job_resubmits_with_warning_by_default(h: Harness) -> None:
    h.crash_while_polling()
    (first,) = h.system.submissions()
    h.system.forget(first)
    h.run()
    assert len(h.system.submissions()) == 2
    assert h.of(Submitted)[-1].reason is SubmitReason.JOB_LOST
    assert h.record().history[0].outcome is Outcome.LOST


def test_unknown_job_with_fail_policy_raises_job_lost(h: Harness) -> None:
    h.crash_while_polling()
    (first,) = h.system.submissions()
    h.system.forget(first)
    with pytest.raises(JobLost) as info:
        h.run(policy=Policy(on_lost=OnLost.FAIL))
    assert info.value.job_id == first
    assert h.system.submissions() == [first]


def test_transient_errors_are_retried_and_never_mean_not_found(h: Harness) -> None:
    h.system.transient_failures = 0
    h.crash_while_polling()
    h.system.transient_failures = 3  # within the budget of 5
    result = h.run()
    assert len(h.system.submissions()) == 1
    assert result["job_id"] == h.system.submissions()[0]


def test_a_success_beats_a_lost_verdict_given_while_it_was_being_recorded(h: Harness) -> None:
    class SeesSuccessWhileAnotherProcessDeclaresItLost(FakeJob):
        def get_job_result(self, job_id: str, status: str) -> Any:
            result = super().get_job_result(job_id, status)
            h.system.forget(job_id)  # the cluster forgets the completed job...

            class DiesPollingItsOwnJob(FakeJob):
                def get_job_status(self, other: str) -> str:
                    if other != job_id:
                        raise Crash
                    return super().get_job_status(other)

            with pytest.raises(Crash):  # ...another process finds it unknown, resubmits, dies polling
                h.run(DiesPollingItsOwnJob(h.system))
            return result

    result = h.run(SeesSuccessWhileAnotherProcessDeclaresItLost(h.system))
    first, second = h.system.submissions()
    assert result["job_id"] == first
    record = h.record()
    assert (record.phase, record.job_id, record.result) == (Phase.SUCCEEDED, first, result)
    assert [(s.job_id, s.outcome) for s in record.history] == [(first, Outcome.SUCCEEDED), (second, Outcome.CANCELLED)]
    assert h.system.live_jobs() == [], "the duplicate was cancelled"
    assert h.run() == result and len(h.system.submissions()) == 2


def test_exhausted_transient_budget_raises_and_keeps_the_record(h: Harness) -> None:
    h.crash_while_polling()
    before = h.store.get(KEY)
    h.system.transient_failures = 100
    with pytest.raises(TransientBudgetExhausted):
        h.run()
    assert len(h.system.submissions()) == 1, "a transient error never leads to a resubmission"
    assert h.store.get(KEY) == before


@pytest.mark.parametrize("on_superseded", [OnSuperseded.LEAVE, OnSuperseded.CANCEL])
def test_changed_fingerprint_submits_the_new_spec(h: Harness, on_superseded: OnSuperseded) -> None:
    h.crash_while_polling(FakeJob(h.system, spec="v1"))
    (old,) = h.system.submissions()
    result = h.run(FakeJob(h.system, spec="v2"), policy=Policy(on_superseded=on_superseded))
    assert result["spec"] == "v2" and result["job_id"] != old
    (event,) = h.of(Superseded)
    assert event.job_id == old and event.cancelled is (on_superseded is OnSuperseded.CANCEL)
    assert (old in h.system.live_jobs()) is (on_superseded is OnSuperseded.LEAVE)
    assert h.record().history[0].outcome is Outcome.SUPERSEDED


def test_changed_fingerprint_does_not_reuse_an_old_success(h: Harness) -> None:
    h.run(FakeJob(h.system, spec="v1"))
    result = h.run(FakeJob(h.system, spec="v2"))
    assert result["spec"] == "v2" and len(h.system.submissions()) == 2


def test_fresh_run_does_not_reuse_an_old_success(h: Harness) -> None:
    first = h.run()
    second = h.run(fresh=True)
    assert second["job_id"] != first["job_id"]
    assert h.of(Submitted)[-1].reason is SubmitReason.FRESH_RUN


def test_generation_change_is_a_fresh_run_and_retries_within_it_reattach(h: Harness) -> None:
    h.run(generation="1")
    assert len(h.system.submissions()) == 1
    h.run(generation="1")
    assert len(h.system.submissions()) == 1, "same generation: success reused"
    h.run(generation="2")
    assert len(h.system.submissions()) == 2, "new generation: submitted afresh"
    h.run(generation="2")
    assert len(h.system.submissions()) == 2


def test_two_processes_on_one_key_submit_once(h: Harness) -> None:
    from resumable_core import CompareAndSetStore

    if not isinstance(h.store, CompareAndSetStore):
        pytest.skip("needs compare-and-set")
    # Two callers interleaved at the worst point: B reads the empty record while
    # A is between its intent write and its submit.
    in_submit = threading.Event()
    release = threading.Event()

    class SlowSubmit(PlainFakeJob):
        def submit_job(self, reference: str) -> str:
            in_submit.set()
            assert release.wait(10)
            return super().submit_job(reference)

    results: dict[str, Any] = {}
    real_clock = FakeClock()

    def caller(name: str, job: Any) -> None:
        results[name] = run_resumable(
            job, h.store, key=KEY, poll=PollPolicy(min_interval=0.01, max_interval=0.02),
            policy=Policy(intent_lease=30), clock=real_clock,
        )

    a = threading.Thread(target=caller, args=("a", SlowSubmit(h.system)))
    a.start()
    assert in_submit.wait(10)
    b = threading.Thread(target=caller, args=("b", PlainFakeJob(h.system)))
    b.start()
    b.join(0.3)
    assert b.is_alive(), "B waits for A's submission instead of submitting"
    release.set()
    a.join(10)
    b.join(10)
    assert len(h.system.submissions()) == 1
    assert results["a"]["job_id"] == results["b"]["job_id"]


def test_cancel_resumable_cancels_marks_and_is_idempotent(h: Harness) -> None:
    h.crash_while_polling()
    (job_id,) = h.system.submissions()
    record = cancel_resumable(FakeJob(h.system), h.store, key=KEY, clock=h.clock)
    assert record is not None and record.phase is Phase.CANCELLED
    assert job_id not in h.system.live_jobs()
    again = cancel_resumable(FakeJob(h.system), h.store, key=KEY, clock=h.clock)
    assert again == record
    assert cancel_resumable(FakeJob(h.system), h.store, key="other", clock=h.clock) is None


def test_a_cancelled_key_stays_cancelled_until_a_fresh_run(h: Harness) -> None:
    h.crash_while_polling()
    cancel_resumable(FakeJob(h.system), h.store, key=KEY, clock=h.clock)
    with pytest.raises(JobCancelled) as info:
        h.run()  # an automatic retry must not undo a human's cancel
    assert info.value.key == KEY
    assert len(h.system.submissions()) == 1
    result = h.run(fresh=True)
    assert len(h.system.submissions()) == 2 and result["job_id"] == h.system.submissions()[1]


def test_cancel_with_rerun_lets_the_next_run_submit_afresh(h: Harness) -> None:
    h.crash_while_polling()
    (first,) = h.system.submissions()
    record = cancel_resumable(FakeJob(h.system), h.store, key=KEY, clock=h.clock, rerun=True)
    assert record is not None and record.phase is Phase.FAILED
    assert record.history[-1].outcome is Outcome.CANCELLED
    assert first not in h.system.live_jobs()
    result = h.run()
    assert result["job_id"] != first
    assert h.of(Submitted)[-1].reason is SubmitReason.PREVIOUS_FAILED


def test_a_retry_starting_during_the_cancel_does_not_resubmit(h: Harness) -> None:
    h.crash_while_polling()
    retry_saw: list[BaseException] = []

    class RetryRacesTheCancel(FakeJob):
        def cancel_job(self, job_id: str) -> None:
            super().cancel_job(job_id)
            try:  # a retry starts right after the kill, before cancel_resumable returns
                h.run()
            except JobCancelled as exc:
                retry_saw.append(exc)

    record = cancel_resumable(RetryRacesTheCancel(h.system), h.store, key=KEY, clock=h.clock)
    assert retry_saw, "the retry saw the cancel, not a failed job to resubmit"
    assert record is not None and record.phase is Phase.CANCELLED
    with pytest.raises(JobCancelled):
        h.run()
    assert len(h.system.submissions()) == 1


def test_a_poller_sees_the_cancellation_as_job_cancelled(h: Harness) -> None:
    class CancelDuringPoll(FakeJob):
        def get_job_status(self, job_id: str) -> str:
            if h.system.runs[job_id].position == 1:
                cancel_resumable(FakeJob(h.system), h.store, key=KEY, clock=h.clock)
            return super().get_job_status(job_id)

    with pytest.raises(JobCancelled) as info:
        h.run(CancelDuringPoll(h.system))
    assert info.value.status == "CANCELLED"
    assert h.record().phase is Phase.CANCELLED


def test_corrupt_record_is_an_error_naming_the_key_and_is_left_alone(h: Harness) -> None:
    h.store.set(KEY, {"something": "else"})
    with pytest.raises(RecordCorrupt) as info:
        h.run()
    assert KEY in str(info.value)
    assert h.store.get(KEY) == {"something": "else"}
    assert h.system.submissions() == []
