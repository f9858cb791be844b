"""Issue 17, item 2: every async job the project ships has the lookups its blocking twin has.

Without ``find_job_by_reference`` an intent left by a crash follows ``Policy.on_ambiguous``
(by default a second submission), so an async job that lacked its twin's lookup made a
restarted Supervisor submit duplicates. The async Spark job's lookup is the blocking job's
own scan (``spark/_lookup.py``); here it runs against a loopback master and worker that
answer as Spark's UIs do (``/json/``, the worker's ``/log/``), including a driver still
launching, which is waited for.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from resumable_adapters.spark import (
    AsyncSparkRestClient,
    AsyncSparkRestJob,
    SparkRestClient,
    SparkRestJob,
    SparkSubmission,
)
from resumable_core import AmbiguousSubmission, TransientError
from resumable_core.aio import in_threads
from resumable_core.testing import AsyncFakeJob, FakeExternalSystem, FakeJob, PlainFakeJob
from tests.services.loopback import Answer, LoopbackHttpServer

SUBMISSION = SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="etl.Main")
OPTIONAL = ("find_job_by_reference", "cancel_job", "job_fingerprint")


def twins() -> Iterator[tuple[str, object, object]]:
    system = FakeExternalSystem()
    spark = SparkRestJob(SparkRestClient("http://127.0.0.1:9", web_ui_urls="http://127.0.0.1:9"), SUBMISSION)
    yield "AsyncSparkRestJob", spark, AsyncSparkRestJob(AsyncSparkRestClient("http://127.0.0.1:9"), SUBMISSION)
    yield "AsyncFakeJob", FakeJob(system), AsyncFakeJob(system)
    for job in (spark, FakeJob(system), PlainFakeJob(system)):
        yield f"in_threads({type(job).__name__})", job, in_threads(job)


@pytest.mark.parametrize(("name", "blocking", "async_job"), list(twins()), ids=[t[0] for t in twins()])
def test_an_async_job_has_every_optional_operation_of_its_blocking_twin(
    name: str, blocking: object, async_job: object
) -> None:
    for operation in OPTIONAL:
        has = callable(getattr(blocking, operation, None))
        assert callable(getattr(async_job, operation, None)) is has, (name, operation)
        if has and operation != "job_fingerprint":
            assert inspect.iscoroutinefunction(getattr(async_job, operation)), (name, operation)


REFERENCE = "3f2a9c"
OURS, OTHER, LAUNCHING = ("driver-20261206120000-0001", "driver-20261206120000-0002",
                          "driver-20261206120000-0003")


class SparkUis(LoopbackHttpServer):
    """The master's ``/json/`` and one worker's ``/log/``: three drivers of our main class, one
    carrying our reference, one another's, one launching (its log has no launch line yet for
    the first *launch_after* reads)."""

    def __init__(self, launch_after: int) -> None:
        super().__init__("spark-uis")
        self.launch_after = launch_after
        self.log_reads: list[str] = []
        self._start()

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        if path == "/json/":
            drivers = [{"id": d, "state": "RUNNING", "worker": "worker-1", "mainclass": "etl.Main", "cores": 1,
                        "memory": 1024, "starttime": 1765000000000 + n} for n, d in enumerate((OURS, OTHER, LAUNCHING))]
            return 200, {"status": "ALIVE", "activedrivers": drivers, "completeddrivers": [],
                         "workers": [{"id": "worker-1", "state": "ALIVE", "webuiaddress": self.url}]}, {}
        if path == "/log/":
            driver = query["driverId"][0]
            self.log_reads.append(driver)
            if driver == LAUNCHING and self.log_reads.count(LAUNCHING) <= self.launch_after:
                return 200, "==== Bytes 0-0 of 0 ====\n", {}
            ref = REFERENCE if driver == OURS else "someone-else"
            return 200, (f'==== Bytes 0-300 ====\nLaunch Command: "java" "-cp" "x" "-Dspark.resumable.ref={ref}" '
                         f'"org.apache.spark.deploy.worker.DriverWrapper"\nmore log\n'), {}
        return 404, {"message": f"no {path}"}, {}


@pytest.fixture
def uis() -> Iterator[SparkUis]:
    server = SparkUis(launch_after=2)
    yield server
    server.stop()


def test_the_async_spark_job_finds_its_driver_by_reference_as_the_blocking_one_does(uis: SparkUis) -> None:
    blocking = SparkRestJob(SparkRestClient(uis.url, web_ui_urls=uis.url), SUBMISSION, find_wait=10,
                            find_interval=0.01)
    assert blocking.find_job_by_reference(REFERENCE) == OURS

    async def main() -> tuple[str | None, str | None]:
        async with AsyncSparkRestClient(uis.url, web_ui_url=uis.url) as client:
            job = AsyncSparkRestJob(client, SUBMISSION, find_wait=10, find_interval=0.01)
            # A reference nobody carries: the launching driver is waited for, then "none".
            return await job.find_job_by_reference(REFERENCE), await job.find_job_by_reference("nobody")

    found, nobody = asyncio.run(main())
    assert found == OURS and nobody is None
    assert uis.log_reads.count(LAUNCHING) > 2  # asked again until its launch line was written


def test_the_async_lookup_waits_within_find_wait_then_says_it_cannot_tell(uis: SparkUis) -> None:
    uis.launch_after = 10**6  # never launches

    async def main() -> None:
        async with AsyncSparkRestClient(uis.url, web_ui_url=uis.url) as client:
            job = AsyncSparkRestJob(client, SUBMISSION, find_wait=0.2, find_interval=0.01)
            with pytest.raises(TransientError, match=LAUNCHING):
                await job.find_job_by_reference("nobody")

    asyncio.run(main())


def test_without_a_web_ui_the_async_lookup_stops_for_a_person() -> None:
    async def main() -> None:
        async with AsyncSparkRestClient("http://127.0.0.1:9") as client:
            with pytest.raises(AmbiguousSubmission, match="web_ui_url"):
                await AsyncSparkRestJob(client, SUBMISSION).find_job_by_reference(REFERENCE)

    asyncio.run(main())




def test_the_async_job_and_how_it_reads_answers_need_no_urllib3() -> None:
    """The 'spark-async' extra is aiohttp alone: the lookup and ``_http.json_object`` load without urllib3."""
    root = Path(__file__).resolve().parents[2]
    code = ("import sys; sys.modules['urllib3'] = None\n"  # any import of urllib3 now fails
            "from resumable_adapters.spark import AsyncSparkRestJob\n"
            "from resumable_adapters._http import json_object\n"
            "assert AsyncSparkRestJob.find_job_by_reference and json_object\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "adapters")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
