"""ResumableKubernetesPodOperator in real Airflow 3.3: a crash, a worker shutdown, a user's mark-failed.

No Kubernetes cluster runs here: the loopback API server (tests/services/kubernetes_api.py)
plays it, in this process; the DAG runs in child processes (tests/airflow/harness.py) and
reaches it through the ``kubernetes_default`` connection (a kubeconfig with a bearer
token). The DAG is written as for KubernetesPodOperator. One DAG, two processes:

    start:   worker_shutdown gets a SIGTERM while its task instance still runs: the pod is
             left running and the retry (same process) reattaches to it;
             marked_failed: a user marks it failed while it runs: the pod is deleted, with
             the uid as precondition; timed_out: its execution_timeout deletes it the same way;
             crash: the process dies hard at its first status query
    resume:  crash's retry reattaches to the SAME pod and returns its XCom

The pods never move by themselves ("hold"); the test's Finisher ends each one once the try
it waits for has seen it running, so no outcome depends on how long a process takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.airflow.clusterkit import ASKED_LOG
from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.airflow.filejob import CRASH_EXIT_CODE
from tests.airflow.finisher import Finisher
from tests.airflow.test_spark_cluster_managers_in_airflow import (
    KubernetesView,
    RecordingKubernetesApi,
    finish_when_asked,
)
from tests.spark_kubernetes.conftest import write_kubeconfig

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "pod_scenarios"
TOKEN = "kpo-airflow-bearer-0123456789abcdef"
IMAGE = "registry.example/etl:1.4"
DAG = """
DAG_ID = {dag_id!r}
common = dict(jobs=JOBS, image={image!r}, cmds=["/bin/etl"], arguments=["hold"])
shutdown = ClusterPodOperator(task_id="k8s_worker_shutdown", name="worker-shutdown", on_finish_action="keep_pod",
                              retries=1, retry_delay=timedelta(0), **common)
marked = ClusterPodOperator(task_id="k8s_marked_failed", name="marked-failed",
                            hook=set_state_then_sigterm(DAG_ID, "failed"), **common)
timed_out = ClusterPodOperator(task_id="k8s_timed_out", name="timed-out", execution_timeout=timedelta(seconds=300),
                               hook=time_out_now(), **common)
crash = ClusterPodOperator(task_id="k8s_crash", name="crash", do_xcom_push=True, retries=1,
                           retry_delay=timedelta(0), trigger_rule="all_done", **common)
[shutdown, marked, timed_out] >> crash
"""


@dataclass
class Scenarios:
    sandbox: AirflowSandbox
    steps: dict[str, DagRunResult]
    view: KubernetesView
    kube_api: RecordingKubernetesApi
    finished: list[str]


@pytest.fixture(scope="module")
def kube_api() -> Iterator[RecordingKubernetesApi]:
    server = RecordingKubernetesApi(token=TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def scenarios(new_sandbox: Any, kube_api: RecordingKubernetesApi,
              tmp_path_factory: pytest.TempPathFactory) -> Scenarios:
    sandbox: AirflowSandbox = new_sandbox(DAG_ID)
    work = tmp_path_factory.mktemp(DAG_ID)
    sandbox.extra_env["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps({
        "conn_type": "kubernetes",
        "extra": {"kube_config_path": str(write_kubeconfig(work / "kubeconfig", kube_api.url, TOKEN))},
    })
    sandbox.write_dag(DAG_ID, DAG.format(dag_id=DAG_ID, image=IMAGE),
                      imports="from tests.airflow.podkit import ClusterPodOperator")
    sandbox.jobs("k8s_worker_shutdown").arm("sigterm")  # SIGTERM while the task instance runs
    sandbox.jobs("k8s_marked_failed").arm("hook")
    sandbox.jobs("k8s_timed_out").arm("hook")  # the timeout falls due once the pod is asked
    sandbox.jobs("k8s_crash").arm("crash")
    view = KubernetesView(kube_api)
    with Finisher(sandbox, {"k8s_worker_shutdown": view}, {"k8s_worker_shutdown": 2}, asked_log=ASKED_LOG) as finisher:
        steps = {"start": sandbox.run(DAG_ID)}
    crashed = [job_id.split("/")[1] for job_id in view.submitted("crash")]
    assert len(crashed) == 1, steps["start"].output[-6000:]
    [crash_pod] = crashed

    def finish_with_xcom() -> None:
        kube_api.write_termination_message(crash_pod, json.dumps({"rows": 12}))
        kube_api.set_phase(crash_pod, "Succeeded", 0)

    finish_when_asked(kube_api.requests, f"/api/v1/namespaces/default/pods/{crash_pod}", finish_with_xcom)
    steps["resume"] = sandbox.run(DAG_ID, "resume")
    return Scenarios(sandbox, steps, view, kube_api, finisher.finished)


def test_a_retry_after_a_hard_crash_reattaches_to_the_same_pod(scenarios: Scenarios) -> None:
    start, resumed = scenarios.steps["start"], scenarios.steps["resume"]
    assert start.returncode == CRASH_EXIT_CODE, start.output[-3000:]
    task = resumed.task("k8s_crash")
    assert task["state"] == "success" and task["try_number"] == 2, resumed.output[-3000:]
    [job_id] = scenarios.view.submitted("crash")  # one pod created in all
    assert f"reattached to job {job_id}" in resumed.output
    assert task["xcom"] == {"rows": 12}  # the container's return.json, from its termination message
    record = resumed.record("k8s_crash")
    assert [h["job_id"] for h in record["history"]] == [job_id]
    assert record["result"]["termination_message"] == '{"rows": 12}'
    # on_finish_action="delete_pod" once the success was recorded: with the uid precondition.
    deletes = scenarios.view.kills(job_id)
    assert len(deletes) == 1 and deletes[0].body["preconditions"] == {"uid": job_id.split("/")[2]}


def test_a_worker_shutdown_leaves_the_pod_running_for_the_retry(scenarios: Scenarios) -> None:
    # The start process died in crash's first try: its log is the start's, the run's report the resume's.
    log, report, view = scenarios.steps["start"].output, scenarios.steps["resume"], scenarios.view
    task = report.task("k8s_worker_shutdown")
    assert task["state"] == "success" and task["try_number"] == 2, log[-3000:]
    [job_id] = view.submitted("worker-shutdown")  # the retry created nothing
    assert f"worker_shutdown): job {job_id} left running" in log
    assert f"reattached to job {job_id}" in log
    assert view.kills(job_id) == []  # never deleted: on_kill by cause, and keep_pod after success
    assert job_id in scenarios.finished and view.state(job_id) == view.SUCCEEDED
    assert [h["job_id"] for h in report.record("k8s_worker_shutdown")["history"]] == [job_id]


def test_a_user_marking_the_task_failed_deletes_the_pod(scenarios: Scenarios) -> None:
    log, report, view = scenarios.steps["start"].output, scenarios.steps["resume"], scenarios.view
    assert report.task("k8s_marked_failed")["state"] == "failed"
    [job_id] = view.submitted("marked-failed")
    assert f"task instance 'failed'): job {job_id} cancelled" in log
    view.assert_killed(job_id)  # a DELETE with the uid precondition, answered while the pod still ran
    assert report.record("k8s_marked_failed")["phase"] == "cancelled"


def test_an_execution_timeout_deletes_the_pod_and_a_retry_would_run_again(scenarios: Scenarios) -> None:
    report, view = scenarios.steps["resume"], scenarios.view
    assert report.task("k8s_timed_out")["state"] == "failed"
    [job_id] = view.submitted("timed-out")
    view.assert_killed(job_id)
    record = report.record("k8s_timed_out")
    # Left FAILED, not CANCELLED: a retry after a timeout runs the work again.
    assert record["job_id"] == job_id and record["phase"] == "failed"
    assert record["history"][-1]["outcome"] == "cancelled"


def test_the_pods_are_the_stock_operators_and_no_credential_is_logged(scenarios: Scenarios) -> None:
    created = [e.body for e in scenarios.kube_api.exchanges if e.method == "POST" and e.code == 201]
    assert len(created) == 4
    for pod in created:
        labels = pod["metadata"]["labels"]
        assert labels["dag_id"] == DAG_ID and labels["kubernetes_pod_operator"] == "True"
        assert pod["spec"]["containers"][0]["name"] == "base" and pod["spec"]["containers"][0]["image"] == IMAGE
    for step in scenarios.steps.values():
        assert TOKEN not in step.output
