"""What hostile and chaos testing found in the core (issue 9), against the public fakes and real stores."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from resumable_core import (
    InvalidArgument,
    JobLost,
    JobNotFound,
    JobRecord,
    MemoryStateStore,
    Outcome,
    Phase,
    Policy,
    PollPolicy,
    ProtocolError,
    ResumableError,
    StateStore,
    load_record,
    run_resumable,
)
from resumable_core.errors import StoreError
from resumable_core.record import Submission
from resumable_core.testing import FakeClock, FakeExternalSystem, FakeJob, PlainFakeJob

KEY = "etl/2026-11-27"
FAST = PollPolicy(min_interval=1, max_interval=2)


class ForgetfulJob(FakeJob):
    """A system that forgets every job as soon as it accepted it: "unknown" to every status call."""

    def submit_job(self, reference: str) -> str:
        job_id = super().submit_job(reference)
        self.system.forget(job_id)
        return job_id


def test_a_system_that_forgets_every_job_gets_a_bounded_number_of_them(store: StateStore) -> None:
    system, clock = FakeExternalSystem(), FakeClock()
    with pytest.raises(JobLost) as caught:
        run_resumable(ForgetfulJob(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    submitted = system.submissions()
    assert len(submitted) == Policy().max_lost_resubmits + 1
    error = caught.value
    assert error.key == KEY and not isinstance(error, StoreError)
    for job_id in submitted:
        assert job_id in str(error)
    record = load_record(store, KEY)
    assert record is not None and record.job_id == submitted[-1]
    assert [h.job_id for h in record.history] == submitted
    # The next run (an orchestrator's retry) goes on within its own bound.
    with pytest.raises(JobLost):
        run_resumable(ForgetfulJob(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep,
                      policy=Policy(max_lost_resubmits=0))
    assert len(system.submissions()) == len(submitted)


class RestartingSystemJob(FakeJob):
    """A system that answers "unknown" for a while after a restart, then knows the job again."""

    def __init__(self, system: FakeExternalSystem, clock: FakeClock, unknown_until: float) -> None:
        super().__init__(system)
        self.clock = clock
        self.unknown_until = unknown_until
        self.asked: list[float] = []

    def get_job_status(self, job_id: str) -> str:
        self.asked.append(self.clock.now)
        if self.clock.now < self.unknown_until:
            raise JobNotFound(f"unknown driver {job_id}", job_id=job_id)
        return super().get_job_status(job_id)


def test_an_unknown_answer_is_confirmed_after_the_settle_period_before_it_counts() -> None:
    system, clock, store = FakeExternalSystem(running_polls=2), FakeClock(), MemoryStateStore()
    # A job submitted and recorded by an earlier attempt that crashed while polling; the
    # system restarted since, and does not know it for 20 s.
    job = RestartingSystemJob(system, clock, unknown_until=clock.now + 20)
    job_id = system.submit("ref-0", job.spec)
    store.set(KEY, JobRecord(key=KEY, phase=Phase.SUBMITTED, reference="ref-0", revision=1, updated_at=clock.now,
                             job_id=job_id, history=(Submission("ref-0", job_id, Outcome.ACTIVE, clock.now),)).to_json())
    result = run_resumable(job, store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep,
                           policy=Policy(lost_settle=30))
    assert system.submissions() == [job_id]  # nothing resubmitted
    assert isinstance(result, dict) and result["job_id"] == job_id
    assert job.asked[1] - job.asked[0] >= 20  # asked again after the settle period, not at once


@pytest.mark.parametrize("bad_id", [None, "", 0, ["job-1"]])
def test_a_bad_job_id_from_submit_is_refused_and_the_intent_kept_for_a_lookup(bad_id: object) -> None:
    system, clock, store = FakeExternalSystem(), FakeClock(), MemoryStateStore()

    class BadIdJob(FakeJob):
        def submit_job(self, reference: str) -> str:
            super().submit_job(reference)  # the system did create the job...
            return bad_id  # type: ignore[return-value]  # ...and the adapter answered nonsense

    with pytest.raises(ProtocolError) as caught:
        run_resumable(BadIdJob(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    assert "BadIdJob.submit_job" in str(caught.value) and repr(bad_id) in str(caught.value)
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None
    assert len(system.submissions()) == 1
    # The retry finds what was submitted by its reference and adopts it: no second job.
    run_resumable(FakeJob(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    assert len(system.submissions()) == 1
    final = load_record(store, KEY)
    assert final is not None and final.phase is Phase.SUCCEEDED and final.job_id == system.submissions()[0]


class WithoutResult:
    """A job that forgot one required operation."""

    def __init__(self, system: FakeExternalSystem) -> None:
        self.system = system

    def submit_job(self, reference: str) -> str:
        return self.system.submit(reference, "spec")

    def get_job_status(self, job_id: str) -> str:
        return self.system.status(job_id)

    def is_job_active(self, status: str) -> bool:
        return status in ("QUEUED", "RUNNING")

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"


def test_a_job_missing_an_operation_is_refused_before_anything_is_submitted() -> None:
    system, store = FakeExternalSystem(), MemoryStateStore()
    with pytest.raises(InvalidArgument, match=r"WithoutResult .* no get_job_result\(\)"):
        run_resumable(WithoutResult(system), store, key=KEY)  # type: ignore[arg-type]  # missing get_job_result, on purpose
    assert system.submissions() == [] and store.get(KEY) is None


def test_poll_until_complete_is_optional() -> None:
    system, clock = FakeExternalSystem(running_polls=3), FakeClock()
    job = PlainFakeJob(system)
    assert not hasattr(job, "poll_until_complete")
    result = run_resumable(job, MemoryStateStore(), key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    assert isinstance(result, dict) and result["status"] == "SUCCEEDED"


SECRETS: list[tuple[str, str]] = [
    ("bad scheme in ftp://etl:hunter2@master:6066", "hunter2"),
    ("server said: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ('echo {"authorization": "Basic ZXRsOmh1bnRlcjI="}', "ZXRsOmh1bnRlcjI="),
    ("args: --password=hunter2 --table x", "hunter2"),
    ("args: --db-password hunter2 --table x", "hunter2"),
    ("conf spark.ssl.keyPassword=hunter2", "hunter2"),
    ('{"api_key": "AKIA1234567890"}', "AKIA1234567890"),
    ("token: abc.def.ghi", "abc.def.ghi"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_no_credential_survives_into_an_error_message(text: str, secret: str) -> None:
    error = ResumableError(text, key=KEY, job_id="driver-1")
    assert secret not in str(error) and secret not in error.message
    assert "***" in str(error) and "driver-1" in str(error)


def test_no_credential_survives_into_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="resumable_core")
    system, clock = FakeExternalSystem(), FakeClock()

    class LeakyJob(FakeJob):
        def submit_job(self, reference: str) -> str:
            return "driver --password=hunter2"

        def get_job_status(self, job_id: str) -> str:
            return "SUCCEEDED"

        def get_job_result(self, job_id: str, status: str) -> Any:
            return None

    run_resumable(LeakyJob(system), MemoryStateStore(), key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    lines = [r.getMessage() for r in caplog.records]
    assert lines and not any("hunter2" in line for line in lines)
