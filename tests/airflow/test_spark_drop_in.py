"""The issue's "done when": a DAG written for the stock SparkSubmitOperator runs unchanged after the import change.

The DAG files below are written for apache-airflow-providers-apache-spark's operator, with
stock arguments only; the test first builds them with the stock operator (so they are
valid stock DAGs), then changes exactly the import line and runs them in real Airflow 3.3:

- standalone: the real Spark cluster (master and worker from pyspark);
- Kubernetes: the loopback API server and the real spark-submit pyspark ships, found on
  PATH as the stock hook finds it;
- YARN: the loopback ResourceManager; the ``spark-submit`` on PATH hands a YARN submission
  to the recorded launcher (tests/spark_yarn/fake_spark_submit.py), since the real one
  reaches YARN over Hadoop RPC.

Everything a deployment configures stays outside the DAG: the connections (with
``deploy-mode: cluster`` in their extra, as the stock hook reads it), PATH, HADOOP_CONF_DIR.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark
import pytest

from tests.airflow.conftest import RUN_TIMEOUT, AirflowSandbox, airflow_env
from tests.services.kubernetes_api import KubernetesApiServer, plan_from_driver_args
from tests.services.spark import DriverJar, SparkCluster
from tests.services.yarn_rm import YarnResourceManager
from tests.spark_kubernetes.conftest import IMAGE, TOKEN, write_kubeconfig
from tests.spark_yarn.conftest import ROOT, hadoop_conf_dir, write_wrapper

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]

STOCK_IMPORT = "from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator"
OUR_IMPORT = "from resumable_adapters.airflow import ResumableSparkSubmitOperator as SparkSubmitOperator"

HEADER = f"""\
from datetime import timedelta

from airflow.sdk import DAG
{STOCK_IMPORT}

"""

STOCK_DAG = HEADER + """\
with DAG("stock_spark", schedule=None, catchup=False) as dag:
    standalone = SparkSubmitOperator(
        task_id="standalone", conn_id="spark_standalone", application={jar!r}, java_class={main_class!r},
        application_args=["1", "0"], name="etl-standalone", driver_memory="256m", executor_cores=1,
        retries=1, retry_delay=timedelta(0),
    )
    yarn = SparkSubmitOperator(
        task_id="yarn", conn_id="spark_yarn", application="hdfs://nn:8020/jobs/etl.py",
        py_files="hdfs://nn:8020/jobs/deps.zip", application_args=["0.5", "0"], name="etl-yarn", yarn_queue="etl",
        num_executors=2, executor_memory="1g", conf={{"spark.sql.shuffle.partitions": "8"}},
        yarn_track_via_rm_api=True, retries=1, retry_delay=timedelta(0),
    )
    k8s = SparkSubmitOperator(
        task_id="k8s", conn_id="spark_k8s", application="local:///opt/spark/jobs/etl.jar", java_class="etl.Main",
        application_args=["0.5", "0"], name="etl-k8s", conf={{"spark.kubernetes.container.image": {image!r}}},
        driver_memory="512m", track_driver_via_k8s_api=True, retries=1, retry_delay=timedelta(0),
    )
    standalone >> yarn >> k8s
"""


def site_spark_submit(folder: Path) -> Path:
    """The ``spark-submit`` a worker finds on PATH: pyspark's, but a YARN submission is recorded.

    The real one would reach the ResourceManager over Hadoop RPC, which the loopback RM
    does not speak; every other master gets the real spark-submit unchanged.
    """
    folder.mkdir()
    recorded = write_wrapper(folder, "tests.spark_yarn.fake_spark_submit")
    os.rename(recorded, folder / "recorded-spark-submit")
    real = Path(pyspark.__file__).parent / "bin" / "spark-submit"  # finds its SPARK_HOME from where it lies
    path = folder / "spark-submit"
    path.write_text(f"""#!/bin/sh
case " $* " in
  *" --master yarn "*) exec "{folder / 'recorded-spark-submit'}" "$@" ;;
esac
exec "{real}" "$@"
""")
    path.chmod(0o755)
    return folder


def resumable(stock: str) -> str:
    """The two-line change: the import (the class keeps its name in the DAG)."""
    changed = stock.replace(STOCK_IMPORT, OUR_IMPORT)
    diff = [line for line in difflib.unified_diff(stock.splitlines(), changed.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert diff == [f"-{STOCK_IMPORT}", f"+{OUR_IMPORT}"], diff
    return changed


def build_with_the_stock_operator(sandbox: AirflowSandbox, source: str) -> None:
    """The DAG is a valid stock DAG: built (every operator constructed) with the stock operator."""
    code = f"exec(compile({source!r}, 'stock_dag', 'exec'), {{}})"
    proc = subprocess.run([sys.executable, "-c", code], env=airflow_env(sandbox.home, sandbox.extra_env),
                          cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[KubernetesApiServer, YarnResourceManager]]:
    kube_api = KubernetesApiServer(token=TOKEN, plan_for=plan_from_driver_args).start()
    rm = YarnResourceManager().start()
    try:
        yield kube_api, rm
    finally:
        kube_api.stop()
        rm.stop()


@pytest.fixture(scope="module")
def runs(new_sandbox: Any, spark_cluster: SparkCluster, spark_driver_jar: DriverJar,
         loopback: tuple[KubernetesApiServer, YarnResourceManager],
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    kube_api, rm = loopback
    sandbox: AirflowSandbox = new_sandbox("stock_spark")
    work = tmp_path_factory.mktemp("stock-spark")
    spark_conf = work / "spark-conf"  # empty: no spark-defaults.conf of this machine leaks in
    spark_conf.mkdir()
    site_bin = site_spark_submit(work / "site-bin")
    sandbox.extra_env.update({
        "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONF_DIR": str(spark_conf),
        "HADOOP_CONF_DIR": str(hadoop_conf_dir(work / "hadoop-conf", rm)),
        "PATH": f"{site_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_CONN_SPARK_STANDALONE": json.dumps({
            "conn_type": "spark", "host": "spark://127.0.0.1", "port": spark_cluster.master_port,
            "extra": {"deploy-mode": "cluster", "rest_url": spark_cluster.rest_url,
                      "web_ui_url": spark_cluster.web_ui_url},
        }),
        "AIRFLOW_CONN_SPARK_K8S": json.dumps({
            "conn_type": "spark", "host": f"k8s://{kube_api.url}",
            "extra": {"deploy-mode": "cluster", "kubeconfig": str(write_kubeconfig(work / "kubeconfig", kube_api.url))},
        }),
        "AIRFLOW_CONN_SPARK_YARN": json.dumps({
            "conn_type": "spark", "host": "yarn",
            "extra": {"deploy-mode": "cluster", "yarn_resourcemanager_webapp_address": rm.url},
        }),
    })
    drivers_before = spark_cluster.driver_ids()

    stock = STOCK_DAG.format(jar=spark_driver_jar.app_resource, main_class=spark_driver_jar.main_class, image=IMAGE)
    build_with_the_stock_operator(sandbox, stock)
    (sandbox.dags / "stock_spark.py").write_text(resumable(stock))
    results: dict[str, Any] = {"run": sandbox.run("stock_spark")}
    results["drivers"] = {d["id"]: d for d in spark_cluster.drivers() if d["id"] not in drivers_before}
    results["kube_api"], results["rm"] = kube_api, rm
    return results


def test_standalone_runs_unchanged(runs: dict[str, Any]) -> None:
    task = runs["run"].task("standalone")
    assert task["state"] == "success" and task["try_number"] == 1, runs["run"].output[-4000:]
    [(driver_id, driver)] = runs["drivers"].items()  # one driver: no second submission
    assert driver["state"] == "FINISHED"
    assert runs["run"].record("standalone")["job_id"] == driver_id


def test_kubernetes_runs_unchanged_with_the_real_spark_submit(runs: dict[str, Any]) -> None:
    task = runs["run"].task("k8s")
    assert task["state"] == "success" and task["try_number"] == 1, runs["run"].output[-4000:]
    kube_api: KubernetesApiServer = runs["kube_api"]
    [pod_name] = kube_api.pod_names()
    pod = kube_api.pod(pod_name)
    assert pod is not None and pod["status"]["phase"] == "Succeeded" and kube_api.pods_created() == 1
    assert runs["run"].record("k8s")["job_id"] == f"default/{pod_name}/{pod['metadata']['uid']}"


def test_yarn_runs_unchanged(runs: dict[str, Any]) -> None:
    result = runs["run"]
    task = result.task("yarn")
    assert task["state"] == "success" and task["try_number"] == 1, result.output[-4000:]
    rm: YarnResourceManager = runs["rm"]
    [app_id] = rm.apps
    app = rm.app(app_id)
    assert app is not None and (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED")
    assert app["queue"] == "etl" and app["name"] == "etl-yarn"  # the stock arguments reached the launch
    assert result.record("yarn")["job_id"] == app_id
