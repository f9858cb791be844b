"""The resumable Databricks operators in real Airflow 3.3 (dag.test, SQLite metadata DB) against the
loopback Jobs API workspace (tests/services/databricks_api.py), reached through the real databricks-sdk.

One DAG of three tasks, run as a chain of child processes (tests/airflow/harness.py: start,
then resume after a crash as the scheduler would), each process SIGKILLed in one task:

  start:   submit dies after runs/submit answered, before the run id was recorded
  resume1: submit's retry finds the run by the reference in its name and adopts it;
           poll dies at its first status read (run id recorded)
  resume2: poll's retry reattaches to the recorded run; repair (run-now of a three-task job
           whose middle task fails once) fails its first try, and its retry repairs the run:
           runs/repair reruns the failed task and the one after it, not the one that succeeded

The workspace's own runs, tokens and repairs are the proof that each key made one run.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.databricks.conftest import task
from tests.services.databricks_api import DatabricksApiServer, Run

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "databricks_chain"
JOB_ID = 4242  # the existing job the repair task runs
KILLED = -signal.SIGKILL
SUBMITTED_TASKS = [task("ingest"), task("load", depends_on=("ingest",))]
JOB_TASKS = [task("ingest"), task("load", "FAILED", "SUCCESS", depends_on=("ingest",)),
             task("report", depends_on=("load",))]

DAG = """\
from datetime import timedelta

from airflow.sdk import DAG

from tests.airflow.databricks_dagkit import KilledDatabricksRunNow, KilledDatabricksSubmitRun

TRIGGERS = {triggers!r}
RETRY = dict(retries=1, retry_delay=timedelta(0))

with DAG({dag_id!r}, schedule=None, catchup=False) as dag:
    submit = KilledDatabricksSubmitRun(task_id="submit", run_name="etl-submit", tasks={tasks!r},
                                       triggers=TRIGGERS + "/submit", **RETRY)
    poll = KilledDatabricksSubmitRun(task_id="poll", run_name="etl-poll", tasks={tasks!r},
                                     triggers=TRIGGERS + "/poll", **RETRY)
    repair = KilledDatabricksRunNow(task_id="repair", job_id={job_id!r}, repair_run=True,
                                    triggers=TRIGGERS + "/repair", **RETRY)
    submit >> poll >> repair
"""

Chain = tuple[DatabricksApiServer, dict[str, DagRunResult]]


def arm(triggers: Path, task_id: str, name: str) -> None:
    (triggers / task_id).mkdir(parents=True, exist_ok=True)
    (triggers / task_id / name).touch()


@pytest.fixture(scope="module")
def workspace() -> Iterator[DatabricksApiServer]:
    server = DatabricksApiServer().start()
    server.create_job(JOB_ID, JOB_TASKS, name="pipeline")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chain(new_sandbox: Any, workspace: DatabricksApiServer) -> Chain:
    sandbox: AirflowSandbox = new_sandbox(DAG_ID)
    host, port = workspace.url.removeprefix("http://").split(":")
    sandbox.extra_env["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = json.dumps({
        "conn_type": "databricks", "host": host, "port": int(port), "schema": "http",
        "password": workspace.token})
    triggers = sandbox.jobs_dir
    (sandbox.dags / f"{DAG_ID}.py").write_text(DAG.format(
        triggers=str(triggers), dag_id=DAG_ID, tasks=SUBMITTED_TASKS, job_id=str(JOB_ID)))
    steps: dict[str, DagRunResult] = {}
    with pytest.MonkeyPatch.context() as env:
        # The SDK also reads DATABRICKS_* variables: the child processes must see only the connection.
        for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_AUTH_TYPE",
                     "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
            env.delenv(name, raising=False)
        arm(triggers, "submit", "kill-after-submit")
        steps["start"] = sandbox.run(DAG_ID, "start")
        arm(triggers, "poll", "kill-while-polling")
        steps["resume1"] = sandbox.run(DAG_ID, "resume")
        steps["resume2"] = sandbox.run(DAG_ID, "resume")
    return workspace, steps


def runs_of(workspace: DatabricksApiServer, *, name: str | None = None, job_id: int | None = None) -> list[Run]:
    with workspace.lock:
        runs = list(workspace.runs.values())
    return [r for r in runs if (name is None or r.run_name.startswith(name + " ")) and
            (job_id is None or r.job_id == job_id)]


def test_each_process_was_killed_where_it_was_told(chain: Chain) -> None:
    _, steps = chain
    for step in ("start", "resume1"):
        assert steps[step].returncode == KILLED, steps[step].output[-3000:]
    assert steps["resume2"].returncode == 0, steps["resume2"].output[-3000:]
    assert steps["resume2"].report is not None and "success" in steps["resume2"].report["run_state"]


@pytest.mark.parametrize(("task_id", "via"), [("submit", "reference"), ("poll", "record")])
def test_the_retry_after_the_kill_made_no_second_run(chain: Chain, task_id: str, via: str) -> None:
    workspace, steps = chain
    [run] = runs_of(workspace, name=f"etl-{task_id}")  # one run, adopted or reattached to, not a second one
    retried = steps["resume1" if task_id == "submit" else "resume2"]  # the process the retry ran in
    assert f"reattached to job {run.run_id} (found by {via}" in retried.output
    finished = steps["resume2"]  # the last process's report: every task's end
    entry = finished.task(task_id)
    assert entry["state"] == "success" and entry["try_number"] == 2, finished.output[-3000:]
    assert entry["xcom"]["run_id"] == run.run_id and entry["xcom"]["status"] == "TERMINATED SUCCESS/SUCCESS"
    record = finished.record(task_id)
    assert record["phase"] == "succeeded" and record["job_id"] == str(run.run_id), record
    assert record["reference"] == run.token and len(record["history"]) == 1, record


def test_the_retry_after_a_failed_task_repairs_the_run_and_reruns_only_what_failed(chain: Chain) -> None:
    workspace, steps = chain
    finished = steps["resume2"]
    [run] = runs_of(workspace, job_id=JOB_ID)  # the repair reran tasks inside the run: no new run
    assert [r.type for r in run.repairs] == ["ORIGINAL", "REPAIR"], run.repairs  # the repair history
    repaired = f"{run.run_id}/repair/{run.repairs[-1].id}"
    repairs = [body for _, path, body in workspace.requests if path.endswith("/runs/repair")]
    assert repairs == [{"run_id": run.run_id, "rerun_all_failed_tasks": True, "rerun_dependent_tasks": True}], repairs
    entry = finished.task("repair")
    assert entry["state"] == "success" and entry["try_number"] == 2, finished.output[-3000:]
    attempts = {t["task_key"]: t["attempt_number"] for t in entry["xcom"]["tasks"]}
    assert attempts == {"ingest": 0, "load": 1, "report": 1}  # ingest succeeded once and was not rerun
    record = finished.record("repair")
    assert [(h["job_id"], h["outcome"]) for h in record["history"]] == [
        (str(run.run_id), "failed"), (repaired, "succeeded")], record
    assert record["job_id"] == repaired

