"""SparkRestJob against the real session cluster: each driver outcome, cancel, lookups, the contract."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import pytest

from resumable_adapters.spark import SparkRestClient, SparkRestJob
from resumable_core import (
    Event,
    JobFailed,
    JobNotFound,
    MemoryStateStore,
    Phase,
    Poller,
    PollPolicy,
    ResumableJob,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core.events import Finished, Submitted
from tests.contracts.job_contract import JobContract
from tests.services.spark import DriverJar, SparkCluster, free_port
from tests.spark.conftest import FAST_POLL, JobFactory, submission

pytestmark = pytest.mark.spark


def test_success_returns_the_driver_result(make_job: JobFactory, spark_cluster: SparkCluster) -> None:
    store, events = MemoryStateStore(), list[Event]()
    result = run_resumable(make_job(1, 0), store, key="ok", poll=FAST_POLL, listener=events.append)
    driver_id = result["driver_id"]
    assert result["state"] == "FINISHED" and result["exit_code"] == 0
    assert isinstance(result["worker_id"], str) and result["worker_id"].startswith("worker-")
    assert isinstance(result["submitted_at"], float)
    assert [type(e) for e in events if isinstance(e, (Submitted, Finished))] == [Submitted, Finished]
    record = load_record(store, "ok")
    assert record is not None and record.phase is Phase.SUCCEEDED and record.job_id == driver_id
    state = {d["id"]: d["state"] for d in spark_cluster.drivers()}
    assert state[driver_id] == "FINISHED"


def test_non_zero_exit_is_failed_with_its_exit_code(make_job: JobFactory) -> None:
    store = MemoryStateStore()
    # The test driver prints "exiting with <code>": Spark itself records no JVM driver's code.
    job = make_job(0.5, 3, exit_code_patterns=[r"exiting with (\d+)"])
    with pytest.raises(JobFailed) as info:
        run_resumable(job, store, key="exit3", poll=FAST_POLL)
    assert info.value.status == "FAILED (exit code 3)" and info.value.job_id is not None
    assert info.value.job_id.startswith("driver-")
    assert job.exit_code(info.value.job_id) == 3
    assert make_job(0.5, 3).get_job_status(info.value.job_id) == "FAILED"  # no pattern matches: the state alone


def test_missing_jar_is_error(make_job: JobFactory, tmp_path: Any) -> None:
    missing = (tmp_path / "no-such.jar").as_uri()
    with pytest.raises(JobFailed) as info:
        run_resumable(make_job(app_resource=missing), MemoryStateStore(), key="nojar", poll=FAST_POLL)
    assert info.value.status == "ERROR"


def test_kill_while_running(make_job: JobFactory) -> None:
    store = MemoryStateStore()
    job = make_job(60, 0)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            run_resumable(job, store, key="killme", poll=FAST_POLL)
        except BaseException as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    try:
        job_id = _wait_for_status(store, "killme", "RUNNING")
        job.cancel_job(job_id)
        runner.join(30)
    finally:
        record = load_record(store, "killme")
        if record is not None and record.job_id is not None:
            job.cancel_job(record.job_id)
    assert not runner.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], JobFailed)
    assert outcome[0].status == "KILLED" and outcome[0].job_id == job_id
    job.cancel_job(job_id)  # cancelling an ended driver is not an error


def test_unknown_driver_is_not_found_on_the_second_confirmed_answer_and_malformed_never_sent(
    make_job: JobFactory,
) -> None:
    now = [1_000_000.0]
    job = make_job(lost_settle=5.0, clock=lambda: now[0])
    with pytest.raises(TransientError, match="no worker lists it"):  # the real worker page was read
        job.get_job_status("driver-20000101000000-0000")
    now[0] += 5.0
    with pytest.raises(JobNotFound) as info:
        job.get_job_status("driver-20000101000000-0000")
    assert info.value.job_id == "driver-20000101000000-0000"
    with pytest.raises(ValueError):
        job.get_job_status("../../v1/submissions/kill/driver-20000101000000-0000")


def test_a_driver_waiting_for_a_worker_makes_the_lookup_uncertain(
    make_job: JobFactory, spark_client: SparkRestClient, spark_driver_jar: DriverJar
) -> None:
    """A SUBMITTED driver has no launch line yet: never "not found", TransientError after the bound."""
    hog = make_job(1, 0, driver_memory="8g")  # more than the worker has: SUBMITTED for ever
    hog_id = hog.submit_job(uuid.uuid4().hex)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(seconds)

    try:
        assert hog.get_job_status(hog_id) == "SUBMITTED"
        probe = SparkRestJob(
            spark_client, submission(spark_driver_jar, driver_memory="8g"), find_wait=1.0, find_interval=0.25, sleep=sleep
        )
        with pytest.raises(TransientError) as info:
            probe.find_job_by_reference(uuid.uuid4().hex)
        assert hog_id in str(info.value)
        assert pauses, "it should wait for the driver to launch before giving up"
    finally:
        hog.cancel_job(hog_id)
    assert hog.get_job_status(hog_id) == "KILLED"


def _wait_for_status(store: MemoryStateStore, key: str, status: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = load_record(store, key)
        if record is not None and record.job_id is not None and record.status == status:
            return record.job_id
        time.sleep(0.1)
    raise AssertionError(f"{key} never reached {status}: {load_record(store, key)}")


class SparkHarness:
    poll = PollPolicy(min_interval=0.2, max_interval=1.0, jitter=0.0, transient_attempts=30, transient_seconds=60.0)

    def __init__(self, client: SparkRestClient, jar: DriverJar, cluster: SparkCluster) -> None:
        self.client, self.jar, self.cluster = client, jar, cluster

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        seconds, code = {"succeed": (0.5, 0), "fail": (0.5, 1), "long": (60, 0)}[kind]
        sub = submission(self.jar, seconds, code, name=f"contract-{spec}")
        # lost_settle=0: the contract asks once; the settle has its own tests.
        return SparkRestJob(self.client, sub, find_wait=30.0, find_interval=0.3, lost_settle=0)

    def unknown_job_id(self) -> str:
        return "driver-20000101000000-0001"

    def count_jobs(self) -> int:
        return len(self.cluster.drivers())


class TestSparkRestJobContract(JobContract):
    @pytest.fixture
    def harness(self, spark_client: SparkRestClient, spark_driver_jar: DriverJar, spark_cluster: SparkCluster) -> SparkHarness:
        return SparkHarness(spark_client, spark_driver_jar, spark_cluster)


def test_no_secret_reaches_logs_events_record_or_result(
    spark_client: SparkRestClient, spark_driver_jar: DriverJar, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "pw-" + uuid.uuid4().hex
    sub = submission(
        spark_driver_jar,
        0.5,
        0,
        properties={"spark.hadoop.fs.s3a.secret.key": secret, "spark.myapp.db.password": secret},
        environment={"DB_PASSWORD": secret},
    )
    job = SparkRestJob(spark_client, sub)
    store, events = MemoryStateStore(), list[Event]()
    caplog.set_level(logging.DEBUG)
    result = run_resumable(job, store, key="secretive", poll=FAST_POLL, listener=events.append)
    record = load_record(store, "secretive")
    assert record is not None
    shown = [caplog.text, repr(events), json.dumps(record.to_json()), json.dumps(result), repr(job), job.job_fingerprint()]
    assert all(secret not in text for text in shown)
    # The secret did reach the driver (it needs it), and Spark redacted it in the launch line.
    head = spark_client.driver_log_head(spark_client.master_state().worker_ui[str(result["worker_id"])], str(result["driver_id"]))
    assert "spark.hadoop.fs.s3a.secret.key=*********(redacted)" in head and secret not in head


def test_a_dead_master_listed_first_is_skipped(spark_cluster: SparkCluster, spark_driver_jar: DriverJar) -> None:
    client = SparkRestClient([f"http://127.0.0.1:{free_port()}", spark_cluster.rest_url], timeout=5.0)
    job = SparkRestJob(client, submission(spark_driver_jar, 0.5, 0))
    result = run_resumable(job, MemoryStateStore(), key="ha", poll=FAST_POLL)
    assert result["state"] == "FINISHED"
    assert client.active_rest_url == spark_cluster.rest_url


def test_a_completed_driver_is_found_by_reference(make_job: JobFactory) -> None:
    job = make_job(0.5, 0)
    reference = uuid.uuid4().hex
    driver_id = job.submit_job(reference)
    poller = Poller(FAST_POLL)
    assert poller.wait(job, driver_id) == "FINISHED"
    assert job.find_job_by_reference(reference) == driver_id
    # Every driver has launched (none waits for a worker): an unused reference is surely absent.
    assert job.find_job_by_reference(uuid.uuid4().hex) is None
