"""The bridge in real Airflow 3.3 (dag.test, SQLite metadata DB) with the amazon provider against moto.

One DAG, one task per story, run as a chain of child processes so that each
process crashes in exactly one task (tests/airflow/harness.py: start, resume
after a crash as the scheduler would, clear as a user would):

  start:   glue_crash dies at its first status query (run id recorded)
  resume1: glue_crash reattaches and returns the run id; glue_window dies between
           Glue accepting the run and the bridge recording it
  resume2: glue_window finds the run by its reference argument; glue_stock (the
           STOCK GlueJobOperator) stores its id through Airflow's mixin and dies
  (the DAG file now says resumable for glue_stock: the two-line change, mid-run)
  resume3: glue_stock adopts the stock mixin's id; redshift_shutdown gets a
           worker-shutdown SIGTERM (job left), and its retry reattaches;
           redshift_marked is marked failed while it runs (statement cancelled)
  clear:   a user clears glue_crash: a new run is submitted, not the old success reused
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.airflow._hook_job import decode_external_id
from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.airflow.filejob import CRASH_EXIT_CODE
from tests.services.moto import REGION, MotoServer

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "bridge_chain"
GLUE_TASKS = ("glue_crash", "glue_window", "glue_stock")

DAG = """\
from datetime import timedelta

from airflow.sdk import DAG

from tests.airflow_bridge.dagkit import TriggeredGlue, TriggeredRedshiftData, TriggeredStockGlue

TRIGGERS = {triggers!r}
RETRY = dict(retries=1, retry_delay=timedelta(0))

with DAG({dag_id!r}, schedule=None, catchup=False) as dag:
    glue_crash = TriggeredGlue(task_id="glue_crash", job_name="etl-glue_crash", triggers=TRIGGERS + "/glue_crash",
                               **RETRY)
    glue_window = TriggeredGlue(task_id="glue_window", job_name="etl-glue_window",
                                triggers=TRIGGERS + "/glue_window", **RETRY)
    glue_stock = {stock_class}(task_id="glue_stock", job_name="etl-glue_stock", triggers=TRIGGERS + "/glue_stock",
                               **RETRY)
    redshift_shutdown = TriggeredRedshiftData(
        task_id="redshift_shutdown", sql="select 1 /* polls=4 */", database="dev", cluster_identifier="c1",
        triggers=TRIGGERS + "/shutdown", **RETRY)
    redshift_marked = TriggeredRedshiftData(
        task_id="redshift_marked", sql="select 2 /* hold */", database="dev", cluster_identifier="c1",
        triggers=TRIGGERS + "/marked", **RETRY)
    glue_crash >> glue_window >> glue_stock >> redshift_shutdown >> redshift_marked
"""


def write_dag(sandbox: AirflowSandbox, triggers: Path, stock_class: str) -> None:
    (sandbox.dags / f"{DAG_ID}.py").write_text(
        DAG.format(triggers=str(triggers), dag_id=DAG_ID, stock_class=stock_class))


def arm(triggers: Path, name: str) -> None:
    triggers.mkdir(parents=True, exist_ok=True)
    (triggers / name).touch()


@pytest.fixture(scope="module")
def chain(new_sandbox: Any, moto_server: MotoServer) -> tuple[MotoServer, dict[str, DagRunResult]]:
    moto_server.set_transition("glue::job_run", "manual", times=2)
    glue = moto_server.client("glue")
    for task_id in GLUE_TASKS:
        glue.create_job(Name=f"etl-{task_id}", Role="arn:aws:iam::123456789012:role/glue",
                        Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/etl.py"})
    sandbox: AirflowSandbox = new_sandbox(DAG_ID)
    sandbox.extra_env.update({"AIRFLOW_CONN_AWS_DEFAULT": moto_server.airflow_connection,
                              "AWS_DEFAULT_REGION": REGION})
    triggers = sandbox.jobs_dir
    write_dag(sandbox, triggers, "TriggeredStockGlue")
    steps: dict[str, DagRunResult] = {}
    arm(triggers / "glue_crash", "crash-while-polling")
    steps["start"] = sandbox.run(DAG_ID, "start")
    arm(triggers / "glue_window", "crash-after-submit")
    steps["resume1"] = sandbox.run(DAG_ID, "resume")
    arm(triggers / "glue_stock", "crash-while-polling")
    steps["resume2"] = sandbox.run(DAG_ID, "resume")
    write_dag(sandbox, triggers, "TriggeredGlue")  # the two-line change, while glue_stock waits for its retry
    arm(triggers / "shutdown", "worker-shutdown")
    arm(triggers / "marked", "mark-failed")
    steps["resume3"] = sandbox.run(DAG_ID, "resume")
    steps["clear"] = sandbox.run(DAG_ID, "clear", tasks=["glue_crash"])
    return moto_server, steps


def runs_before_clear(steps: dict[str, DagRunResult]) -> list[str]:
    """glue_crash's runs as resume3 left them: the clear step adds one."""
    recorded = steps["resume3"].record("glue_crash")["history"]
    return [str(decode_external_id(entry["job_id"])) for entry in recorded]


def runs(moto: MotoServer, task_id: str) -> list[str]:
    job_runs = moto.client("glue").get_job_runs(JobName=f"etl-{task_id}")["JobRuns"]
    return sorted(run["Id"] for run in job_runs)


def test_each_process_crashed_where_it_was_told(chain: tuple[MotoServer, dict[str, DagRunResult]]) -> None:
    _, steps = chain
    for step in ("start", "resume1", "resume2"):
        assert steps[step].returncode == CRASH_EXIT_CODE, steps[step].output[-3000:]
    assert steps["resume3"].returncode == 0, steps["resume3"].output[-3000:]


# A crashed process writes no report: what each crash led to is read in the report of
# resume3 (every task's state, XCom and task state store rows are still there).


def test_sigkill_after_the_record_reattaches_and_returns_the_run_id(
        chain: tuple[MotoServer, dict[str, DagRunResult]]) -> None:
    _, steps = chain
    task = steps["resume3"].task("glue_crash")
    assert task["state"] == "success" and task["try_number"] == 2
    [run_id] = runs_before_clear(steps)
    assert task["xcom"] == run_id  # the stock operator's XCom, on the reattach path


def test_crash_between_submit_and_record_is_found_by_reference(
        chain: tuple[MotoServer, dict[str, DagRunResult]]) -> None:
    moto, steps = chain
    task = steps["resume3"].task("glue_window")
    assert task["state"] == "success" and task["try_number"] == 2
    [run_id] = runs(moto, "glue_window")  # found with GetJobRuns, not submitted again
    assert task["xcom"] == run_id
    [submission] = steps["resume3"].record("glue_window")["history"]
    assert decode_external_id(submission["job_id"]) == run_id


def test_a_dag_switched_from_the_stock_operator_adopts_its_id(
        chain: tuple[MotoServer, dict[str, DagRunResult]]) -> None:
    moto, steps = chain
    [run_id] = runs(moto, "glue_stock")  # adopted, not submitted again
    task = steps["resume3"].task("glue_stock")
    assert task["state"] == "success" and task["try_number"] == 2 and task["xcom"] == run_id
    assert task["state_store"]["glue_job_run_id"]["value"] == run_id  # written by Airflow's own mixin
    [submission] = steps["resume3"].record("glue_stock")["history"]
    assert decode_external_id(submission["job_id"]) == run_id


def test_a_worker_shutdown_leaves_the_statement_and_the_retry_reattaches(
        chain: tuple[MotoServer, dict[str, DagRunResult]]) -> None:
    moto, steps = chain
    task = steps["resume3"].task("redshift_shutdown")
    assert task["state"] == "success" and task["try_number"] == 2, steps["resume3"].output[-3000:]
    record = steps["resume3"].record("redshift_shutdown")
    assert len(record["history"]) == 1
    statement_id = decode_external_id(record["job_id"])
    assert task["xcom"] == [statement_id]
    assert moto.client("redshift-data").describe_statement(Id=statement_id)["Status"] == "FINISHED"


def test_a_user_mark_failed_cancels_through_the_operators_on_kill(
        chain: tuple[MotoServer, dict[str, DagRunResult]]) -> None:
    moto, steps = chain
    task = steps["resume3"].task("redshift_marked")
    assert task["state"] == "failed"
    record = steps["resume3"].record("redshift_marked")
    assert record["phase"] == "cancelled"
    statement_id = decode_external_id(record["job_id"])
    assert moto.client("redshift-data").describe_statement(Id=statement_id)["Status"] == "ABORTED"


def test_a_clear_submits_afresh_instead_of_reusing_the_old_success(
        chain: tuple[MotoServer, dict[str, DagRunResult]]) -> None:
    moto, steps = chain
    before = steps["resume3"].task("glue_crash")
    task = steps["clear"].task("glue_crash")
    assert task["state"] == "success" and task["max_tries"] > before["max_tries"]
    assert task["xcom"] != before["xcom"]
    assert runs(moto, "glue_crash") == sorted([before["xcom"], task["xcom"]])
    assert steps["clear"].task("glue_window")["xcom"] == steps["resume3"].task("glue_window")["xcom"]
