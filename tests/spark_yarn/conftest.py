"""YARN fixtures: a loopback ResourceManager (active, and a standby), the recorded launcher, a job factory."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.spark._cluster_submission import SparkClusterSubmission
from resumable_adapters.spark._launcher import SparkSubmitLauncher
from resumable_adapters.spark._yarn import SparkYarnJob
from resumable_adapters.yarn._client import YarnRestClient
from resumable_core import PollPolicy
from tests.paths import PYTHONPATH
from tests.services.yarn_rm import YarnResourceManager

ROOT = Path(__file__).parents[2]
FAST_POLL = PollPolicy(min_interval=0.05, max_interval=0.2, jitter=0.0, transient_attempts=20, transient_seconds=20.0)
JobFactory = Callable[..., SparkYarnJob]


def write_wrapper(folder: Path, module: str) -> str:
    """An executable that runs *module* as spark-submit would be run: by path, with the arguments."""
    path = folder / "spark-submit"
    path.write_text(f'#!/bin/sh\nPYTHONPATH="{PYTHONPATH}" exec "{sys.executable}" -m {module} "$@"\n')
    path.chmod(0o755)
    return str(path)


def hadoop_conf_dir(folder: Path, rm: YarnResourceManager) -> Path:
    """A client configuration naming the loopback RM, as HADOOP_CONF_DIR does for a real one."""
    folder.mkdir(exist_ok=True)
    address = rm.url.removeprefix("http://")
    (folder / "yarn-site.xml").write_text(
        "<configuration><property><name>yarn.resourcemanager.webapp.address</name>"
        f"<value>{address}</value></property></configuration>\n")
    return folder


@pytest.fixture
def yarn_rm() -> Iterator[YarnResourceManager]:
    """A fresh active ResourceManager on loopback, stopped at the end."""
    rm = YarnResourceManager().start()
    try:
        yield rm
    finally:
        rm.stop()


@pytest.fixture
def yarn_standby(yarn_rm: YarnResourceManager) -> Iterator[YarnResourceManager]:
    """A standby ResourceManager that redirects to ``yarn_rm``."""
    rm = YarnResourceManager(standby_for=yarn_rm).start()
    try:
        yield rm
    finally:
        rm.stop()


@pytest.fixture
def yarn_launcher(tmp_path: Path, yarn_rm: YarnResourceManager) -> SparkSubmitLauncher:
    conf_dir = hadoop_conf_dir(tmp_path / "hadoop-conf", yarn_rm)
    return SparkSubmitLauncher(write_wrapper(tmp_path, "tests.spark_yarn.fake_spark_submit"), timeout=20.0,
                               env={"HADOOP_CONF_DIR": str(conf_dir)})


@pytest.fixture
def yarn_client(yarn_rm: YarnResourceManager) -> Iterator[YarnRestClient]:
    client = YarnRestClient(yarn_rm.url, user="spark", timeout=5.0)
    yield client
    client.close()


def submission(seconds: float = 0.3, code: int = 0, **changes: Any) -> SparkClusterSubmission:
    fields: dict[str, Any] = dict(application="hdfs:///jobs/etl.jar", main_class="etl.Main",
                                  app_args=(str(seconds), str(code)), name="resumable-test",
                                  conf={"spark.yarn.queue": "default", "spark.executor.instances": "1"})
    fields.update(changes)
    return SparkClusterSubmission(**fields)


@pytest.fixture
def make_yarn_job(yarn_client: YarnRestClient, yarn_launcher: SparkSubmitLauncher) -> JobFactory:
    def make(seconds: float = 0.3, code: int = 0, **changes: Any) -> SparkYarnJob:
        return SparkYarnJob(yarn_client, submission(seconds, code, **changes), launcher=yarn_launcher)

    return make
