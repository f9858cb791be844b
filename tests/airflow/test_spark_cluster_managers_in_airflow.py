"""ResumableSparkSubmitOperator in real Airflow 3.3 on YARN and on Kubernetes: a crash, then the retry reattaches.

No YARN or Kubernetes cluster runs here. Kubernetes: the loopback API server
(tests/services/kubernetes_api.py) and the REAL spark-submit pyspark ships, which
creates the driver pod through it. YARN: the loopback ResourceManager
(tests/services/yarn_rm.py) and the recorded launcher (tests/spark_yarn/fake_spark_submit.py,
given as the operator's ``spark_binary``), since spark-submit reaches a real
ResourceManager over Hadoop RPC. The DAGs are written as for SparkSubmitOperator: the
connection names the cluster manager, the arguments are the stock ones.

One DAG, ``k8s >> yarn``, three child processes:

    start:   k8s submits its driver pod, then the process dies hard at the first status query
    resume:  k8s's retry reattaches to the SAME pod and returns its result; yarn submits its
             application, then the process dies the same way
    resume:  yarn's retry reattaches to the SAME application

The pods and applications stay active until the retry has asked their status (a thread
here finishes them then), so the reattach never depends on how long a process takes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.airflow.filejob import CRASH_EXIT_CODE
from tests.services.kubernetes_api import KubernetesApiServer
from tests.services.yarn_rm import YarnResourceManager
from tests.spark_kubernetes.conftest import IMAGE, TOKEN, write_kubeconfig
from tests.spark_yarn.conftest import hadoop_conf_dir, write_wrapper

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]

# "hold": no numeric trailing arguments, so neither loopback server moves the job by itself.
CHAIN = """
common = dict(jobs=JOBS, java_class="etl.Main", application_args=["hold"], deploy_mode="cluster",
              retries=1, retry_delay=timedelta(0))
k8s = TriggeredSparkSubmitOperator(
    task_id="k8s", conn_id="spark_k8s", name="etl-k8s", application="local:///opt/spark/jobs/etl.jar",
    conf={{"spark.kubernetes.container.image": {image!r}}}, **common,
)
yarn = TriggeredSparkSubmitOperator(
    task_id="yarn", conn_id="spark_yarn", name="etl-yarn", application="hdfs:///jobs/etl.jar",
    yarn_queue="prod", spark_binary={launcher!r}, env_vars={{"HADOOP_CONF_DIR": {hadoop_conf!r}}},
    yarn_track_via_rm_api=True, post_submit_commands=["touch {marker}"], **common,
)
k8s >> yarn
"""


def finish_when_asked(requests: list[Any], path: str, finish: Callable[[], None]) -> threading.Thread:
    """Calls *finish* once a new GET of *path* shows up in a loopback server's request log."""
    seen = len(requests)

    def watch() -> None:
        deadline = time.monotonic() + 170  # below the harness's child timeout: a hang fails the test
        while time.monotonic() < deadline:
            if any(r[0] == "GET" and r[1] == path for r in requests[seen:]):
                finish()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@dataclass
class Chain:
    sandbox: AirflowSandbox
    steps: dict[str, DagRunResult]
    kube_api: KubernetesApiServer
    rm: YarnResourceManager
    marker: Path


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[KubernetesApiServer, YarnResourceManager]]:
    kube_api = KubernetesApiServer(token=TOKEN).start()
    rm = YarnResourceManager().start()
    try:
        yield kube_api, rm
    finally:
        kube_api.stop()
        rm.stop()


@pytest.fixture(scope="module")
def chain(new_sandbox: Any, servers: tuple[KubernetesApiServer, YarnResourceManager],
          tmp_path_factory: pytest.TempPathFactory) -> Chain:
    kube_api, rm = servers
    sandbox: AirflowSandbox = new_sandbox("cluster_managers")
    work = tmp_path_factory.mktemp("cluster-managers")
    spark_conf = work / "spark-conf"  # empty: no spark-defaults.conf of this machine leaks in
    spark_conf.mkdir()
    marker = work / "post-submit-ran"
    sandbox.extra_env.update({
        "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONF_DIR": str(spark_conf),
        "AIRFLOW_CONN_SPARK_K8S": json.dumps({
            "conn_type": "spark", "host": f"k8s://{kube_api.url}",
            "extra": {"kubeconfig": str(write_kubeconfig(work / "kubeconfig", kube_api.url))},
        }),
        "AIRFLOW_CONN_SPARK_YARN": json.dumps({
            "conn_type": "spark", "host": "yarn", "extra": {"yarn_resourcemanager_webapp_address": rm.url},
        }),
    })
    sandbox.write_dag("cluster_managers", CHAIN.format(
        image=IMAGE, launcher=write_wrapper(work, "tests.spark_yarn.fake_spark_submit"),
        hadoop_conf=str(hadoop_conf_dir(work / "hadoop-conf", rm)), marker=marker,
    ))
    sandbox.jobs("k8s").arm("crash")
    sandbox.jobs("yarn").arm("crash")
    steps = {"start": sandbox.run("cluster_managers")}

    [pod] = kube_api.pod_names()
    finish_when_asked(kube_api.requests, f"/api/v1/namespaces/default/pods/{pod}",
                      lambda: kube_api.set_phase(pod, "Succeeded", 0))
    steps["resume"] = sandbox.run("cluster_managers", "resume")

    [app_id] = rm.apps
    finish_when_asked(rm.requests, f"/ws/v1/cluster/apps/{app_id}",
                      lambda: rm.set_state(app_id, "FINISHED", "SUCCEEDED"))
    steps["resume-yarn"] = sandbox.run("cluster_managers", "resume")
    return Chain(sandbox, steps, kube_api, rm, marker)


def test_kubernetes_a_retry_after_a_hard_crash_reattaches_to_the_same_driver_pod(chain: Chain) -> None:
    assert chain.steps["start"].returncode == CRASH_EXIT_CODE, chain.steps["start"].output[-3000:]
    resumed = chain.steps["resume"]  # the retry's own log; that process then dies in yarn's crash
    task = chain.steps["resume-yarn"].task("k8s")  # the run's final report
    assert task["state"] == "success" and task["try_number"] == 2, resumed.output[-3000:]
    [pod] = chain.kube_api.pod_names()
    uid = chain.kube_api.pod(pod)["metadata"]["uid"]  # type: ignore[index]
    job_id = f"default/{pod}/{uid}"
    assert task["xcom"]["phase"] == "Succeeded" and task["xcom"]["uid"] == uid
    assert f"reattached to job {job_id}" in resumed.output
    assert [h["job_id"] for h in chain.steps["resume-yarn"].record("k8s")["history"]] == [job_id]
    # One pod created in all, by the real spark-submit, with the connection's credentials.
    assert [m for m, p in chain.kube_api.requests if p.endswith("/pods")].count("POST") == 1
    assert pod.startswith("etl-k8s-")


def test_yarn_a_retry_after_a_hard_crash_reattaches_to_the_same_application(chain: Chain) -> None:
    crashed = chain.steps["resume"]
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.output[-3000:]
    resumed = chain.steps["resume-yarn"]
    assert resumed.returncode == 0, resumed.output[-3000:]
    task = resumed.task("yarn")
    assert task["state"] == "success" and task["try_number"] == 2, resumed.output[-3000:]
    [app_id] = chain.rm.apps
    assert task["xcom"]["application_id"] == app_id and task["xcom"]["final_status"] == "SUCCEEDED"
    assert task["xcom"]["queue"] == "prod"  # yarn_queue reached the submission
    assert f"reattached to job {app_id}" in resumed.output
    assert [h["job_id"] for h in resumed.record("yarn")["history"]] == [app_id]
    assert chain.marker.exists()  # post_submit_commands ran once the application ended


def test_no_credential_in_the_task_logs(chain: Chain) -> None:
    for step in chain.steps.values():
        assert TOKEN not in step.output
