"""The crash-injection properties over FlinkJob, against the loopback JobManager.

Bodies and the model: tests/contracts/crash_properties.py (the ones the YARN and Kubernetes
jobs run); the machinery: tests/core/_crash.py. FlinkJob's own code runs every call: the jar
listed and uploaded once per content, the run with the job id chosen before it (the
submission reference), Flink's duplicate refusal read as "it exists", the lookup by id, the
status, the cancel. The server (tests/flink/jobmanager.py) is reset onto each example's
virtual clock; the store is SQLite on a file. FORGET is a JobManager restarted without HA:
the job and every uploaded jar are gone (the next run uploads the jar again). The proof that
no second job ran is the server's own list of every job it ran.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.flink import FlinkJob, FlinkRestClient, FlinkSubmission, job_id_for
from resumable_core import JsonValue, MemoryStateStore, Phase, PollPolicy, load_record, run_resumable
from resumable_core.testing import FakeClock
from tests.contracts.crash_properties import Adapter, AdapterCluster, crash_properties, one_caller_crashing
from tests.core._crash import (
    ACTIVE_STATE,
    ANY_FAULT,
    CANCELLED_STATE,
    FAILED_STATE,
    SUCCEEDED_STATE,
    Fault,
    FaultKind,
    SystemJob,
    quiet_logs,
)
from tests.flink.jobmanager import ACTIVE, FlinkJobManager, LoopbackJob, PlanStep

RUN_SECONDS = 1.5  # a job's run on the virtual clock: one or two polls (POLL starts at 1 s)


class FlinkCluster(AdapterCluster):
    """The loopback JobManager as the harness sees it, reset for one example onto its clock."""

    def __init__(self, server: FlinkJobManager, clock: FakeClock, outcomes: Sequence[str]) -> None:
        super().__init__(outcomes)
        self.server = server
        server.reset(clock)
        server.plan_for = self.plan

    def plan(self, request: dict[str, Any]) -> list[PlanStep]:
        final = "FINISHED" if self.next_succeeds() else "FAILED"
        return [(0.05, "CREATED"), (0.1, "RUNNING"), (0.1 + RUN_SECONDS, final)]

    def jobs(self) -> list[SystemJob]:
        return [self._job(job) for job in self.server.all_jobs()]

    def forget(self, job_id: str) -> None:
        self.server.forget(job_id)

    def replace(self, job_id: str) -> None:
        raise AssertionError("a Flink job id is never reused: REPLACE is for Kubernetes")

    def result_job_id(self, result: JsonValue) -> str:
        assert isinstance(result, dict), result
        assert result["state"] == "FINISHED", result
        return str(result["job_id"])

    @staticmethod
    def _job(job: LoopbackJob) -> SystemJob:
        if job.cancel_at is not None and job.state in ACTIVE:
            state = CANCELLED_STATE  # a 202 cancel under way: it ends CANCELED, its plan stopped
        elif job.state in ACTIVE:
            state = "gone" if job.forgotten else ACTIVE_STATE  # a forgotten job runs nowhere any more
        else:
            state = {"FINISHED": SUCCEEDED_STATE, "CANCELED": CANCELLED_STATE}.get(job.state, FAILED_STATE)
        # The job id is the submission reference itself (the core's are 32 hex digits).
        return SystemJob(job.job_id, job.job_id, state, forgotten=job.forgotten)


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    with quiet_logs():
        yield


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flink-jar") / "count.jar"
    path.write_bytes(b"PK\x03\x04 the bytes of a jar: only their digest matters here")
    return path


@pytest.fixture(scope="module")
def jobmanager() -> Iterator[FlinkJobManager]:
    server = FlinkJobManager().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def flink(jobmanager: FlinkJobManager, jar: Path) -> Iterator[Adapter]:
    """One server for the module (starting one per example would cost more than the example)."""
    client = FlinkRestClient(jobmanager.url, timeout=5.0)
    submission = FlinkSubmission(jar, entry_class="resumabletest.CountJob", args=["0"], parallelism=1)

    def cluster(clock: FakeClock, outcomes: Sequence[str]) -> AdapterCluster:
        return FlinkCluster(jobmanager, clock, outcomes)

    def make_job() -> FlinkJob:
        return FlinkJob(client, submission)  # a new process: the jar's id is looked up again

    try:
        yield Adapter(cluster, make_job)
    finally:
        client.close()


def server_of(cluster: object) -> FlinkJobManager:
    assert isinstance(cluster, FlinkCluster)
    return cluster.server


(
    test_one_caller_crashing_never_runs_two_jobs,
    test_two_callers_on_one_key_never_run_two_jobs,
    test_an_operator_cancel_mid_run_is_kept,
) = crash_properties("flink", ANY_FAULT, examples=(100, 50, 50))


# -- the moments that matter, replayed on every run -----------------------------------------------


def test_a_job_forgotten_with_its_jar_is_resubmitted_once_and_the_jar_uploaded_again(flink: Adapter) -> None:
    """FORGET while polled (step 4): the JobManager restarted without HA, jobs and uploads lost.
    The run resubmits under a new id, uploading the jar again first; two jobs in all, one live."""
    world, record = one_caller_crashing(flink, {4: Fault(FaultKind.FORGET)}, [], 120.0, False, 0)
    server = server_of(world.cluster)
    jobs = server.all_jobs()
    assert len(jobs) == 2 and jobs[0].forgotten and jobs[1].state == "FINISHED"
    assert record.job_id == jobs[1].job_id and server.uploads == 2


def test_a_lookup_that_misses_is_closed_by_the_duplicate_refusal(
    jobmanager: FlinkJobManager, jar: Path
) -> None:
    """The crash window FlinkJob closes by construction: the retry's lookup misses (the JobManager
    had not registered the job yet), it runs the jar again with the same id, and Flink's 400
    duplicate proves the job exists: adopted, one job in all."""
    clock = FakeClock()
    jobmanager.reset(clock)
    jobmanager.plan_for = lambda request: [(0.1, "RUNNING"), (3.0, "FINISHED")]
    client = FlinkRestClient(jobmanager.url, timeout=5.0)
    job = FlinkJob(client, FlinkSubmission(jar, entry_class="resumabletest.CountJob"))
    reference = "0123456789abcdef0123456789abcdef"
    assert job.submit_job(reference) == job_id_for(reference)  # the first attempt's run; its answer lost

    # The retry's lookup would find it; what it proves when the lookup misses is the point here.
    try:
        assert job.submit_job(reference) == reference  # the retry's run: 400 duplicate, adopted
        assert [j.job_id for j in jobmanager.all_jobs()] == [reference]
        runs = [p for m, p in jobmanager.requests if m == "POST" and p.endswith("/run")]
        assert len(runs) == 2 and jobmanager.uploads == 1
    finally:
        client.close()


def test_a_run_through_the_core_records_the_checkpoint_it_reached(jobmanager: FlinkJobManager, jar: Path) -> None:
    """A job that fails is resubmitted from the checkpoint the JobManager reported (the
    server's ``savepointPath`` of the second run), with a new id."""
    clock = FakeClock()
    jobmanager.reset(clock)
    outcomes = iter(["FAILED", "FINISHED"])
    jobmanager.plan_for = lambda request: [(0.1, "RUNNING"), (2.0, next(outcomes))]
    client = FlinkRestClient(jobmanager.url, timeout=5.0)
    job = FlinkJob(client, FlinkSubmission(jar, entry_class="resumabletest.CountJob"), checkpoint_stats_ttl=0.0,
                   clock=clock, sleep=clock.sleep)
    store = MemoryStateStore()
    poll = PollPolicy(min_interval=0.5, max_interval=0.5, jitter=0.0, resume_state_interval=0.5)
    try:
        with pytest.raises(Exception, match="FAILED"):
            run_resumable(job, store, key="k", poll=poll, clock=clock, sleep=clock.sleep)
        failed = load_record(store, "k")
        assert failed is not None and failed.phase is Phase.FAILED and failed.resume_state is not None
        result = run_resumable(job, store, key="k", poll=poll, clock=clock, sleep=clock.sleep)
        first, second = jobmanager.all_jobs()
        assert isinstance(result, dict) and result["job_id"] == second.job_id != first.job_id
        assert second.request["savepointPath"] == failed.resume_state
        assert failed.resume_state.startswith(f"file:/checkpoints/{first.job_id}/chk-")
        assert result["restored_from"] == failed.resume_state
    finally:
        client.close()
