"""The job contract over SparkKubernetesJob: the loopback API server, the recorded launcher to submit."""

from __future__ import annotations

from typing import Any

import pytest

from resumable_adapters.kubernetes._client import KubernetesClient
from resumable_adapters.spark._kubernetes import SparkKubernetesJob
from resumable_adapters.spark._launcher import SparkSubmitLauncher
from resumable_core import PollPolicy, ResumableJob
from tests.contracts.job_contract import JobContract
from tests.services.kubernetes_api import KubernetesApiServer
from tests.spark_kubernetes.conftest import FAST_POLL, IMAGE, submission


class KubernetesHarness:
    poll: PollPolicy = FAST_POLL

    def __init__(self, api: KubernetesApiServer, client: KubernetesClient, launcher: SparkSubmitLauncher) -> None:
        self.api, self.client, self.launcher = api, client, launcher

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        seconds, code = {"succeed": (0.2, 0), "fail": (0.2, 3), "long": (60.0, 0)}[kind]
        return SparkKubernetesJob(self.client, submission(seconds, code, name=f"contract-{spec}"), image=IMAGE,
                                  launcher=self.launcher)

    def unknown_job_id(self) -> str:
        return "default/contract-a-00000000000000000000000000000000/0b6a5d7e-0000-4000-8000-000000000000"

    def count_jobs(self) -> int:
        return self.api.pods_created()


class TestSparkKubernetesJobContract(JobContract):
    @pytest.fixture
    def harness(self, kube_api: KubernetesApiServer, kube_client: KubernetesClient,
                fake_kube_launcher: SparkSubmitLauncher) -> KubernetesHarness:
        return KubernetesHarness(kube_api, kube_client, fake_kube_launcher)
