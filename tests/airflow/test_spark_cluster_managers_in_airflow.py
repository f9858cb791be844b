"""ResumableSparkSubmitOperator in real Airflow 3.3 on YARN and on Kubernetes: crash, clear, every kill cause.

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

Then every way a running task is stopped, and a user's clear, for both cluster managers
(``yarn_*`` and ``k8s_*`` tasks of one DAG, two child processes), by the mechanisms
test_operator_in_airflow.py uses for the file-backed fake; each outcome is read from the
loopback server's own record of what it was asked and what it answered:

    start:  worker_shutdown gets a SIGTERM while its task instance still runs: the
            application / pod is left running and the retry reattaches to it;
            timed_out hits its execution_timeout: the application is killed (PUT
            .../state KILLED) / the pod deleted (DELETE with the uid precondition);
            marked_failed: a user marks it failed while it runs: cancelled the same way;
            cleared_running: a user clears it while it runs: cancelled, and the rerun
            submits a new one; rerun simply succeeds
    clear:  a user clears rerun: a new application / pod is submitted

Jobs are held ("hold" arguments) and ended by a thread once the try a scenario waits for has
seen them running (``Finisher``, tests/airflow/finisher.py); the RM completes a kill 1 s after
accepting it, as a real one takes a while. These use the recorded Kubernetes launcher (tests/spark_kubernetes/fake_spark_submit.py):
each real spark-submit is a JVM start of several seconds here, and the chain above
already submits through the real one.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.spark._kubernetes import POD_PHASES_ACTIVE, pod_phase
from tests.airflow.clusterkit import ASKED_LOG
from tests.airflow.conftest import AirflowSandbox, DagRunResult
from tests.airflow.filejob import CRASH_EXIT_CODE
from tests.airflow.finisher import Finisher
from tests.services.kubernetes_api import KubernetesApiServer
from tests.services.loopback import Answer
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


@dataclass(frozen=True)
class Exchange:
    """One request a loopback server answered: what it was asked and what it said."""

    method: str
    path: str
    body: Any  # the request's JSON, None when it had none
    code: int
    payload: Any  # the answer's JSON, as it was when sent


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


class RecordingKubernetesApi(KubernetesApiServer):
    """The loopback API server, keeping request bodies and answers (its own log has method and path only).

    A DELETE's body carries the uid precondition, and a POST's answer the uid the pod got.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.exchanges: list[Exchange] = []
        super().__init__(**kwargs)

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        code, payload, extra = super().serve_request(method, path, query, body, headers)
        # A copy: the payload is the stored object, which later requests change.
        self.exchanges.append(Exchange(method, path, _json(body), code, json.loads(json.dumps(payload))))
        return code, payload, extra


class RecordingResourceManager(YarnResourceManager):
    """The loopback RM, keeping request bodies and answers: a kill is a PUT whose body names KILLED."""

    def __init__(self, **kwargs: Any) -> None:
        self.exchanges: list[Exchange] = []
        super().__init__(**kwargs)

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        code, payload, extra = super().serve_request(method, path, query, body, headers)
        self.exchanges.append(Exchange(method, path, _json(body), code, json.loads(json.dumps(payload))))
        return code, payload, extra


@contextlib.contextmanager
def running_servers(kill_delay: float = 0.3) -> Iterator[tuple[RecordingKubernetesApi, RecordingResourceManager]]:
    kube_api, rm = RecordingKubernetesApi(token=TOKEN), RecordingResourceManager(kill_delay=kill_delay)
    kube_api.start()
    rm.start()
    try:
        yield kube_api, rm
    finally:
        kube_api.stop()
        rm.stop()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RecordingKubernetesApi, RecordingResourceManager]]:
    with running_servers() as both:
        yield both


def connect(sandbox: AirflowSandbox, work: Path, kube_api: KubernetesApiServer, rm: YarnResourceManager) -> None:
    """The two Spark connections, as a deployment would define them, in the sandbox's environment."""
    spark_conf = work / "spark-conf"  # empty: no spark-defaults.conf of this machine leaks in
    spark_conf.mkdir()
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


@pytest.fixture(scope="module")
def chain(new_sandbox: Any, servers: tuple[KubernetesApiServer, YarnResourceManager],
          tmp_path_factory: pytest.TempPathFactory) -> Chain:
    kube_api, rm = servers
    sandbox: AirflowSandbox = new_sandbox("cluster_managers")
    work = tmp_path_factory.mktemp("cluster-managers")
    marker = work / "post-submit-ran"
    connect(sandbox, work, kube_api, rm)
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




# --- every way a running task is stopped, and a user's clear, on both cluster managers --------

DAG_ID = "cluster_scenarios"
MANAGERS = ("yarn", "k8s")
KILL_DELAY = 1.0  # seconds from the RM's 202 to KILLED

# "hold": the loopback servers never move these jobs by themselves; the Finisher below ends
# the ones a scenario needs ended, and only once the try it waits for has asked.
SCENARIOS = """
DAG_ID = {dag_id!r}
by_manager = dict(
    yarn=dict(conn_id="spark_yarn", application="hdfs:///jobs/etl.jar", spark_binary={yarn_launcher!r},
              env_vars={{"HADOOP_CONF_DIR": {hadoop_conf!r}}}, yarn_track_via_rm_api=True),
    k8s=dict(conn_id="spark_k8s", application="local:///opt/spark/jobs/etl.jar", spark_binary={k8s_launcher!r},
             conf={{"spark.kubernetes.container.image": {image!r}}}),
)
retry = dict(retries=1, retry_delay=timedelta(0))
for manager, arguments in by_manager.items():
    common = dict(jobs=JOBS, java_class="etl.Main", application_args=["hold"], deploy_mode="cluster", **arguments)
    ClusterSparkOperator(task_id=f"{{manager}}_rerun", name=f"{{manager}}-rerun", **common)
    ClusterSparkOperator(task_id=f"{{manager}}_worker_shutdown", name=f"{{manager}}-worker-shutdown", **common, **retry)
    ClusterSparkOperator(task_id=f"{{manager}}_timed_out", name=f"{{manager}}-timed-out",
                         execution_timeout=timedelta(seconds=300), hook=time_out_now(), **common)
    ClusterSparkOperator(task_id=f"{{manager}}_marked_failed", name=f"{{manager}}-marked-failed",
                         hook=set_state_then_sigterm(DAG_ID, "failed"), **common)
    ClusterSparkOperator(task_id=f"{{manager}}_cleared_running", name=f"{{manager}}-cleared-running",
                         hook=clear_then_sigterm(DAG_ID), **common, **retry)
"""


def app_name(manager: str, scenario: str) -> str:
    return f"{manager}-{scenario.replace('_', '-')}"


class YarnView:
    """What the loopback ResourceManager knows of the applications of one scenario."""

    ENDED = ("FINISHED", "FAILED", "KILLED")
    SUCCEEDED = "FINISHED/SUCCEEDED"

    def __init__(self, rm: RecordingResourceManager) -> None:
        self.rm = rm

    def submitted(self, name: str) -> list[str]:
        """The applications registered under *name*, oldest first (YARN numbers them in order)."""
        return sorted(app_id for app_id in list(self.rm.apps) if (self.rm.app(app_id) or {}).get("name") == name)

    def active(self, job_id: str) -> bool:
        app = self.rm.app(job_id)
        # A kill in progress (202 answered, KILLED not reached yet) counts as ended here.
        return app is not None and app["state"] not in self.ENDED and self.rm.apps[job_id].kill_at is None

    def finish(self, job_id: str) -> None:
        self.rm.set_state(job_id, "FINISHED", "SUCCEEDED")

    def ended(self, status: str) -> bool:
        """Whether a status the adapter reported (``STATE/FINAL``) is an end."""
        return status.split("/")[0] in self.ENDED

    def state(self, job_id: str) -> str:
        app = self.rm.app(job_id)
        return "gone" if app is None else f"{app['state']}/{app['finalStatus']}"

    def kills(self, job_id: str) -> list[Exchange]:
        return [e for e in self.rm.exchanges if e.path == f"/ws/v1/cluster/apps/{job_id}/state"]

    def assert_killed(self, job_id: str) -> None:
        kills = self.kills(job_id)
        assert kills and all(e.method == "PUT" and e.body == {"state": "KILLED"} for e in kills), kills
        assert kills[0].code == 202  # accepted while the application was still running
        assert self.state(job_id) == "KILLED/KILLED"


class KubernetesView:
    """What the loopback API server knows of the driver pods of one scenario."""

    SUCCEEDED = "Succeeded"

    def __init__(self, kube_api: RecordingKubernetesApi) -> None:
        self.kube_api = kube_api

    def submitted(self, name: str) -> list[str]:
        """The driver pods created for *name* (``<name>-<slug>``), as job ids, in creation order."""
        created = [e.payload["metadata"] for e in list(self.kube_api.exchanges)
                   if e.method == "POST" and e.path.endswith("/pods") and e.code == 201]
        return [f"{m['namespace']}/{m['name']}/{m['uid']}" for m in created if m["name"].startswith(f"{name}-")]

    def _pod(self, job_id: str) -> dict[str, Any] | None:
        _, name, uid = job_id.split("/")
        pod = self.kube_api.pod(name)
        return pod if pod is not None and pod["metadata"]["uid"] == uid else None

    def active(self, job_id: str) -> bool:
        pod = self._pod(job_id)
        return (pod is not None and "deletionTimestamp" not in pod["metadata"]
                and pod["status"]["phase"] in ("Pending", "Running"))

    def finish(self, job_id: str) -> None:
        self.kube_api.set_phase(job_id.split("/")[1], "Succeeded", 0)

    def ended(self, status: str) -> bool:
        """Whether a status the adapter reported (a phase, "Failed (exit code N)", "Terminating") is an end."""
        return pod_phase(status) not in POD_PHASES_ACTIVE

    def state(self, job_id: str) -> str:
        pod = self._pod(job_id)
        return "gone" if pod is None else str(pod["status"]["phase"])

    def kills(self, job_id: str) -> list[Exchange]:
        namespace, name, _ = job_id.split("/")
        return [e for e in self.kube_api.exchanges
                if e.method == "DELETE" and e.path == f"/api/v1/namespaces/{namespace}/pods/{name}"]

    def assert_killed(self, job_id: str) -> None:
        uid = job_id.split("/")[2]
        kills = self.kills(job_id)
        # Deleted as the recorded pod only: a pod recreated under the name would answer 409.
        assert kills and all(e.body["preconditions"] == {"uid": uid} and e.code == 200 for e in kills), kills
        first = kills[0].payload  # the server's answer: the pod, now terminating (its phase unchanged)
        assert "deletionTimestamp" in first["metadata"] and first["status"]["phase"] in ("Pending", "Running")


View = YarnView | KubernetesView  # each is HeldJobs to the Finisher; the tests read the rest they know


@dataclass
class Scenarios:
    sandbox: AirflowSandbox
    steps: dict[str, DagRunResult]
    views: dict[str, View]
    finished: list[str]  # the jobs the Finisher ended, in order


@pytest.fixture(scope="module")
def scenario_servers() -> Iterator[tuple[RecordingKubernetesApi, RecordingResourceManager]]:
    """Servers of their own: the chain's tests count every pod and application on theirs.

    The RM completes a kill 1 s after accepting it (202), as a real one takes a while to
    stop the application master: a try that only sent the kill leaves an application that
    still reads ACCEPTED/RUNNING to whoever asks next.
    """
    with running_servers(kill_delay=KILL_DELAY) as both:
        yield both


@pytest.fixture(scope="module")
def scenarios(new_sandbox: Any, scenario_servers: tuple[RecordingKubernetesApi, RecordingResourceManager],
              tmp_path_factory: pytest.TempPathFactory) -> Scenarios:
    kube_api, rm = scenario_servers
    sandbox: AirflowSandbox = new_sandbox(DAG_ID)
    work = tmp_path_factory.mktemp(DAG_ID)
    connect(sandbox, work, kube_api, rm)
    (work / "yarn").mkdir()
    (work / "k8s").mkdir()
    sandbox.write_dag(DAG_ID, SCENARIOS.format(
        dag_id=DAG_ID, image=IMAGE, hadoop_conf=str(hadoop_conf_dir(work / "hadoop-conf", rm)),
        yarn_launcher=write_wrapper(work / "yarn", "tests.spark_yarn.fake_spark_submit"),
        k8s_launcher=write_wrapper(work / "k8s", "tests.spark_kubernetes.fake_spark_submit"),
    ), imports="from tests.airflow.clusterkit import ClusterSparkOperator")
    views: dict[str, View] = {"yarn": YarnView(rm), "k8s": KubernetesView(kube_api)}
    from_try: dict[str, int] = {}
    for manager in MANAGERS:
        sandbox.jobs(f"{manager}_worker_shutdown").arm("sigterm")  # SIGTERM while the task instance runs
        sandbox.jobs(f"{manager}_marked_failed").arm("hook")
        sandbox.jobs(f"{manager}_timed_out").arm("hook")  # the timeout falls due once the app is asked
        sandbox.jobs(f"{manager}_cleared_running").arm("hook")
        from_try.update({f"{manager}_rerun": 1, f"{manager}_worker_shutdown": 2, f"{manager}_cleared_running": 2})
    held = {task_id: views[task_id.split("_", 1)[0]] for task_id in from_try}
    with Finisher(sandbox, held, from_try, asked_log=ASKED_LOG) as finisher:
        steps = {"start": sandbox.run(DAG_ID)}
        assert steps["start"].report is not None, steps["start"].output[-4000:]
        steps["clear"] = sandbox.run(DAG_ID, "clear", tasks=[f"{m}_rerun" for m in MANAGERS])
    return Scenarios(sandbox, steps, views, finisher.finished)


by_manager = pytest.mark.parametrize("manager", MANAGERS)


@by_manager
def test_a_user_clear_after_success_submits_a_new_application(scenarios: Scenarios, manager: str) -> None:
    view, task_id = scenarios.views[manager], f"{manager}_rerun"
    before, cleared = scenarios.steps["start"], scenarios.steps["clear"]
    assert cleared.returncode == 0, cleared.output[-3000:]
    first = before.record(task_id)["job_id"]
    assert before.task(task_id)["state"] == "success"
    task = cleared.task(task_id)
    second = cleared.record(task_id)["job_id"]
    assert task["state"] == "success" and second != first
    assert f"resubmitted because fresh_run: job {second}" in cleared.output
    assert [h["job_id"] for h in cleared.record(task_id)["history"]] == [first, second]
    assert view.submitted(app_name(manager, "rerun")) == [first, second]
    assert view.state(first) == view.state(second) == view.SUCCEEDED


@by_manager
def test_a_worker_shutdown_leaves_the_application_running_for_the_retry(scenarios: Scenarios, manager: str) -> None:
    view, task_id, result = scenarios.views[manager], f"{manager}_worker_shutdown", scenarios.steps["start"]
    task = result.task(task_id)
    assert task["state"] == "success" and task["try_number"] == 2, result.output[-3000:]
    [job_id] = view.submitted(app_name(manager, "worker_shutdown"))  # the retry submitted nothing
    assert f"worker_shutdown): job {job_id} left running" in result.output
    assert f"reattached to job {job_id}" in result.output
    assert view.kills(job_id) == []
    # Still running when the retry asked (the Finisher ends only an active job), then its own end.
    assert job_id in scenarios.finished and view.state(job_id) == view.SUCCEEDED
    assert [h["job_id"] for h in result.record(task_id)["history"]] == [job_id]


@by_manager
def test_an_execution_timeout_kills_the_application(scenarios: Scenarios, manager: str) -> None:
    view, task_id, result = scenarios.views[manager], f"{manager}_timed_out", scenarios.steps["start"]
    assert result.task(task_id)["state"] == "failed"
    record = result.record(task_id)
    [job_id] = view.submitted(app_name(manager, "timed_out"))
    assert record["job_id"] == job_id
    view.assert_killed(job_id)
    # Left FAILED, not CANCELLED: a retry after a timeout runs the work again.
    assert record["phase"] == "failed" and record["history"][-1]["outcome"] == "cancelled"


@by_manager
def test_a_user_marking_the_task_failed_cancels_the_application(scenarios: Scenarios, manager: str) -> None:
    view, task_id, result = scenarios.views[manager], f"{manager}_marked_failed", scenarios.steps["start"]
    assert result.task(task_id)["state"] == "failed"
    [job_id] = view.submitted(app_name(manager, "marked_failed"))
    assert f"task instance 'failed'): job {job_id} cancelled" in result.output
    view.assert_killed(job_id)
    # CANCELLED stays: only a later clear (a new generation) submits again.
    assert result.record(task_id)["phase"] == "cancelled"


@by_manager
def test_a_user_clearing_a_running_task_cancels_and_the_rerun_submits_afresh(scenarios: Scenarios,
                                                                             manager: str) -> None:
    """The clear a user makes of a running task: Airflow gives the task instance a new id, so the
    try cannot record the cancel, and the rerun decides from the job's own status.
    """
    view, task_id, result = scenarios.views[manager], f"{manager}_cleared_running", scenarios.steps["start"]
    first, second = view.submitted(app_name(manager, "cleared_running"))
    assert f"task stopped (user_clear, task instance 'restarting'): job {first} cancelled" in result.output
    assert "the task state store has no record for this try" in result.output  # the new-id path
    view.assert_killed(first)
    # Regression: the cancelling try watches the job until it reports the end (a YARN kill is
    # accepted with 202 and completes later). It used to return at once, and the rerun found
    # the application still ACCEPTED, reattached to it, saw it end KILLED and failed.
    seen = {(a["try"], view.ended(a["status"])) for a in scenarios.sandbox.jobs(task_id).log(ASKED_LOG)
            if a["job_id"] == first}
    assert (1, True) in seen and (2, False) not in seen, seen  # ended before the rerun's first look
    assert f"user_clear: job {first} ended after the cancel" in result.output
    assert f"reattached to job {first}" not in result.output
    task = result.task(task_id)
    assert task["state"] == "success" and task["try_number"] == 2, result.output[-3000:]
    assert result.record(task_id)["job_id"] == second
    assert [h["job_id"] for h in result.record(task_id)["history"]] == [first, second]
    assert view.kills(second) == [] and view.state(second) == view.SUCCEEDED


def test_no_credential_in_the_task_logs(chain: Chain, scenarios: Scenarios) -> None:
    for step in [*chain.steps.values(), *scenarios.steps.values()]:
        assert TOKEN not in step.output
