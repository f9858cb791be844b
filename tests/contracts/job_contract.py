"""The ResumableJob contract: every job adapter runs these against its real external system.

Subclass ``JobContract`` and provide a ``harness`` fixture returning a
``JobHarness`` for your adapter (see tests/core/test_fake_job_contract.py for the
public fake, tests/spark/ and tests/cli/ for the real adapters).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Protocol

import pytest

from resumable_core import (
    JobFailed,
    JobNotFound,
    MemoryStateStore,
    Phase,
    Poller,
    PollPolicy,
    ResumableError,
    ResumableJob,
    SupportsCancel,
    SupportsFindByReference,
    SupportsFingerprint,
    load_record,
    run_resumable,
)
from resumable_core.aio import Supervisor, SupportsBatchStatus, in_threads
from resumable_core.progress import Progress, SupportsProgress
from resumable_core.store import is_json


class JobHarness(Protocol):
    """What the contract needs to know about one adapter and its system."""

    poll: PollPolicy  # fast enough for a test against this system

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        """A job that will "succeed", "fail", or run "long" (long enough to cancel)."""
        ...

    def unknown_job_id(self) -> str:
        """A well-formed id the system does not know."""
        ...

    def count_jobs(self) -> int:
        """How many jobs the external system has seen (active and completed)."""
        ...


class JobContract:
    def test_success_returns_a_json_result_and_records_it(self, harness: JobHarness) -> None:
        store = MemoryStateStore()
        before = harness.count_jobs()
        result = run_resumable(harness.job("succeed"), store, key="c1", poll=harness.poll)
        assert is_json(result), "results should be JSON so the core can record and reuse them"
        record = load_record(store, "c1")
        assert record is not None and record.phase is Phase.SUCCEEDED and record.result == result
        assert harness.count_jobs() == before + 1
        # The rerun reuses the record: nothing new reaches the system.
        assert run_resumable(harness.job("succeed"), store, key="c1", poll=harness.poll) == result
        assert harness.count_jobs() == before + 1

    def test_failure_raises_job_failed_naming_job_and_status(self, harness: JobHarness) -> None:
        store = MemoryStateStore()
        with pytest.raises(JobFailed) as info:
            run_resumable(harness.job("fail"), store, key="c2", poll=harness.poll)
        record = load_record(store, "c2")
        assert record is not None and record.phase is Phase.FAILED
        assert info.value.job_id == record.job_id and info.value.status == record.status
        job = harness.job("fail")
        assert info.value.status is not None
        assert not job.is_job_active(info.value.status) and not job.is_job_succeeded(info.value.status)

    def test_unknown_id_is_not_found_not_transient(self, harness: JobHarness) -> None:
        with pytest.raises(JobNotFound):
            harness.job("succeed").get_job_status(harness.unknown_job_id())

    def test_find_by_reference(self, harness: JobHarness) -> None:
        job = harness.job("long")
        if not isinstance(job, SupportsFindByReference):
            pytest.skip("adapter cannot find jobs by reference")
        reference = uuid.uuid4().hex
        job_id = job.submit_job(reference)
        try:
            poller = Poller(harness.poll)
            found = poller.retry_transient(lambda: job.find_job_by_reference(reference), what="find")
            assert found == job_id
            assert job.find_job_by_reference(uuid.uuid4().hex) is None
        finally:
            if isinstance(job, SupportsCancel):
                job.cancel_job(job_id)

    def test_cancel_ends_the_job_and_is_idempotent(self, harness: JobHarness) -> None:
        job = harness.job("long")
        if not isinstance(job, SupportsCancel):
            pytest.skip("adapter cannot cancel")
        job_id = job.submit_job(uuid.uuid4().hex)
        job.cancel_job(job_id)
        status = Poller(harness.poll).wait(job, job_id)
        assert not job.is_job_active(status) and not job.is_job_succeeded(status)
        job.cancel_job(job_id)  # cancelling an ended job is not an error

    def test_progress_of_an_unknown_job_is_none_or_a_typed_error(self, harness: JobHarness) -> None:
        """``job_progress`` (optional) says nothing false: nothing to say is None, a failure a ResumableError."""
        job = harness.job("succeed")
        if not isinstance(job, SupportsProgress):
            pytest.skip("adapter reports no progress")
        try:
            seen = job.job_progress(harness.unknown_job_id())
        except ResumableError:
            return  # the core logs it and carries on
        assert seen is None or (isinstance(seen, Progress) and Progress.from_json(seen.to_json()) == seen)

    def test_fingerprint_follows_the_spec(self, harness: JobHarness) -> None:
        a1, a2, b = harness.job("succeed", "a"), harness.job("succeed", "a"), harness.job("succeed", "b")
        if not isinstance(a1, SupportsFingerprint):
            pytest.skip("adapter has no fingerprint")
        assert isinstance(a2, SupportsFingerprint) and isinstance(b, SupportsFingerprint)
        assert a1.job_fingerprint() == a2.job_fingerprint() != b.job_fingerprint()

    # -- batched status (SupportsBatchStatus): skipped by adapters that cannot list --------------

    def test_batched_status_agrees_with_the_direct_one(self, harness: JobHarness) -> None:
        job = batched(harness.job("long"))
        job_id = job.submit_job(uuid.uuid4().hex)
        try:
            unknown = harness.unknown_job_id()
            listed: dict[str, str] = {}
            # A listing may leave a job out (not visible yet, or a state it leaves to the direct
            # ask); a running job must show within a few listings, as the direct status says.
            for _ in range(60):
                listed = dict(job.get_job_statuses([job_id, unknown]))
                if job_id in listed:
                    break
                time.sleep(max(harness.poll.min_interval, 0.05))
            assert unknown not in listed, "an id the system does not know is never listed"
            assert job_id in listed, f"a running job never showed in its system's listing: {listed}"
            assert job.is_job_active(listed[job_id]) == job.is_job_active(job.get_job_status(job_id))
        finally:
            if isinstance(job, SupportsCancel):
                job.cancel_job(job_id)

    def test_a_supervisor_with_batching_decides_as_run_resumable(self, harness: JobHarness) -> None:
        batched(harness.job("succeed"))
        store = MemoryStateStore()
        before = harness.count_jobs()
        outcomes = {}
        for key, kind in (("b1", "succeed"), ("b2", "fail")):  # one after the other: a harness may plan in order
            supervisor = Supervisor(store, batch_tick=0.05)
            supervisor.add(in_threads(harness.job(kind)), key=key, poll=harness.poll)
            outcomes.update(asyncio.run(supervisor.run()))
        assert outcomes["b1"].ok and is_json(outcomes["b1"].result)
        record = load_record(store, "b1")
        assert record is not None and record.phase is Phase.SUCCEEDED and record.result == outcomes["b1"].result
        assert isinstance(outcomes["b2"].error, JobFailed)
        failed = load_record(store, "b2")
        assert failed is not None and failed.phase is Phase.FAILED
        assert harness.count_jobs() == before + 2, "batching must never resubmit"


def batched(job: ResumableJob[Any]) -> Any:
    """*job*, when it can list statuses in one call (else the test is skipped)."""
    if not isinstance(job, SupportsBatchStatus) or not job.batch_key:
        pytest.skip("adapter has no batched status")
    return job
