"""The job contract over KubernetesPodJob, against the loopback API server."""

from __future__ import annotations

from typing import Any

import pytest

from resumable_adapters.kubernetes import KubernetesClient, KubernetesPodJob
from resumable_core import PollPolicy, ResumableJob
from tests.contracts.job_contract import JobContract
from tests.kubernetes.conftest import FAST_POLL, pod_manifest
from tests.services.kubernetes_api import KubernetesApiServer


class PodHarness:
    poll: PollPolicy = FAST_POLL

    def __init__(self, api: KubernetesApiServer, client: KubernetesClient) -> None:
        self.api, self.client = api, client

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        seconds, code = {"succeed": (0.2, 0), "fail": (0.2, 3), "long": (60.0, 0)}[kind]
        return KubernetesPodJob(self.client, pod_manifest(seconds, code), name=f"contract-{spec}")

    def unknown_job_id(self) -> str:
        return "default/contract-a-00000000000000000000000000000000/0b6a5d7e-0000-4000-8000-000000000000"

    def count_jobs(self) -> int:
        return self.api.pods_created()


class TestKubernetesPodJobContract(JobContract):
    @pytest.fixture
    def harness(self, kube_api: KubernetesApiServer, kube_client: KubernetesClient) -> PodHarness:
        return PodHarness(kube_api, kube_client)
