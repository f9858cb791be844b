"""The Kubernetes API for resumable_adapters: kubeconfig and in-cluster credentials, pods, label and
uid lookups, deletes with a uid precondition (``KubernetesClient``).

Used by Spark on Kubernetes (``resumable_adapters.spark.SparkKubernetesJob``) and by every other
integration that runs on Kubernetes. Needs urllib3 (any of the extras ``kubernetes``, ``spark``).

::

    from resumable_adapters.kubernetes import KubernetesClient

    client = KubernetesClient.from_kubeconfig()          # or KubernetesClient.in_cluster()
"""

from __future__ import annotations

from ._client import SERVICE_ACCOUNT_DIR, KubernetesClient, check_name

__all__ = ["SERVICE_ACCOUNT_DIR", "KubernetesClient", "check_name"]
