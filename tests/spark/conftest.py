"""Fixtures shared by the Spark tests: a client on the session cluster and a job factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from resumable_adapters.spark import SparkRestClient, SparkRestJob, SparkSubmission
from resumable_core import PollPolicy
from tests.services.spark import DriverJar, SparkCluster

# Fast enough for a test; the transient budget covers a master restart.
FAST_POLL = PollPolicy(min_interval=0.2, max_interval=1.0, jitter=0.0, transient_attempts=60, transient_seconds=90.0)

JobFactory = Callable[..., SparkRestJob]


def submission(jar: DriverJar, seconds: float = 1.0, code: int = 0, **changes: Any) -> SparkSubmission:
    """The tiny driver: sleeps *seconds*, exits with *code*; small memory, one core."""
    fields: dict[str, Any] = dict(
        app_resource=jar.app_resource,
        main_class=jar.main_class,
        app_args=(str(seconds), str(code)),
        driver_memory="256m",
        name="resumable-test",
    )
    fields.update(changes)
    return SparkSubmission(**fields)


@pytest.fixture
def spark_client(spark_cluster: SparkCluster) -> Iterator[SparkRestClient]:
    client = SparkRestClient(spark_cluster.rest_url, web_ui_urls=spark_cluster.web_ui_url, timeout=10.0)
    yield client
    client.close()


@pytest.fixture
def make_job(spark_client: SparkRestClient, spark_driver_jar: DriverJar) -> JobFactory:
    def make(seconds: float = 1.0, code: int = 0, *, find_wait: float = 30.0, **changes: Any) -> SparkRestJob:
        # SparkRestJob's own options go to it; the rest describe the submission.
        options = {k: changes.pop(k) for k in ("lost_settle", "exit_code_patterns", "clock") if k in changes}
        return SparkRestJob(
            spark_client, submission(spark_driver_jar, seconds, code, **changes), find_wait=find_wait,
            find_interval=0.3, **options,
        )

    return make
