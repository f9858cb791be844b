"""Public fakes: an in-process external system and jobs on it.

The project's own tests use these instead of mocks, and so can yours. The fake
system is deterministic: each status query moves a job one step along its
plan, and failures (transient answers, forgotten jobs, a lost submit
response) are injected explicitly.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._errors import JobNotFound, SubmissionRejected, TransientError
from ._types import JsonValue

ACTIVE = frozenset({"QUEUED", "RUNNING"})
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"


@dataclass
class FakeRun:
    job_id: str
    reference: str
    spec: str
    steps: list[str]
    position: int = 0
    forgotten: bool = False

    @property
    def status(self) -> str:
        return self.steps[min(self.position, len(self.steps) - 1)]


@dataclass
class FakeExternalSystem:
    """Jobs that go QUEUED -> RUNNING x running_polls -> their planned end.

    ``outcomes`` is consumed one per submission (default: success).
    ``transient_failures`` makes that many next calls (of any kind) raise
    TransientError; ``lose_next_submit_response`` creates the job but raises
    TransientError from submit, as a timeout after the server accepted would.
    A listing (``list_statuses``, what the batched jobs call) moves each job it shows
    one step, as a status query would; it leaves out the ids in ``unlisted`` (a
    listing that is partial), and counts itself in ``listings``.
    """

    running_polls: int = 1
    outcomes: list[str] = field(default_factory=list)
    transient_failures: int = 0
    lose_next_submit_response: bool = False
    reject_next_submit: bool = False
    runs: dict[str, FakeRun] = field(default_factory=dict)
    unlisted: set[str] = field(default_factory=set)
    listings: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- what the fake jobs call -------------------------------------------------------

    def submit(self, reference: str, spec: str) -> str:
        with self._lock:
            self._maybe_transient("submit")
            if self.reject_next_submit:
                self.reject_next_submit = False
                raise SubmissionRejected("fake system rejected the submission")
            job_id = f"job-{next(self._ids):04d}"
            end = self.outcomes.pop(0) if self.outcomes else SUCCEEDED
            self.runs[job_id] = FakeRun(job_id, reference, spec, ["QUEUED"] + ["RUNNING"] * self.running_polls + [end])
            if self.lose_next_submit_response:
                self.lose_next_submit_response = False
                raise TransientError(f"fake system: response to submit lost (job {job_id} exists)")
            return job_id

    def status(self, job_id: str) -> str:
        with self._lock:
            self._maybe_transient("status")
            run = self._known(job_id)
            status = run.status
            run.position += 1
            return status

    def list_statuses(self, job_ids: Sequence[str]) -> dict[str, str]:
        """One listing: the status of each asked job it shows (forgotten and ``unlisted`` ones left out)."""
        with self._lock:
            self._maybe_transient("list")
            self.listings += 1
            shown: dict[str, str] = {}
            for job_id in job_ids:
                run = self.runs.get(job_id)
                if run is not None and not run.forgotten and job_id not in self.unlisted:
                    shown[job_id] = run.status
                    run.position += 1
            return shown

    def find(self, reference: str) -> str | None:
        with self._lock:
            self._maybe_transient("find")
            for run in self.runs.values():
                if run.reference == reference and not run.forgotten:
                    return run.job_id
            return None

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._maybe_transient("cancel")
            run = self.runs.get(job_id)
            if run is not None and run.status in ACTIVE:
                run.steps = run.steps[: run.position] + [CANCELLED]
                run.position = len(run.steps) - 1

    # -- what tests call -----------------------------------------------------------------

    def forget(self, job_id: str) -> None:
        with self._lock:
            self.runs[job_id].forgotten = True

    def finish(self, job_id: str) -> None:
        """Move a job straight to its planned end."""
        with self._lock:
            run = self.runs[job_id]
            run.position = len(run.steps) - 1

    def live_jobs(self) -> list[str]:
        """Jobs that have not reached an end (forgotten ones included: they still run)."""
        with self._lock:
            return [r.job_id for r in self.runs.values() if r.status in ACTIVE]

    def submissions(self) -> list[str]:
        with self._lock:
            return list(self.runs)

    def _known(self, job_id: str) -> FakeRun:
        run = self.runs.get(job_id)
        if run is None or run.forgotten:
            raise JobNotFound(f"fake system does not know job {job_id!r}", job_id=job_id)
        return run

    def _maybe_transient(self, what: str) -> None:
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientError(f"fake system unavailable ({what})")


class PlainFakeJob:
    """A job with the five required operations only: no lookup, no cancel, no fingerprint."""

    def __init__(self, system: FakeExternalSystem, spec: str = "spec-1") -> None:
        self.system = system
        self.spec = spec

    def submit_job(self, reference: str) -> str:
        return self.system.submit(reference, self.spec)

    def get_job_status(self, job_id: str) -> str:
        return self.system.status(job_id)

    def is_job_active(self, status: str) -> bool:
        return status in ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return status == SUCCEEDED

    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        run = self.system._known(job_id)
        return {"job_id": job_id, "spec": run.spec, "reference": run.reference, "status": status}


class FakeJob(PlainFakeJob):
    """A job with every optional capability: find by reference, cancel, fingerprint."""

    def find_job_by_reference(self, reference: str) -> str | None:
        return self.system.find(reference)

    def cancel_job(self, job_id: str) -> None:
        self.system.cancel(job_id)

    def job_fingerprint(self) -> str:
        return hashlib.sha256(self.spec.encode()).hexdigest()


class BatchFakeJob(FakeJob):
    """A FakeJob that can also list many statuses in one call (``SupportsBatchStatus``)."""

    @property
    def batch_key(self) -> str:
        return f"fake-system-{id(self.system)}"  # one listing covers one system

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        return self.system.list_statuses(job_ids)


class AsyncFakeJob:
    """A FakeJob behind async methods: what an async adapter (an HTTP client awaiting) looks like."""

    def __init__(self, system: FakeExternalSystem, spec: str = "spec-1") -> None:
        self.sync = FakeJob(system, spec)

    async def submit_job(self, reference: str) -> str:
        return self.sync.submit_job(reference)

    async def get_job_status(self, job_id: str) -> str:
        return self.sync.get_job_status(job_id)

    def is_job_active(self, status: str) -> bool:
        return self.sync.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.sync.is_job_succeeded(status)

    async def get_job_result(self, job_id: str, status: str) -> JsonValue:
        return self.sync.get_job_result(job_id, status)

    async def find_job_by_reference(self, reference: str) -> str | None:
        return self.sync.find_job_by_reference(reference)

    async def cancel_job(self, job_id: str) -> None:
        self.sync.cancel_job(job_id)

    def job_fingerprint(self) -> str:
        return self.sync.job_fingerprint()


class AsyncBatchFakeJob(AsyncFakeJob):
    """An AsyncFakeJob that can also list many statuses in one call (``AsyncSupportsBatchStatus``)."""

    def __init__(self, system: FakeExternalSystem, spec: str = "spec-1") -> None:
        self.batch = BatchFakeJob(system, spec)
        self.sync = self.batch

    @property
    def batch_key(self) -> str:
        return self.batch.batch_key

    async def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        return self.batch.get_job_statuses(job_ids)


class FakeClock:
    """A clock whose sleep advances it: polling tests run instantly."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


__all__ = [
    "AsyncBatchFakeJob",
    "AsyncFakeJob",
    "BatchFakeJob",
    "FakeClock",
    "FakeExternalSystem",
    "FakeJob",
    "FakeRun",
    "PlainFakeJob",
]
