"""Kubernetes fixtures: the loopback API server (with a bearer token), a kubeconfig for it, launchers, jobs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.kubernetes._client import KubernetesClient
from resumable_adapters.spark._cluster_submission import SparkClusterSubmission
from resumable_adapters.spark._kubernetes import SparkKubernetesJob
from resumable_adapters.spark._launcher import SparkSubmitLauncher
from resumable_core import PollPolicy
from tests.services.kubernetes_api import KubernetesApiServer, plan_from_driver_args
from tests.spark_yarn.conftest import write_wrapper

TOKEN = "kube-bearer-0123456789abcdef"  # what a leak would look like: asserted absent from every message
IMAGE = "apache/spark:4.3.0"
FAST_POLL = PollPolicy(min_interval=0.05, max_interval=0.2, jitter=0.0, transient_attempts=20, transient_seconds=20.0)
JobFactory = Callable[..., SparkKubernetesJob]


@pytest.fixture
def kube_api() -> Iterator[KubernetesApiServer]:
    """The loopback API server, requiring the bearer token; stopped at the end."""
    server = KubernetesApiServer(token=TOKEN, plan_for=plan_from_driver_args).start()
    try:
        yield server
    finally:
        server.stop()


def write_kubeconfig(path: Path, server: str, token: str = TOKEN, namespace: str = "default") -> Path:
    """A kubeconfig as kubectl writes one (JSON is YAML), one context, a token user."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "loopback",
        "clusters": [{"name": "loop", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": token}}],
        "contexts": [{"name": "loopback", "context": {"cluster": "loop", "user": "tester", "namespace": namespace}}],
    }))
    return path


@pytest.fixture
def kube_client(kube_api: KubernetesApiServer, tmp_path: Path) -> Iterator[KubernetesClient]:
    client = KubernetesClient.from_kubeconfig(write_kubeconfig(tmp_path / "kubeconfig", kube_api.url), timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def fake_kube_launcher(tmp_path: Path) -> SparkSubmitLauncher:
    return SparkSubmitLauncher(write_wrapper(tmp_path, "tests.spark_kubernetes.fake_spark_submit"), timeout=20.0)


def submission(seconds: float = 0.3, code: int = 0, **changes: Any) -> SparkClusterSubmission:
    fields: dict[str, Any] = dict(application="local:///opt/spark/jobs/etl.jar", main_class="etl.Main",
                                  app_args=(str(seconds), str(code)), name="resumable-test",
                                  conf={"spark.executor.instances": "1"})
    fields.update(changes)
    return SparkClusterSubmission(**fields)


@pytest.fixture
def make_kube_job(kube_client: KubernetesClient, fake_kube_launcher: SparkSubmitLauncher) -> JobFactory:
    def make(seconds: float = 0.3, code: int = 0, **changes: Any) -> SparkKubernetesJob:
        return SparkKubernetesJob(kube_client, submission(seconds, code, **changes), image=IMAGE,
                                  launcher=fake_kube_launcher)

    return make
