"""ResumableOperator in real Airflow 3.3 (dag.test, SQLite), against a file-backed fake job.

Each scenario is what happens to a task in production: its process dies after
the job id was persisted, or after the job's success was recorded; a user
clears it, marks it failed, clears it while it runs; it times out; its worker
shuts down. The fake keeps its jobs on disk so that they outlive the process.

A child process costs seconds (importing Airflow, starting its in-process
API), so scenarios share DAG runs: each module fixture runs one DAG through
its steps once, and each test checks one task's story.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.airflow.filejob import CANCELLED, CRASH_EXIT_CODE, RUNNING, SUCCEEDED

pytestmark = pytest.mark.airflow

# --- crashes, then a user clear ------------------------------------------------------------
#
# A chain, so that each process crashes in exactly one task:
#   start:   crash_submitted dies at its first status query (the job id is persisted)
#   resume1: crash_submitted reattaches; crash_succeeded dies after its success was recorded
#   resume2: crash_succeeded reuses the result; own_store (SQLite store) dies like the first
#   resume3: own_store reattaches
#   clear:   a user clears the whole run: every task submits afresh

CRASH_CHAIN = """
a = FakeJobOperator(task_id="crash_submitted", jobs=JOBS, running_polls=3, retries=1, retry_delay=timedelta(0))
b = FakeJobOperator(task_id="crash_succeeded", jobs=JOBS, value=[1, 2], retries=1, retry_delay=timedelta(0))
c = FakeJobOperator(
    task_id="own_store", jobs=JOBS, running_polls=3, retries=1, retry_delay=timedelta(0),
    state_store=lambda context: SqliteStateStore(JOBS + "/resumable.db"),
)
a >> b >> c
"""


@pytest.fixture(scope="module")
def crash_chain(new_sandbox: Any) -> tuple[AirflowSandbox, dict[str, DagRunResult]]:
    sandbox: AirflowSandbox = new_sandbox("crash_chain")
    sandbox.write_dag("crash_chain", CRASH_CHAIN, imports="from resumable_adapters.sqlite import SqliteStateStore")
    sandbox.jobs("crash_submitted").arm("crash")
    sandbox.jobs("crash_succeeded").arm("crash-after-success")
    sandbox.jobs("own_store").arm("crash")
    steps: dict[str, DagRunResult] = {}
    for step, mode in [("start", "start"), ("resume1", "resume"), ("resume2", "resume"), ("resume3", "resume")]:
        steps[step] = sandbox.run("crash_chain", mode)
    steps["clear"] = sandbox.run("crash_chain", "clear")
    return sandbox, steps


def submitted(sandbox: AirflowSandbox, task_id: str) -> list[str]:
    return [s["job_id"] for s in sandbox.jobs(task_id).log("submissions")]


def test_retry_after_a_hard_crash_reattaches_to_the_same_job(crash_chain: Any) -> None:
    sandbox, steps = crash_chain
    assert steps["start"].returncode == CRASH_EXIT_CODE, steps["start"].output[-3000:]
    resumed = steps["resume1"]
    assert resumed.returncode == CRASH_EXIT_CODE  # the next task's crash, below
    assert "reattached to job crash_submitted-0001" in resumed.output
    # Processes that crashed write no report: the last resume reports every task.
    task = steps["resume3"].task("crash_submitted")
    assert task["state"] == "success" and task["try_number"] == 2
    assert task["xcom"] == {"job_id": "crash_submitted-0001", "value": "done"}
    assert submitted(sandbox, "crash_submitted")[0] == "crash_submitted-0001"
    record = steps["resume3"].record("crash_submitted")
    assert record["phase"] == "succeeded" and record["job_id"] == "crash_submitted-0001"
    assert [h["job_id"] for h in record["history"]] == ["crash_submitted-0001"]
    # Written with NEVER_EXPIRE: the row lives as long as the dag run.
    assert task["state_store"]["resumable_core.job"]["expires_at"] is None


def test_retry_after_success_then_crash_returns_the_recorded_result(crash_chain: Any) -> None:
    sandbox, steps = crash_chain
    assert "submitted job crash_succeeded-0001" in steps["resume1"].output
    assert "result reused from job crash_succeeded-0001" in steps["resume2"].output
    task = steps["resume3"].task("crash_succeeded")
    assert task["state"] == "success" and task["try_number"] == 2
    assert task["xcom"] == {"job_id": "crash_succeeded-0001", "value": [1, 2]}
    # The retry did not even ask the external system: the job was polled by try 1 only.
    job = sandbox.jobs("crash_succeeded").job("crash_succeeded-0001")
    assert job["polls"] == 2 and job["status"] == SUCCEEDED


def test_any_state_store_can_replace_airflows(crash_chain: Any) -> None:
    """What Airflow < 3.3 (no task state store) would use: here SQLite, across a hard crash."""
    sandbox, steps = crash_chain
    assert steps["resume2"].returncode == CRASH_EXIT_CODE
    task = steps["resume3"].task("own_store")
    assert task["state"] == "success" and task["try_number"] == 2
    assert task["xcom"] == {"job_id": "own_store-0001", "value": "done"}
    assert "reattached to job own_store-0001" in steps["resume3"].output
    assert "state_store" not in task  # nothing went to Airflow's table

    from resumable_adapters.sqlite import SqliteStateStore
    from resumable_core import load_record

    run_id = steps["resume3"].report["run_id"]
    with SqliteStateStore(sandbox.jobs_dir / "resumable.db") as store:
        record = load_record(store, f"airflow/crash_chain/{run_id}/own_store/-1")
    assert record is not None and record.job_id == "own_store-0002"  # after the clear below
    assert [h.job_id for h in record.history] == ["own_store-0001", "own_store-0002"]


def test_a_user_clear_submits_afresh(crash_chain: Any) -> None:
    sandbox, steps = crash_chain
    before, after = steps["resume3"], steps["clear"]
    assert after.returncode == 0, after.output[-3000:]
    for task_id in ("crash_submitted", "crash_succeeded", "own_store"):
        task = after.task(task_id)
        assert task["state"] == "success"
        assert submitted(sandbox, task_id) == [f"{task_id}-0001", f"{task_id}-0002"]
        assert task["xcom"]["job_id"] == f"{task_id}-0002"
        assert f"resubmitted because fresh_run: job {task_id}-0002" in after.output
        # The signal: a clear raises max_tries (to try_number + retries); a retry does not.
        assert task["max_tries"] > before.task(task_id)["max_tries"]
    record = after.record("crash_submitted")
    assert record["generation"] == f"airflow-max-tries:{after.task('crash_submitted')['max_tries']}"


# --- interruptions: all in one process --------------------------------------------------------

INTERRUPTIONS = """
FakeJobOperator(task_id="worker_shutdown", jobs=JOBS, running_polls=4, retries=1, retry_delay=timedelta(0))
FakeJobOperator(
    task_id="marked_failed", jobs=JOBS, running_polls=-1,
    hook=set_state_then_sigterm("interruptions", "failed"),
)
FakeJobOperator(
    task_id="cleared_running", jobs=JOBS, running_polls=3, retries=1, retry_delay=timedelta(0),
    hook=clear_then_sigterm("interruptions"),
)
FakeJobOperator(task_id="timed_out", jobs=JOBS, running_polls=-1, execution_timeout=timedelta(seconds=300),
                hook=time_out_now())
FakeJobOperator(
    task_id="timed_out_kept", jobs=JOBS, running_polls=-1, execution_timeout=timedelta(seconds=300),
    hook=time_out_now(), kill_policy=KillPolicy(cancel_on_timeout=False),
)
"""


@pytest.fixture(scope="module")
def interruptions(new_sandbox: Any) -> tuple[AirflowSandbox, DagRunResult]:
    sandbox: AirflowSandbox = new_sandbox("interruptions")
    sandbox.write_dag("interruptions", INTERRUPTIONS)
    sandbox.jobs("worker_shutdown").arm("sigterm")  # SIGTERM while the task instance still runs
    sandbox.jobs("marked_failed").arm("hook")
    sandbox.jobs("cleared_running").arm("hook")
    for timed_out in ("timed_out", "timed_out_kept"):  # the timeout falls due once the job is asked
        sandbox.jobs(timed_out).arm("hook")
    result = sandbox.run("interruptions")
    assert result.report is not None, result.output[-4000:]
    return sandbox, result


def cancels(sandbox: AirflowSandbox, task_id: str) -> list[str]:
    return [c["job_id"] for c in sandbox.jobs(task_id).log("cancels")]


def test_a_worker_shutdown_leaves_the_job_running_for_the_retry(interruptions: Any) -> None:
    sandbox, result = interruptions
    assert "worker_shutdown): job worker_shutdown-0001 left running" in result.output
    task = result.task("worker_shutdown")
    assert task["state"] == "success" and task["try_number"] == 2
    assert task["xcom"] == {"job_id": "worker_shutdown-0001", "value": "done"}
    assert cancels(sandbox, "worker_shutdown") == []
    assert submitted(sandbox, "worker_shutdown") == ["worker_shutdown-0001"]
    assert "reattached to job worker_shutdown-0001" in result.output


def test_a_user_marking_the_task_failed_cancels_the_job(interruptions: Any) -> None:
    sandbox, result = interruptions
    assert "task instance 'failed'): job marked_failed-0001 cancelled" in result.output
    assert cancels(sandbox, "marked_failed") == ["marked_failed-0001"]
    assert sandbox.jobs("marked_failed").job("marked_failed-0001")["status"] == CANCELLED
    assert result.task("marked_failed")["state"] == "failed"
    # CANCELLED stays: only a later clear (a new generation) submits again.
    assert result.record("marked_failed")["phase"] == "cancelled"


def test_a_user_clearing_a_running_task_cancels_and_the_rerun_submits_afresh(interruptions: Any) -> None:
    """The clear a user makes (``airflow tasks clear``, the UI's Clear) on a running task.

    Airflow 3.3 gives the cleared task instance a new id, so the running try's task
    state store now answers "no such key": the job is cancelled by the id the try
    kept in memory, and the record (which this try may no longer write) still names
    it, so the next try finds it ended and submits afresh instead of reattaching.
    """
    sandbox, result = interruptions
    assert "task stopped (user_clear, task instance 'restarting'): job cleared_running-0001 cancelled" in result.output
    assert "the task state store has no record for this try" in result.output  # the new-id path, not a stand-in
    assert cancels(sandbox, "cleared_running") == ["cleared_running-0001"]
    assert sandbox.jobs("cleared_running").job("cleared_running-0001")["status"] == CANCELLED
    # RESTARTING sends the task back for another try, which must not reattach to the old job.
    task = result.task("cleared_running")
    assert task["state"] == "success"
    assert task["xcom"] == {"job_id": "cleared_running-0002", "value": "done"}
    assert "reattached to job cleared_running-0001" not in result.output
    assert "resubmitted because previous_failed: job cleared_running-0002" in result.output
    assert submitted(sandbox, "cleared_running") == ["cleared_running-0001", "cleared_running-0002"]


def test_an_execution_timeout_cancels_the_job(interruptions: Any) -> None:
    sandbox, result = interruptions
    assert result.task("timed_out")["state"] == "failed"
    assert cancels(sandbox, "timed_out") == ["timed_out-0001"]
    assert sandbox.jobs("timed_out").job("timed_out-0001")["status"] == CANCELLED
    # Left FAILED, not CANCELLED: a retry after a timeout runs the work again.
    record = result.record("timed_out")
    assert record["phase"] == "failed" and record["history"][-1]["outcome"] == "cancelled"


def test_the_kill_policy_can_keep_the_job_on_timeout(interruptions: Any) -> None:
    sandbox, result = interruptions
    assert result.task("timed_out_kept")["state"] == "failed"
    assert cancels(sandbox, "timed_out_kept") == []
    assert sandbox.jobs("timed_out_kept").job("timed_out_kept-0001")["status"] == RUNNING
    assert result.record("timed_out_kept")["phase"] == "submitted"
