"""Spark progress without a cluster: the counts read from the UI's JSON (pure), the standalone driver's
log lines, and YARN (the RM's web proxy) and Kubernetes (the API server's pod proxy) on loopback servers
faithful to those proxies (tests/services/yarn_rm.py, tests/services/kubernetes_api.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest

from resumable_adapters.kubernetes import KubernetesClient
from resumable_adapters.spark import (
    AsyncSparkRestClient,
    AsyncSparkRestJob,
    SparkClusterSubmission,
    SparkKubernetesJob,
    SparkRestClient,
    SparkRestJob,
    SparkSubmission,
    SparkYarnJob,
)
from resumable_adapters.spark._progress import LOG_SKIP_MAX, progress_from_ui, read_progress, standalone_ui
from resumable_adapters.yarn import YarnRestClient
from resumable_core import ProtocolError, TransientError
from resumable_core.progress import Count
from tests.services.kubernetes_api import KubernetesApiServer
from tests.services.loopback import Answer, LoopbackHttpServer
from tests.services.yarn_rm import YarnResourceManager


def job(job_id: int, status: str, tasks: tuple[int, int, int], stages: tuple[int, int, int],
        name: str = "count at Multi.java:22") -> dict[str, Any]:
    """A job as ``/api/v1/applications/<app>/jobs`` lists it: tasks (done, skipped, total), stages likewise."""
    return {"jobId": job_id, "name": name, "status": status, "stageIds": list(range(stages[2])),
            "numTasks": tasks[2], "numActiveTasks": 0, "numCompletedTasks": tasks[0], "numSkippedTasks": tasks[1],
            "numFailedTasks": 0, "numKilledTasks": 0, "numCompletedIndices": tasks[0], "numActiveStages": 0,
            "numCompletedStages": stages[0], "numSkippedStages": stages[1], "numFailedStages": 0}


STAGE = {"stageId": 2, "attemptId": 0, "name": "count at Multi.java:27", "status": "ACTIVE", "numTasks": 4,
         "numActiveTasks": 2, "numCompleteTasks": 1}
JOBS = [job(0, "SUCCEEDED", (8, 0, 8), (2, 0, 2)), job(1, "RUNNING", (1, 0, 4), (0, 0, 1))]


@pytest.mark.parametrize(
    ("jobs", "stages", "tasks", "stage_count", "label"),
    [
        (JOBS, [STAGE], Count("tasks", 9, 12), Count("stages", 2, 3), "stage 2: count at Multi.java:27 (1/4 tasks)"),
        # A job reusing a shuffle: its map stage skipped, counted in the total, never run.
        ([job(2, "SUCCEEDED", (4, 4, 8), (1, 1, 2))], [], Count("tasks", 4, 8, skipped=4),
         Count("stages", 1, 2, skipped=1), None),
        # Running, no stage active yet: the job's name says what runs.
        ([job(0, "RUNNING", (0, 0, 4), (0, 0, 2), name="collect at X.scala:9")], [], Count("tasks", 0, 4),
         Count("stages", 0, 2), "job: collect at X.scala:9"),
        # Retried tasks: numCompletedTasks can pass numTasks; each index counts once.
        ([{**job(0, "RUNNING", (4, 0, 4), (0, 0, 1)), "numCompletedTasks": 6}], [], Count("tasks", 4, 4),
         Count("stages", 0, 1), "job: count at Multi.java:22"),
        # Numbers a moment out of step never say more done than there is.
        ([{**job(0, "RUNNING", (9, 0, 4), (3, 0, 1))}], [], Count("tasks", 4, 4), Count("stages", 1, 1),
         "job: count at Multi.java:22"),
    ],
)
def test_counts_and_label_from_the_ui_json(jobs: list[Any], stages: list[Any], tasks: Count, stage_count: Count,
                                           label: str | None) -> None:
    progress = progress_from_ui(jobs, stages, "http://driver:4040/")
    assert progress is not None
    assert progress.counts == (tasks, stage_count)
    assert progress.label == label and progress.ui_url == "http://driver:4040/"


def test_no_job_yet_is_a_link_without_counts_and_garbage_is_an_error() -> None:
    empty = progress_from_ui([], [], "http://driver:4040/")
    assert empty is not None and empty.counts == () and empty.ui_url == "http://driver:4040/"
    assert progress_from_ui([], [], None) is None
    with pytest.raises(ProtocolError):
        progress_from_ui(["job"], [], None)
    answers = {"/api/v1/applications/app-1/jobs": (200, b"<html>proxy error</html>")}
    with pytest.raises(TransientError):
        read_progress(lambda path: answers[path], "app-1", None, job_id="d")
    with pytest.raises(TransientError):
        read_progress(lambda path: (500, b""), "app-1", None, job_id="d")
    assert read_progress(lambda path: (404, b""), "app-1", None, job_id="d") is None
    with pytest.raises(ProtocolError):
        read_progress(lambda path: (200, b"[]"), "app/../x", None, job_id="d")


# Lines from a real driver's stderr (Spark 4.3.0, this project's MultiStage driver on the test cluster).
LOG = """\
Launch Command: "/usr/lib/jvm/java-17-openjdk-amd64/bin/java" "-cp" "..." "-Dspark.resumable.ref=ref1"
26/12/06 23:28:12 INFO JettyUtils: Start Jetty 127.0.0.1:4041 for SparkUI
26/12/06 23:28:14 INFO Utils: Successfully started service 'SparkUI' on port 4041.
26/12/06 23:28:20 INFO StandaloneSchedulerBackend: Connected to Spark cluster with app ID driver-20261206232726-0000
"""


@pytest.mark.parametrize(
    ("log", "found"),
    [
        (LOG, ("driver-20261206232726-0000", "http://127.0.0.1:4041")),
        (LOG.replace("127.0.0.1:4041 for", "0.0.0.0:4041 for"), ("driver-20261206232726-0000", "http://worker-3:4041")),
        (LOG.replace("Start Jetty 127.0.0.1:4041 for SparkUI", ""), ("driver-20261206232726-0000", "http://worker-3:4041")),
        (LOG.split("26/12/06 23:28:20")[0], None),  # no application yet
        # Another driver held the port Jetty tried first (seen with two drivers on one worker):
        # the UI is where Spark says it started it.
        (LOG.replace("127.0.0.1:4041 for SparkUI", "127.0.0.1:4040 for SparkUI\n26/12/06 23:28:13 WARN Utils: "
                     "Service 'SparkUI' could not bind on port 4040. Attempting port 4041."),
         ("driver-20261206232726-0000", "http://127.0.0.1:4041")),
        (LOG.replace("JettyUtils: Start Jetty", "X").replace("started service 'SparkUI'", "x"), None),  # no UI
    ],
)
def test_a_standalone_driver_says_its_app_id_and_ui_in_its_stderr(log: str, found: tuple[str, str] | None) -> None:
    assert standalone_ui(log, "http://worker-3:8081") == found


# -- YARN: the RM's web proxy -------------------------------------------------------------------------


@pytest.fixture
def rm() -> Iterator[YarnResourceManager]:
    server = YarnResourceManager().start()
    try:
        yield server
    finally:
        server.stop()


def cluster_submission() -> SparkClusterSubmission:
    return SparkClusterSubmission(application="hdfs:///jobs/etl.jar", main_class="etl.Main", app_args=("60", "0"),
                                  name="resumable-progress")


def test_yarn_progress_goes_through_the_resource_managers_proxy(rm: YarnResourceManager) -> None:
    client = YarnRestClient(rm.url, user="spark", timeout=5.0)
    job_ = SparkYarnJob(client, cluster_submission())
    app_id = rm.register("etl", ["resumable-ref-x"], ["60", "0"])
    assert job_.get_job_status(app_id) == "ACCEPTED/UNDEFINED"
    assert job_.job_progress(app_id) is None  # not running: no UI to ask
    rm.set_state(app_id, "RUNNING")
    job_.get_job_status(app_id)
    assert job_.job_progress(app_id) is None  # running, its UI not up yet: the proxy's page is a 404
    rm.driver_ui[app_id] = {"jobs": JOBS, "stages": [STAGE]}
    progress = job_.job_progress(app_id)
    assert progress is not None and progress.counts[0] == Count("tasks", 9, 12)
    assert progress.ui_url == f"{rm.url}/proxy/{app_id}/"
    asked = [(path, user) for method, path, user in rm.requests if path.startswith("/proxy/")]
    assert (f"/proxy/{app_id}/api/v1/applications/{app_id}/jobs", "spark") in asked  # with the RM's user
    client.close()


# -- Kubernetes: the API server's pod proxy --------------------------------------------------------------


def test_kubernetes_progress_goes_through_the_pod_proxy() -> None:
    server = KubernetesApiServer(token="t0ken").start()
    client = KubernetesClient(server.url, token="t0ken", namespace="default")
    try:
        created = client.create_pod("default", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "etl-driver", "labels": {"spark-app-selector": "spark-0a1b2c", "spark-role": "driver"}},
            "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "spark:4",
                                     "ports": [{"name": "spark-ui", "containerPort": 4045}]}]},
        })
        assert created is not None
        job_id = f"default/etl-driver/{created['metadata']['uid']}"
        job_ = SparkKubernetesJob(client, cluster_submission(), image="spark:4")
        job_.get_job_status(job_id)
        assert job_.job_progress(job_id) is None  # Pending: no UI yet
        server.set_phase("etl-driver", "Running")
        job_.get_job_status(job_id)
        with pytest.raises(TransientError):
            job_.job_progress(job_id)  # running, nothing listening yet: the API server's 503
        server.pod_http[("default", "etl-driver", 4045)] = {
            "/api/v1/applications/spark-0a1b2c/jobs": JOBS, "/api/v1/applications/spark-0a1b2c/stages": [STAGE]}
        progress = job_.job_progress(job_id)
        assert progress is not None and progress.counts[1] == Count("stages", 2, 3)
        assert progress.ui_url == f"{server.url}/api/v1/namespaces/default/pods/etl-driver:4045/proxy/"
        assert "t0ken" not in repr(progress)
    finally:
        client.close()
        server.stop()


# -- standalone, both jobs, on one loopback server playing master UI, worker UI and driver UI ---------------


DRIVER = "driver-20261206232726-0000"


class StandaloneUis(LoopbackHttpServer):
    """The master's ``/json/``, a worker's ``/log/`` and the driver's UI API, as Spark 4.3.0 answers them."""

    def __init__(self) -> None:
        super().__init__("spark-uis")
        self.ui_up = False
        self.growing = False  # each read of the log finds one line more (a driver still starting)
        self.asked: list[str] = []

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        self.asked.append(path)
        port = self.url.rsplit(":", 1)[1]
        if path == "/json/":
            return 200, {"url": "spark://127.0.0.1:7077", "status": "ALIVE", "activeapps": [], "completedapps": [],
                         "workers": [{"id": "worker-1", "host": "127.0.0.1", "webuiaddress": self.url,
                                      "state": "ALIVE"}],
                         "activedrivers": [{"id": DRIVER, "starttime": "1796599646631", "state": "RUNNING",
                                            "worker": "worker-1", "mainclass": "resumabletest.MultiStage"}],
                         "completeddrivers": []}, {}
        if path == "/log/" and query.get("driverId") == [DRIVER]:
            log = LOG.replace("4041", port) if self.ui_up else LOG.split("26/12/06 23:28:12")[0]
            if self.growing:
                log += "INFO starting\n" * self.asked.count("/log/")
            return 200, log, {}
        if path == f"/api/v1/applications/{DRIVER}/jobs":
            return 200, JOBS, {}
        if path == f"/api/v1/applications/{DRIVER}/stages":
            return 200, [STAGE], {}
        return 404, "not found", {}


@pytest.fixture
def uis() -> Iterator[StandaloneUis]:
    server = StandaloneUis()
    server._start()
    try:
        yield server
    finally:
        server.stop()


def test_both_standalone_jobs_find_the_driver_ui_from_its_log_once(uis: StandaloneUis) -> None:
    submission = SparkSubmission(app_resource="file:/jobs/multi.jar", main_class="resumabletest.MultiStage")
    blocking = SparkRestJob(SparkRestClient(uis.url, web_ui_urls=uis.url), submission)
    assert blocking.job_progress(DRIVER) is None  # launched, no UI in its log yet: nothing to say
    uis.ui_up = True
    first = blocking.job_progress(DRIVER)
    assert first is not None and first.counts[0] == Count("tasks", 9, 12) and first.ui_url == uis.url + "/"
    assert blocking.job_progress(DRIVER) == first
    assert uis.asked.count("/log/") == 2  # found once, then kept

    async def both() -> tuple[Any, Any]:
        async with AsyncSparkRestClient(uis.url, web_ui_url=uis.url) as client:
            job_ = AsyncSparkRestJob(client, submission)
            seen = await job_.job_progress(DRIVER)
        async with AsyncSparkRestClient(uis.url) as no_ui:
            unseen = await AsyncSparkRestJob(no_ui, submission).job_progress(DRIVER)  # no master UI: nothing
        return seen, unseen

    seen, unseen = asyncio.run(both())
    assert seen == first and unseen is None


def test_a_driver_log_that_stands_still_is_read_ever_less_often_never_given_up(uis: StandaloneUis) -> None:
    submission = SparkSubmission(app_resource="file:/jobs/sleep.jar", main_class="resumabletest.SleepExit")
    job_ = SparkRestJob(SparkRestClient(uis.url, web_ui_urls=uis.url), submission)
    for _ in range(40):
        assert job_.job_progress(DRIVER) is None
    # Read at asks 1, 2, 4, 8, 16 and 32 (each still log doubles the gap, up to LOG_SKIP_MAX asks):
    # a program without a SparkContext costs a handful of reads, not one per ask.
    assert uis.asked.count("/log/") == 6
    uis.growing = True  # a JVM that was stalled (a busy machine) logs again: it is still read
    for _ in range(LOG_SKIP_MAX):
        assert job_.job_progress(DRIVER) is None
    grown = uis.asked.count("/log/")
    assert grown >= 7
    for _ in range(5):  # while it grows, every ask reads it
        job_.job_progress(DRIVER)
    assert uis.asked.count("/log/") == grown + 5


def test_many_async_jobs_share_one_master_listing_to_find_their_drivers(uis: StandaloneUis) -> None:
    uis.ui_up = True
    submission = SparkSubmission(app_resource="file:/jobs/multi.jar", main_class="resumabletest.MultiStage")

    async def many() -> list[Any]:
        async with AsyncSparkRestClient(uis.url, web_ui_url=uis.url) as client:
            jobs = [AsyncSparkRestJob(client, submission) for _ in range(20)]
            return list(await asyncio.gather(*(j.job_progress(DRIVER) for j in jobs)))

    seen = asyncio.run(many())
    assert all(p is not None and p.counts[0] == Count("tasks", 9, 12) for p in seen)
    assert uis.asked.count("/json/") == 1, uis.asked.count("/json/")
