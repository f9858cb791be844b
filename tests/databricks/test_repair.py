"""Repair as a resubmission mode: a failed multi-task run gets its failed tasks rerun inside it.

The loopback workspace through the real databricks-sdk client; the record is a MemoryStateStore
the job reads (RepairFailedTasks) as the core writes it.
"""

from __future__ import annotations

from typing import Any

import pytest

from resumable_adapters.databricks import (
    DatabricksJobsClient,
    DatabricksRunNowJob,
    DatabricksSubmitRunJob,
    RepairFailedTasks,
    RunRef,
)
from resumable_core import InvalidArgument, JobFailed, MemoryStateStore, load_record, run_resumable
from resumable_core.record import Outcome
from tests.databricks.conftest import FAST_POLL, task
from tests.services.databricks_api import DatabricksApiServer

PIPELINE = [task("ingest"), task("load", "FAILED", "SUCCESS", depends_on=("ingest",)),
            task("report", depends_on=("load",))]


def job_for(client: DatabricksJobsClient, store: MemoryStateStore, tasks: list[dict[str, Any]], *,
            repair: bool = True, **options: Any) -> DatabricksSubmitRunJob:
    mode = RepairFailedTasks(store, "pipeline", **options) if repair else None
    return DatabricksSubmitRunJob(client, {"run_name": "pipeline", "tasks": tasks}, repair=mode)


def run(job: DatabricksSubmitRunJob | DatabricksRunNowJob, store: MemoryStateStore) -> Any:
    return run_resumable(job, store, key="pipeline", poll=FAST_POLL)


def repair_bodies(api: DatabricksApiServer) -> list[dict[str, Any]]:
    return [body for _, path, body in api.requests if path.endswith("/runs/repair")]


def test_a_failed_multi_task_run_is_repaired_and_only_its_failed_tasks_rerun(
        databricks_api: DatabricksApiServer, databricks_client: DatabricksJobsClient) -> None:
    store = MemoryStateStore()
    with pytest.raises(JobFailed) as failed:
        run(job_for(databricks_client, store, PIPELINE), store)
    run_id = failed.value.job_id
    assert run_id is not None

    result = run(job_for(databricks_client, store, PIPELINE), store)
    assert databricks_api.runs_created() == 1  # no new run: the same one, repaired
    assert repair_bodies(databricks_api) == [{"run_id": int(run_id), "rerun_all_failed_tasks": True,
                                              "rerun_dependent_tasks": True}]
    assert result["status"] == "TERMINATED SUCCESS/SUCCESS" and result["run_id"] == int(run_id)
    attempts = {t["task_key"]: t["attempt_number"] for t in result["tasks"]}
    assert attempts == {"ingest": 0, "load": 1, "report": 1}  # ingest succeeded and was not rerun
    record = load_record(store, "pipeline")
    assert record is not None
    assert [(h.job_id, h.outcome) for h in record.history] == [
        (run_id, Outcome.FAILED), (f"{run_id}/repair/{result['repair_id']}", Outcome.SUCCEEDED)]


def test_a_failed_repair_fails_the_key_and_the_next_repair_names_the_latest(
        databricks_api: DatabricksApiServer, databricks_client: DatabricksJobsClient) -> None:
    store = MemoryStateStore()
    tasks = [task("ingest"), task("load", "FAILED", "FAILED")]
    with pytest.raises(JobFailed):
        run(job_for(databricks_client, store, tasks), store)
    with pytest.raises(JobFailed) as again:
        run(job_for(databricks_client, store, tasks), store)
    first_repair = RunRef.parse(again.value.job_id or "")
    assert first_repair.repair_id is not None  # the repair's outcome is the key's outcome
    with pytest.raises(JobFailed):
        run(job_for(databricks_client, store, tasks), store)
    assert [b.get("latest_repair_id") for b in repair_bodies(databricks_api)] == [None, first_repair.repair_id]
    assert databricks_api.runs_created() == 1


def test_after_max_repairs_the_resubmission_is_a_new_run(databricks_api: DatabricksApiServer,
                                                          databricks_client: DatabricksJobsClient) -> None:
    store = MemoryStateStore()
    tasks = [task("ingest"), task("load", "FAILED", "FAILED")]
    for _ in range(3):
        with pytest.raises(JobFailed):
            run(job_for(databricks_client, store, tasks, max_repairs=1), store)
    assert len(repair_bodies(databricks_api)) == 1 and databricks_api.runs_created() == 2


@pytest.mark.parametrize("case", ["one task", "changed spec", "no repair mode"])
def test_a_new_run_when_a_repair_does_not_fit(databricks_api: DatabricksApiServer,
                                              databricks_client: DatabricksJobsClient, case: str) -> None:
    store = MemoryStateStore()
    tasks = [task("only", "FAILED", "SUCCESS")] if case == "one task" else PIPELINE
    with pytest.raises(JobFailed):
        run(job_for(databricks_client, store, tasks), store)
    again = [*tasks, task("extra")] if case == "changed spec" else tasks
    with pytest.raises(JobFailed):  # a new run of the same plan fails the same way
        run(job_for(databricks_client, store, again, repair=case != "no repair mode"), store)
    assert repair_bodies(databricks_api) == [] and databricks_api.runs_created() == 2


def test_a_job_run_is_repaired_with_the_jobs_current_parameters(databricks_api: DatabricksApiServer,
                                                                databricks_client: DatabricksJobsClient) -> None:
    databricks_api.create_job(77, [task("ingest"), task("load", "FAILED", "SUCCESS")], parameters={"day": ""})
    store = MemoryStateStore()

    def job() -> DatabricksRunNowJob:
        return DatabricksRunNowJob(databricks_client, 77, {"job_parameters": {"day": "2026-12-06"}},
                                   repair=RepairFailedTasks(store, "pipeline"))

    with pytest.raises(JobFailed):
        run(job(), store)
    assert run(job(), store)["status"] == "TERMINATED SUCCESS/SUCCESS"
    (body,) = repair_bodies(databricks_api)
    assert body["job_parameters"] == {"day": "2026-12-06"} and databricks_api.runs_created() == 1


@pytest.mark.parametrize("job_id", ["", "12/repair/", "x", "12/repair/3/repair/4", "-1", "007"])
def test_a_job_id_that_is_no_run_or_repair_is_refused(job_id: str) -> None:
    with pytest.raises(InvalidArgument):
        RunRef.parse(job_id)
    assert RunRef.parse("12/repair/3") == RunRef(12, 3) and RunRef.parse("12").job_id == "12"
