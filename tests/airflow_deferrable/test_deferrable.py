"""ResumableOperator(deferrable=True): the task records the intent and the id, the triggerer polls.

In-process tests drive the operator and the trigger as Airflow would (execute raises
TaskDeferred; the trigger is rebuilt from what it serialized and run on an event loop;
execute_complete gets its event). One scenario runs in real Airflow 3.3 with dag.test(),
which runs the trigger in line (Airflow's own test mode for deferrable operators): the
triggerer process itself is not started there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from resumable_adapters.airflow import ResumableOperator
from resumable_adapters.airflow._trigger import ResumableJobTrigger
from resumable_core import InvalidArgument, JobFailed, MemoryStateStore, Phase, PollPolicy, TransientError, load_record
from tests.airflow.conftest import AirflowSandbox
from tests.airflow.filejob import FAILED, FileJob, FileJobSystem

FAST = PollPolicy(min_interval=0.01, max_interval=0.05)
KEY = "deferred"


def ti() -> Any:
    return SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0,
                           get_task_states=lambda **query: {"r": {"t": "running"}})


def operator(root: Path, store: MemoryStateStore, *, running_polls: int = 3) -> ResumableOperator:
    spec = {"root": str(root), "running_polls": running_polls, "value": [1, 2]}
    return ResumableOperator(task_id="t", job=FileJob(root, running_polls=running_polls, value=[1, 2]),
                             state_store=store, state_key=KEY, poll=FAST, deferrable=True,
                             trigger_job=("tests.airflow.filejob:FileJob", spec))


def deferred(op: ResumableOperator) -> ResumableJobTrigger:
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as info:
        op.execute({"ti": ti()})
    assert info.value.method_name == "execute_complete"
    trigger = info.value.trigger
    assert isinstance(trigger, ResumableJobTrigger)
    return trigger


def triggered(trigger: ResumableJobTrigger) -> dict[str, Any]:
    """What the triggerer does: rebuild the trigger from what it serialized, run it to its event."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "resumable_adapters.airflow._trigger.ResumableJobTrigger"
    rebuilt = ResumableJobTrigger(**kwargs)

    async def first_event() -> dict[str, Any]:
        async for event in rebuilt.run():
            payload: dict[str, Any] = event.payload
            return payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first_event())


def test_deferrable_needs_to_say_how_the_triggerer_builds_the_job(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="trigger_job"):
        ResumableOperator(task_id="t", job=FileJob(tmp_path), deferrable=True)


def test_a_deferred_task_records_the_id_and_returns_the_result_after_the_trigger(tmp_path: Path) -> None:
    store, system = MemoryStateStore(), FileJobSystem(tmp_path)
    op = operator(tmp_path, store)
    trigger = deferred(op)
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.SUBMITTED and record.job_id == trigger.job_id
    event = triggered(trigger)
    assert event == {"job_id": record.job_id, "status": "SUCCEEDED"}
    result = op.execute_complete({"ti": ti()}, event)
    assert result == {"job_id": record.job_id, "value": [1, 2]}
    final = load_record(store, KEY)
    assert final is not None and final.phase is Phase.SUCCEEDED and final.result == result
    assert len(system.log("submissions")) == 1


def test_a_task_killed_while_deferred_defers_again_on_the_same_job(tmp_path: Path) -> None:
    store, system = MemoryStateStore(), FileJobSystem(tmp_path)
    first = deferred(operator(tmp_path, store, running_polls=50))
    # The try dies while deferred (the worker or the triggerer is lost): the next try
    # reads the record, finds the job running, and defers on it again.
    again = deferred(operator(tmp_path, store, running_polls=50))
    assert again.job_id == first.job_id
    assert len(system.log("submissions")) == 1


def test_a_failure_the_trigger_saw_fails_the_try_without_a_resubmission(tmp_path: Path) -> None:
    store, system = MemoryStateStore(), FileJobSystem(tmp_path)
    op = operator(tmp_path, store, running_polls=50)
    trigger = deferred(op)
    job = system.job(trigger.job_id)
    assert job is not None
    system.save({**job, "status": FAILED})
    event = triggered(trigger)
    assert event["status"] == FAILED
    with pytest.raises(JobFailed):
        op.execute_complete({"ti": ti()}, event)
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.FAILED
    assert len(system.log("submissions")) == 1


class UnreachableJob(FileJob):
    """A job whose system cannot be asked: every status query is a transient error."""

    def get_job_status(self, job_id: str) -> str:
        raise TransientError("status endpoint timed out", job_id=job_id)


def test_a_trigger_that_cannot_ask_within_its_budget_wakes_the_task_to_ask_again(tmp_path: Path) -> None:
    trigger = ResumableJobTrigger(
        job_factory="tests.airflow_deferrable.test_deferrable:UnreachableJob", job_kwargs={"root": str(tmp_path)},
        job_id="job-1", key=KEY, poll={"min_interval": 0, "max_interval": 0, "transient_attempts": 3},
    )
    event = triggered(trigger)
    assert event == {"job_id": "job-1", "status": None, "transient": "status endpoint timed out"}


DEFERRED_DAG = """
spec = {"root": JOBS + "/deferred", "running_polls": 3, "value": [1, 2]}
ResumableOperator(
    task_id="deferred", job=FileJob(JOBS + "/deferred", running_polls=3, value=[1, 2]), poll=FAST_POLL,
    deferrable=True, trigger_job=("tests.airflow.filejob:FileJob", spec),
)
"""


@pytest.mark.airflow
def test_in_airflow_the_task_defers_the_trigger_polls_and_the_result_is_the_xcom(new_sandbox: Any) -> None:
    sandbox: AirflowSandbox = new_sandbox("deferrable")
    sandbox.write_dag("deferrable", DEFERRED_DAG,
                      imports="from resumable_adapters.airflow import ResumableOperator\nfrom tests.airflow.filejob import FileJob")
    result = sandbox.run("deferrable", "start")
    task = result.task("deferred")
    assert task["state"] == "success", result.output[-3000:]
    [submission] = sandbox.jobs("deferred").log("submissions")
    assert task["xcom"] == {"job_id": submission["job_id"], "value": [1, 2]}
    assert "deferring: the triggerer follows job" in result.output
    record = result.record("deferred")
    assert record["phase"] == "succeeded" and record["job_id"] == submission["job_id"]
