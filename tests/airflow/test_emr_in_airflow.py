"""The resumable EMR operators in real Airflow 3.3 (dag.test, SQLite metadata DB) against moto + our layer.

One DAG, one task per operator, run as a chain of child processes so that each process
crashes in exactly one task (tests/airflow/harness.py: start, then resume after a crash
as the scheduler would):

  start:   emr_step dies after AddJobFlowSteps returned, before the step id was recorded
  resume1: emr_step's retry finds the step by its name; emr_serverless dies after StartJobRun
  resume2: emr_serverless's retry replays the token and gets the same run; emr_eks dies
           at its first status read (run id recorded)
  resume3: emr_eks's retry reattaches to the run
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.airflow.filejob import CRASH_EXIT_CODE
from tests.aws.emrkit import job_ids, new_container
from tests.services.moto import REGION
from tests.services.moto_emr import RELEASE_LABEL, ROLE_ARN, EmrMotoServer, emr_moto

__all__ = ["emr_moto"]

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "emr_chain"
KIND_OF = {"emr_step": "step", "emr_serverless": "serverless", "emr_eks": "eks"}

DAG = """\
from datetime import timedelta

from airflow.sdk import DAG

from tests.airflow.emr_dagkit import TriggeredEmrAddSteps, TriggeredEmrContainer, TriggeredEmrServerless

TRIGGERS = {triggers!r}
RETRY = dict(retries=1, retry_delay=timedelta(0))
ARGS = ["s3://bucket/etl.py"]

with DAG({dag_id!r}, schedule=None, catchup=False) as dag:
    emr_step = TriggeredEmrAddSteps(
        task_id="emr_step", job_flow_id={cluster!r}, wait_for_completion=True, triggers=TRIGGERS + "/emr_step",
        steps=[{{"Name": "etl", "ActionOnFailure": "CONTINUE",
                 "HadoopJarStep": {{"Jar": "command-runner.jar", "Args": ARGS}}}}], **RETRY)
    emr_serverless = TriggeredEmrServerless(
        task_id="emr_serverless", application_id={application!r}, execution_role_arn={role!r},
        job_driver={{"sparkSubmit": {{"entryPoint": ARGS[0]}}}}, triggers=TRIGGERS + "/emr_serverless", **RETRY)
    emr_eks = TriggeredEmrContainer(
        task_id="emr_eks", name="etl", virtual_cluster_id={virtual_cluster!r}, execution_role_arn={role!r},
        release_label={release!r}, job_driver={{"sparkSubmitJobDriver": {{"entryPoint": ARGS[0]}}}},
        triggers=TRIGGERS + "/emr_eks", **RETRY)
    emr_step >> emr_serverless >> emr_eks
"""


def arm(triggers: Path, task_id: str, name: str) -> None:
    (triggers / task_id).mkdir(parents=True, exist_ok=True)
    (triggers / task_id / name).touch()


@pytest.fixture(scope="module")
def chain(new_sandbox: Any, emr_moto: EmrMotoServer) -> tuple[dict[str, str], dict[str, DagRunResult]]:
    containers = {task_id: new_container(emr_moto, kind) for task_id, kind in KIND_OF.items()}
    sandbox: AirflowSandbox = new_sandbox(DAG_ID)
    sandbox.extra_env.update({"AIRFLOW_CONN_AWS_DEFAULT": emr_moto.airflow_connection, "AWS_DEFAULT_REGION": REGION})
    triggers = sandbox.jobs_dir
    (sandbox.dags / f"{DAG_ID}.py").write_text(DAG.format(
        triggers=str(triggers), dag_id=DAG_ID, cluster=containers["emr_step"],
        application=containers["emr_serverless"], virtual_cluster=containers["emr_eks"], role=ROLE_ARN,
        release=RELEASE_LABEL))
    steps: dict[str, DagRunResult] = {}
    arm(triggers, "emr_step", "crash-after-submit")
    steps["start"] = sandbox.run(DAG_ID, "start")
    arm(triggers, "emr_serverless", "crash-after-submit")
    steps["resume1"] = sandbox.run(DAG_ID, "resume")
    arm(triggers, "emr_eks", "crash-while-polling")
    steps["resume2"] = sandbox.run(DAG_ID, "resume")
    steps["resume3"] = sandbox.run(DAG_ID, "resume")
    return containers, steps


def test_each_process_crashed_where_it_was_told(chain: tuple[dict[str, str], dict[str, DagRunResult]]) -> None:
    _, steps = chain
    for step in ("start", "resume1", "resume2"):
        assert steps[step].returncode == CRASH_EXIT_CODE, steps[step].output[-3000:]
    assert steps["resume3"].returncode == 0, steps["resume3"].output[-3000:]


@pytest.mark.parametrize("task_id", list(KIND_OF))
def test_the_retry_after_the_crash_ran_one_job_and_returned_the_stock_xcom(
        chain: tuple[dict[str, str], dict[str, DagRunResult]], emr_moto: EmrMotoServer, task_id: str) -> None:
    containers, steps = chain
    kind = KIND_OF[task_id]
    task = steps["resume3"].task(task_id)
    assert task["state"] == "success" and task["try_number"] == 2, steps["resume3"].output[-3000:]
    [job_id] = job_ids(emr_moto.endpoint_url, kind, containers[task_id])  # found again, not submitted twice
    assert task["xcom"] == ([job_id] if kind == "step" else job_id)
    record = steps["resume3"].record(task_id)
    assert record["phase"] == "succeeded" and record["job_id"] == job_id and len(record["history"]) == 1
