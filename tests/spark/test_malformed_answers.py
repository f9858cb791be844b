"""Issue 17, item 6: a garbled answer to a status query is transient; a contradicting one is not.

One loopback server, faithful to each protocol's good answer, answers a proxy's HTML error
page and cut-short JSON a few times first. Every HTTP client of the project reads its answers
through one mechanism (``resumable_adapters._http.json_object``): the garbage is a
``MalformedAnswer`` (a ``TransientError``), retried within the poll policy's budget, and the
run ends on the good answer. A well-formed answer that contradicts the protocol (JSON of the
wrong kind) is still a ``ProtocolError`` at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest

from resumable_adapters.kubernetes import KubernetesClient
from resumable_adapters.spark import SparkRestClient, SparkRestJob, SparkSubmission
from resumable_adapters.yarn import YarnRestClient
from resumable_core import JobRecord, MemoryStateStore, Outcome, Phase, PollPolicy, ProtocolError, run_resumable
from resumable_core.errors import MalformedAnswer
from resumable_core.record import Submission
from resumable_core.testing import FakeClock
from tests.services.loopback import Answer, LoopbackHttpServer

DRIVER = "driver-20261206120000-0007"
APP = "application_1700000000000_0001"
PROXY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>Bad Gateway</h1></center></body></html>"
GARBAGE = [PROXY_PAGE, '{"action": "SubmissionStatusResponse", "success": tr', PROXY_PAGE]
BUDGET = PollPolicy(min_interval=0.0, max_interval=0.0, jitter=0.0, transient_attempts=10)


class GarbageFirst(LoopbackHttpServer):
    """Answers each garbage text in turn (HTTP 200, as a misbehaving proxy does), then *good* forever."""

    def __init__(self, good: Any, garbage: list[str]) -> None:
        super().__init__("garbage-first")
        self.good, self.garbage = good, list(garbage)
        self.calls: list[str] = []
        self._start()

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        self.calls.append(f"{method} {path}")
        if self.garbage:
            return 200, self.garbage.pop(0), {}  # sent as text/plain: not the JSON the protocol has
        return 200, self.good, {}


@pytest.fixture
def servers() -> Iterator[list[GarbageFirst]]:
    made: list[GarbageFirst] = []
    yield made
    for server in made:
        server.stop()


def serve(servers: list[GarbageFirst], good: Any, garbage: list[str] = GARBAGE) -> GarbageFirst:
    server = GarbageFirst(good, garbage)
    servers.append(server)
    return server


SPARK_FINISHED = {"action": "SubmissionStatusResponse", "serverSparkVersion": "4.0.1", "submissionId": DRIVER,
                 "success": True, "driverState": "FINISHED", "workerId": "worker-1", "workerHostPort": "127.0.0.1:1"}


def test_a_spark_run_polls_through_garbage_to_the_drivers_end(servers: list[GarbageFirst]) -> None:
    server = serve(servers, SPARK_FINISHED)
    store, clock = MemoryStateStore(), FakeClock()
    # A driver recorded by an earlier attempt: the run asks its status, and gets garbage first.
    store.set("k", JobRecord(key="k", phase=Phase.SUBMITTED, reference="ref", revision=1, updated_at=clock.now,
                             job_id=DRIVER, history=(Submission("ref", DRIVER, Outcome.ACTIVE, clock.now),)).to_json())
    client = SparkRestClient(server.url, timeout=5.0)
    job = SparkRestJob(client, SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="etl.Main"))
    result = run_resumable(job, store, key="k", poll=BUDGET, clock=clock, sleep=clock.sleep)
    assert isinstance(result, dict) and result["driver_id"] == DRIVER and result["state"] == "FINISHED"
    statuses = [c for c in server.calls if c == f"GET /v1/submissions/status/{DRIVER}"]
    assert len(statuses) >= len(GARBAGE) + 1  # each garbled answer asked again, never an ended attempt
    client.close()


@pytest.mark.parametrize("garbage", [[PROXY_PAGE], ['{"success": true, "driverSt']], ids=["html page", "cut json"])
def test_each_client_reads_garbage_as_malformed_and_a_wrong_kind_of_json_as_protocol(
    servers: list[GarbageFirst], garbage: list[str]
) -> None:
    spark = serve(servers, ["a", "list"], garbage)
    spark_client = SparkRestClient(spark.url, timeout=5.0)
    with pytest.raises(MalformedAnswer, match="asking again"):
        spark_client.status(DRIVER)
    with pytest.raises(ProtocolError) as wrong:  # the next answer: well-formed, and against the protocol
        spark_client.status(DRIVER)
    assert not isinstance(wrong.value, MalformedAnswer)

    yarn = serve(servers, {"app": {"id": APP, "state": "RUNNING", "finalStatus": "UNDEFINED"}}, garbage)
    yarn_client = YarnRestClient(yarn.url, timeout=5.0)
    with pytest.raises(MalformedAnswer):
        yarn_client.application(APP)
    app = yarn_client.application(APP)
    assert app is not None and app.state == "RUNNING"

    pod = {"kind": "Pod", "metadata": {"name": "etl-driver", "uid": "u-1"}, "status": {"phase": "Running"}}
    kubernetes = serve(servers, pod, garbage)
    kubernetes_client = KubernetesClient(kubernetes.url, token="t0k3n")
    with pytest.raises(MalformedAnswer):
        kubernetes_client.get_pod("default", "etl-driver")
    assert kubernetes_client.get_pod("default", "etl-driver") == pod


def test_the_async_spark_client_reads_answers_through_the_same_mechanism(servers: list[GarbageFirst]) -> None:
    pytest.importorskip("aiohttp")
    from resumable_adapters.spark import AsyncSparkRestClient, AsyncSparkRestJob

    server = serve(servers, SPARK_FINISHED)

    async def main() -> list[str]:
        seen: list[str] = []
        async with AsyncSparkRestClient(server.url, timeout=5.0) as client:
            job = AsyncSparkRestJob(client, SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="etl.Main"))
            for _ in GARBAGE:
                with pytest.raises(MalformedAnswer):
                    await job.get_job_status(DRIVER)
            seen.append(await job.get_job_status(DRIVER))
        return seen

    assert asyncio.run(main()) == ["FINISHED"]


def test_a_json_answer_of_another_shape_is_never_read_as_not_found(servers: list[GarbageFirst]) -> None:
    """A proxy's JSON error (no boolean ``success``) is not the master's "unknown": that could resubmit."""
    pytest.importorskip("aiohttp")
    from resumable_adapters.spark import AsyncSparkRestClient, AsyncSparkRestJob

    server = serve(servers, {"error": "upstream timed out"}, [])

    async def main() -> None:
        async with AsyncSparkRestClient(server.url, timeout=5.0) as client:
            job = AsyncSparkRestJob(client, SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="etl.Main"))
            with pytest.raises(ProtocolError, match="boolean 'success'"):
                await job.get_job_status(DRIVER)

    asyncio.run(main())
    with pytest.raises(ProtocolError, match="boolean 'success'"):
        SparkRestClient(server.url, timeout=5.0).status(DRIVER)
