"""Kubernetes pod fixtures: the loopback API server (bearer token required), a kubeconfig, pod jobs.

Every server here is the loopback one (tests/services/kubernetes_api.py) on a free port
of 127.0.0.1, one per test (or per module for the crash properties): no state is shared
between pytest workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.kubernetes import KubernetesClient, KubernetesPodJob, command_pod
from resumable_core import PollPolicy
from tests.services.kubernetes_api import KubernetesApiServer, plan_from_driver_args
from tests.spark_kubernetes.conftest import write_kubeconfig

TOKEN = "kube-pod-bearer-0123456789abcdef"  # what a leak would look like: asserted absent from messages
IMAGE = "registry.example/etl:1.4"
FAST_POLL = PollPolicy(min_interval=0.05, max_interval=0.2, jitter=0.0, transient_attempts=20, transient_seconds=20.0)
PodJobFactory = Callable[..., KubernetesPodJob]


def pod_manifest(seconds: float = 0.2, code: int = 0, **changes: Any) -> dict[str, Any]:
    """A pod whose container runs *seconds* and exits *code*: the loopback kubelet reads its last two args."""
    return command_pod(changes.pop("image", IMAGE), ["/bin/etl"], [*changes.pop("args", []), str(seconds), str(code)],
                       **changes)


@pytest.fixture
def kube_api() -> Iterator[KubernetesApiServer]:
    server = KubernetesApiServer(token=TOKEN, plan_for=plan_from_driver_args).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube_client(kube_api: KubernetesApiServer, tmp_path: Path) -> Iterator[KubernetesClient]:
    client = KubernetesClient.from_kubeconfig(write_kubeconfig(tmp_path / "kubeconfig", kube_api.url, TOKEN),
                                              timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def make_pod_job(kube_client: KubernetesClient) -> PodJobFactory:
    def make(seconds: float = 0.2, code: int = 0, *, name: str = "etl", **options: Any) -> KubernetesPodJob:
        return KubernetesPodJob(kube_client, pod_manifest(seconds, code), name=name, **options)

    return make
