"""The Kubernetes API for resumable_adapters: kubeconfig and in-cluster credentials, pods, label and
uid lookups, deletes with a uid precondition (``KubernetesClient``), and any pod as a resumable
job (``KubernetesPodJob``, docs/kubernetes.md).

Used by Spark on Kubernetes (``resumable_adapters.spark.SparkKubernetesJob``) and by every other
integration that runs on Kubernetes. Needs urllib3 (any of the extras ``kubernetes``, ``spark``).

::

    from resumable_adapters.kubernetes import KubernetesClient, KubernetesPodJob, command_pod
    from resumable_core import run_resumable

    client = KubernetesClient.from_kubeconfig()          # or KubernetesClient.in_cluster()
    job = KubernetesPodJob(client, command_pod("busybox:1.36", ["sh", "-c", "echo hi"]), name="hello")
    result = run_resumable(job, store, key="hello/2026-11-24")   # exit_code, log_tail, ...
"""

from __future__ import annotations

from ._client import SERVICE_ACCOUNT_DIR, KubernetesClient, check_name
from ._pod import (
    REFERENCE_ANNOTATION,
    REFERENCE_LABEL,
    KubernetesPodJob,
    PodResult,
    PodStartPolicy,
    command_pod,
    parse_pod_job_id,
    pod_phase,
    pod_reference_slug,
)

__all__ = [
    "REFERENCE_ANNOTATION",
    "REFERENCE_LABEL",
    "SERVICE_ACCOUNT_DIR",
    "KubernetesClient",
    "KubernetesPodJob",
    "PodResult",
    "PodStartPolicy",
    "check_name",
    "command_pod",
    "parse_pod_job_id",
    "pod_phase",
    "pod_reference_slug",
]
