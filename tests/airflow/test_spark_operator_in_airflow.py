"""ResumableSparkSubmitOperator in real Airflow 3.3 against the real Spark standalone cluster.

The key scenarios of test_operator_in_airflow.py again, with Spark drivers as
the external jobs. One DAG, three chained tasks, three child processes:

    start:  reattach dies hard at its first status query (the driver id is persisted)
    resume: reattach's retry reattaches to the SAME driver; shutdown gets a worker-shutdown
            SIGTERM, leaves its driver running and its retry reattaches; timeout hits its
            execution_timeout and kills its driver
    clear:  a user clears reattach: a new driver is submitted
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.airflow.filejob import CRASH_EXIT_CODE
from tests.services.spark import DriverJar, SparkCluster

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]

# reattach's and shutdown's drivers run until their retry reattached to them (SleepExit waits for
# the release file, which the test operator touches on Reattached): the retry finds each running
# however slowly a new Airflow process starts on a busy machine.
SPARK_CHAIN = """
common = dict(
    jobs=JOBS, conn_id="spark_test", application={jar!r}, java_class={main_class!r},
    driver_memory="256m", retries=1, retry_delay=timedelta(0),
)
reattach = TriggeredSparkSubmitOperator(task_id="reattach", name="af-reattach", application_args=[{reattach_release!r}, "0"],
                                        release={reattach_release!r}, **common)
shutdown = TriggeredSparkSubmitOperator(task_id="shutdown", name="af-shutdown", application_args=[{shutdown_release!r}, "0"],
                                        release={shutdown_release!r}, **common)
timeout = TriggeredSparkSubmitOperator(
    task_id="timeout", name="af-timeout", application_args=["300", "0"],
    execution_timeout=timedelta(seconds=300), hook=time_out_now(), **dict(common, retries=0),
)
reattach >> shutdown >> timeout
"""


@dataclass
class SparkChain:
    sandbox: AirflowSandbox
    steps: dict[str, DagRunResult]
    drivers: dict[str, dict[str, Any]]  # what the master shows of the drivers this DAG made
    drivers_before_clear: set[str]


@pytest.fixture(scope="module")
def spark_chain(
    new_sandbox: Any, spark_cluster: SparkCluster, spark_driver_jar: DriverJar
) -> SparkChain:
    sandbox: AirflowSandbox = new_sandbox("spark_chain")
    sandbox.extra_env["AIRFLOW_CONN_SPARK_TEST"] = json.dumps(
        {
            "conn_type": "spark",
            "host": spark_cluster.master_url,
            "extra": {"rest_url": spark_cluster.rest_url, "web_ui_url": spark_cluster.web_ui_url},
        }
    )
    sandbox.write_dag(
        "spark_chain",
        SPARK_CHAIN.format(jar=spark_driver_jar.app_resource, main_class=spark_driver_jar.main_class,
                           reattach_release=str(sandbox.jobs("reattach").root / "release"),
                           shutdown_release=str(sandbox.jobs("shutdown").root / "release")),
    )
    sandbox.jobs("reattach").arm("crash")
    sandbox.jobs("shutdown").arm("sigterm")
    sandbox.jobs("timeout").arm("hook")  # the timeout falls due once the driver is asked
    before = spark_cluster.driver_ids()
    steps = {"start": sandbox.run("spark_chain"), "resume": sandbox.run("spark_chain", "resume")}
    after_resume = spark_cluster.driver_ids() - before
    steps["clear"] = sandbox.run("spark_chain", "clear", tasks=["reattach"])
    ours = {d["id"]: d for d in spark_cluster.drivers() if d["id"] not in before}
    return SparkChain(sandbox, steps, ours, after_resume)


def test_a_retry_after_a_hard_crash_reattaches_to_the_same_driver(spark_chain: SparkChain) -> None:
    steps, drivers = spark_chain.steps, spark_chain.drivers
    assert steps["start"].returncode == CRASH_EXIT_CODE, steps["start"].output[-3000:]
    resumed = steps["resume"]
    assert resumed.returncode == 0, resumed.output[-3000:]
    task = resumed.task("reattach")
    assert task["state"] == "success" and task["try_number"] == 2
    driver_id = task["xcom"]["driver_id"]
    assert task["xcom"]["state"] == "FINISHED"
    assert f"reattached to job {driver_id}" in resumed.output
    record = resumed.record("reattach")
    assert [h["job_id"] for h in record["history"]] == [driver_id]
    assert drivers[driver_id]["state"] == "FINISHED"
    # One driver per task until the clear: the retry submitted nothing.
    assert len(spark_chain.drivers_before_clear) == 3 and driver_id in spark_chain.drivers_before_clear


def test_a_worker_shutdown_leaves_the_driver_running_for_the_retry(spark_chain: SparkChain) -> None:
    sandbox, steps, drivers = spark_chain.sandbox, spark_chain.steps, spark_chain.drivers
    resumed = steps["resume"]
    task = resumed.task("shutdown")
    assert task["state"] == "success" and task["try_number"] == 2
    driver_id = task["xcom"]["driver_id"]
    assert f"worker_shutdown): job {driver_id} left running" in resumed.output
    assert f"reattached to job {driver_id}" in resumed.output
    assert sandbox.jobs("shutdown").log("cancels") == []
    assert drivers[driver_id]["state"] == "FINISHED"


def test_an_execution_timeout_kills_the_driver(spark_chain: SparkChain) -> None:
    sandbox, steps, drivers = spark_chain.sandbox, spark_chain.steps, spark_chain.drivers
    resumed = steps["resume"]
    assert resumed.task("timeout")["state"] == "failed"
    record = resumed.record("timeout")
    driver_id = record["job_id"]
    assert [c["job_id"] for c in sandbox.jobs("timeout").log("cancels")] == [driver_id]
    assert record["history"][-1]["outcome"] == "cancelled"
    assert drivers[driver_id]["state"] == "KILLED"


def test_a_user_clear_submits_a_new_driver(spark_chain: SparkChain) -> None:
    steps, drivers = spark_chain.steps, spark_chain.drivers
    cleared = steps["clear"]
    assert cleared.returncode == 0, cleared.output[-3000:]
    first = steps["resume"].task("reattach")["xcom"]["driver_id"]
    task = cleared.task("reattach")
    second = task["xcom"]["driver_id"]
    assert task["state"] == "success" and second != first
    assert f"resubmitted because fresh_run: job {second}" in cleared.output
    assert drivers[second]["state"] == "FINISHED"
    # Four drivers in all: one per task, plus the cleared task's new one.
    assert len(drivers) == 4
