"""ResumableFlinkOperator in real Airflow 3.3 against the real Flink session cluster.

One DAG, three tasks running the streaming count job (tests/services/flink_count_job.java),
reached through the ``flink_default`` connection (host, port, a login and password sent as
HTTP Basic, which Flink ignores and no log line may show). Two child processes
(tests/airflow/harness.py; each costs 10-30 s here), one Airflow sandbox:

    start:  shutdown gets a SIGTERM while its task instance still runs (a worker shutdown):
            its job is left running and its retry, in the same process, reattaches to it;
            cleared is cleared by a user while it runs (the code behind ``airflow tasks
            clear``, then the SIGTERM the supervisor sends): its job is cancelled on the
            cluster and the next try submits a new one;
            crash is SIGKILLed at its first status query (the job id is recorded)
    resume: crash's retry reattaches to the SAME Flink job and returns its result as XCom

The clear of a task that has ended (a new generation: ``fresh_run``) is the core's and the
base operator's, run in real Airflow by test_operator_in_airflow.py and, on a real cluster,
test_spark_operator_in_airflow.py; it costs one more process here, so it is a unit test.

The jobs never end by themselves: the test's Finisher (tests/airflow/finisher.py) writes
``finish`` into a task's control directory once the try it waits for has seen the job running
(the tries log each status query), so no outcome depends on how long a process takes to start.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.airflow.finisher import Finisher
from tests.airflow.flinkkit import ASKED_LOG
from tests.services.flink import Control, CountJar, FlinkCluster

pytestmark = [pytest.mark.airflow, pytest.mark.flink, pytest.mark.slow]

DAG_ID = "flink_chain"
PASSWORD = "flink-basic-secret-4f1c9a"
DAG = """
common = dict(jobs=JOBS, jar={jar!r}, entry_class={main_class!r}, parallelism=1, retries=1,
              retry_delay=timedelta(0), configuration={configuration!r})
shutdown = TriggeredFlinkOperator(task_id="shutdown", args=[{controls[shutdown]!r}, "0", "200"], **common)
cleared = TriggeredFlinkOperator(task_id="cleared", args=[{controls[cleared]!r}, "0", "200"],
                                 hook=clear_then_sigterm({dag_id!r}), **common)
crash = TriggeredFlinkOperator(task_id="crash", args=[{controls[crash]!r}, "0", "200"], **common)
[shutdown, cleared] >> crash
"""
FROM_TRY = {"shutdown": 2, "cleared": 2, "crash": 2}  # a task's job is ended once a try numbered at least this saw it


def overview(cluster: FlinkCluster) -> dict[str, dict[str, Any]]:
    """Every job the JobManager holds, with its name (the count job names its control directory)."""
    with urllib.request.urlopen(f"{cluster.rest_url}/jobs/overview", timeout=10) as answer:  # loopback only
        return {job["jid"]: job for job in json.loads(answer.read())["jobs"]}


@dataclass
class HeldCountJob:
    """A task's count jobs for the Finisher: held until its control directory says ``finish``."""

    control: Control

    def active(self, job_id: str) -> bool:
        return True  # held: it runs until told to finish, and the try that asked had it running

    def finish(self, job_id: str) -> None:
        self.control.finish()


@dataclass
class Chain:
    sandbox: AirflowSandbox
    steps: dict[str, DagRunResult]
    jobs: dict[str, dict[str, Any]]  # what the JobManager shows of this DAG's jobs, by id
    finished: list[str]


@pytest.fixture(scope="module")
def chain(new_sandbox: Any, flink_cluster: FlinkCluster, flink_count_jar: CountJar,
          tmp_path_factory: pytest.TempPathFactory) -> Chain:
    sandbox: AirflowSandbox = new_sandbox(DAG_ID)
    work = tmp_path_factory.mktemp("flink-airflow")
    controls = {task_id: Control(work / task_id) for task_id in FROM_TRY}
    for control in controls.values():
        control.directory.mkdir()
    sandbox.extra_env["AIRFLOW_CONN_FLINK_DEFAULT"] = json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": flink_cluster.rest_port, "login": "airflow",
        "password": PASSWORD})
    configuration = {
        "execution.checkpointing.dir": (work / "checkpoints").as_uri(),
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "restart-strategy.type": "none",
    }
    sandbox.write_dag(DAG_ID, DAG.format(jar=str(flink_count_jar.jar), main_class=flink_count_jar.main_class,
                                         configuration=configuration, dag_id=DAG_ID,
                                         controls={k: str(c.directory) for k, c in controls.items()}),
                      imports="from tests.airflow.flinkkit import TriggeredFlinkOperator")
    sandbox.jobs("shutdown").arm("sigterm")
    sandbox.jobs("cleared").arm("hook")
    sandbox.jobs("crash").arm("crash")
    before = set(overview(flink_cluster))
    steps: dict[str, DagRunResult] = {}
    held = {task_id: HeldCountJob(control) for task_id, control in controls.items()}
    with Finisher(sandbox, held, FROM_TRY, asked_log=ASKED_LOG, interval=0.1) as finisher:
        steps["start"] = sandbox.run(DAG_ID)
        steps["resume"] = sandbox.run(DAG_ID, "resume")
    ours = {job_id: job for job_id, job in overview(flink_cluster).items() if job_id not in before}
    return Chain(sandbox, steps, ours, finisher.finished)


def named(chain: Chain, task_id: str) -> list[str]:
    """The ids of the jobs a task ran, from the JobManager's own list (the job's name holds its control dir)."""
    return sorted(job_id for job_id, job in chain.jobs.items() if job["name"].endswith(f"/{task_id}"))


def test_a_retry_after_a_sigkill_reattaches_to_the_same_flink_job(chain: Chain) -> None:
    start, resumed = chain.steps["start"], chain.steps["resume"]
    assert start.returncode == -9, start.output[-3000:]  # SIGKILLed in crash's first try
    assert resumed.returncode == 0, resumed.output[-3000:]
    task = resumed.task("crash")
    assert task["state"] == "success" and task["try_number"] == 2
    job_id = task["xcom"]["job_id"]
    assert task["xcom"]["state"] == "FINISHED" and job_id in chain.finished
    assert f"reattached to job {job_id}" in resumed.output
    assert [h["job_id"] for h in resumed.record("crash")["history"]] == [job_id]
    assert named(chain, "crash") == [job_id]  # the retry submitted nothing
    assert chain.jobs[job_id]["state"] == "FINISHED"


def test_a_worker_shutdown_leaves_the_flink_job_running_for_the_retry(chain: Chain) -> None:
    log, report = chain.steps["start"].output, chain.steps["resume"]
    task = report.task("shutdown")
    assert task["state"] == "success" and task["try_number"] == 2, log[-3000:]
    [job_id] = named(chain, "shutdown")  # the retry submitted nothing
    assert task["xcom"]["job_id"] == job_id and task["xcom"]["state"] == "FINISHED"
    assert f"worker_shutdown): job {job_id} left running" in log
    assert f"reattached to job {job_id}" in log
    assert chain.sandbox.jobs("shutdown").log("cancels") == []
    assert chain.jobs[job_id]["state"] == "FINISHED"  # never cancelled: it ran on and finished


def test_a_user_clearing_the_running_task_cancels_its_job_and_the_next_try_submits_a_new_one(
        chain: Chain) -> None:
    log, report = chain.steps["start"].output, chain.steps["resume"]
    task = report.task("cleared")
    assert task["state"] == "success", log[-3000:]
    first, second = (h["job_id"] for h in report.record("cleared")["history"])
    assert named(chain, "cleared") == sorted([first, second])
    assert f"task stopped (user_clear, task instance 'restarting'): job {first} cancelled" in log
    assert [c["job_id"] for c in chain.sandbox.jobs("cleared").log("cancels")] == [first]
    assert chain.jobs[first]["state"] == "CANCELED"  # cancelled on the cluster, not left running
    assert task["xcom"]["job_id"] == second and chain.jobs[second]["state"] == "FINISHED"
    assert f"resubmitted because previous_failed: job {second}" in log
    # The new job goes on from the checkpoint the cancelled one had reached (when it had reached one), and
    # the history says so; the cluster was asked to restore exactly that.
    started_from = report.record("cleared")["history"][1].get("started_from")
    assert task["xcom"]["restored_from"] == started_from
    assert started_from is None or f"/checkpoints/{first}/chk-" in started_from


def test_no_connection_password_in_any_log(chain: Chain) -> None:
    for step in chain.steps.values():
        assert PASSWORD not in step.output
