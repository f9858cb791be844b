"""The job contract over SparkYarnJob: the loopback RM for status, find and kill, the recorded launcher to submit."""

from __future__ import annotations

from typing import Any

import pytest

from resumable_adapters.spark._launcher import SparkSubmitLauncher
from resumable_adapters.spark._yarn import SparkYarnJob
from resumable_adapters.yarn._client import YarnRestClient
from resumable_core import PollPolicy, ResumableJob
from tests.contracts.job_contract import JobContract
from tests.services.yarn_rm import YarnResourceManager
from tests.spark_yarn.conftest import FAST_POLL, submission


class YarnHarness:
    poll: PollPolicy = FAST_POLL

    def __init__(self, rm: YarnResourceManager, client: YarnRestClient, launcher: SparkSubmitLauncher) -> None:
        self.rm, self.client, self.launcher = rm, client, launcher

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        seconds, code = {"succeed": (0.2, 0), "fail": (0.2, 3), "long": (60.0, 0)}[kind]
        return SparkYarnJob(self.client, submission(seconds, code, name=f"contract-{spec}"), launcher=self.launcher)

    def unknown_job_id(self) -> str:
        return "application_1764200000000_9876"

    def count_jobs(self) -> int:
        return len(self.rm.apps)


class TestSparkYarnJobContract(JobContract):
    @pytest.fixture
    def harness(self, yarn_rm: YarnResourceManager, yarn_client: YarnRestClient,
                yarn_launcher: SparkSubmitLauncher) -> YarnHarness:
        return YarnHarness(yarn_rm, yarn_client, yarn_launcher)
