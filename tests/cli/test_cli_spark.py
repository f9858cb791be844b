"""``resumable spark-submit`` against the real Spark standalone cluster (Java)."""

from __future__ import annotations

import pytest

from resumable_adapters.cli import EXIT_JOB_FAILED
from tests.cli.conftest import Cli
from tests.services.spark import DriverJar, SparkCluster

pytestmark = pytest.mark.spark


def submit_args(cluster: SparkCluster, jar: DriverJar, key: str, code: int) -> list[str]:
    rest = cluster.rest_url.replace("http://", "spark://")  # as spark-submit users write it
    return [
        "spark-submit", "--json", "--key", key, "--master", rest, "--master-web-ui", cluster.web_ui_url,
        "--class", jar.main_class, "--driver-memory", "256m", "--name", "resumable-cli-test",
        jar.app_resource, "0.5", str(code),
    ]


def test_spark_submit_runs_a_driver_once_and_reuses_its_result(
    cli: Cli, spark_cluster: SparkCluster, spark_driver_jar: DriverJar
) -> None:
    args = submit_args(spark_cluster, spark_driver_jar, "spark-ok", 0)
    first = cli.run(*args, timeout=180)
    assert first.code == 0, first.stderr
    driver_id = first.events[-1]["result"]["driver_id"]
    assert first.events[0]["event"] == "submitted" and first.events[-1]["result"]["state"] == "FINISHED"
    again = cli.run(*args, timeout=180)
    assert again.code == 0 and again.event_names()[0] == "result_reused"
    assert driver_id in spark_cluster.driver_ids()
    status = cli.run("status", "--json", "spark-ok")
    assert status.events[0]["job_id"] == driver_id and status.events[0]["phase"] == "succeeded"


def test_spark_submit_reports_a_failed_driver_with_the_job_failed_exit(
    cli: Cli, spark_cluster: SparkCluster, spark_driver_jar: DriverJar
) -> None:
    failed = cli.run(*submit_args(spark_cluster, spark_driver_jar, "spark-bad", 3), timeout=180)
    assert failed.code == EXIT_JOB_FAILED
    assert failed.events[-1]["event"] == "error" and failed.events[-1]["status"] == "FAILED"
