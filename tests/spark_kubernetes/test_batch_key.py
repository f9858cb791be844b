"""Which Spark-on-Kubernetes jobs share one list of driver pods: the batch key (KubernetesClient.listing_key).

No server is asked: the core groups jobs by this key alone, so two clients that may see
different pods (another certificate, another token) must never get one key.
"""

from __future__ import annotations

from resumable_adapters.kubernetes import KubernetesClient, KubernetesPodJob, command_pod
from resumable_adapters.spark import SparkKubernetesJob
from tests.spark_kubernetes.conftest import IMAGE, TOKEN, submission

SERVER = "https://kube.example:6443"


def _spark_job(client: KubernetesClient) -> SparkKubernetesJob:
    return SparkKubernetesJob(client, submission(), image=IMAGE)


def _cert_client(name: str, namespace: str = "etl") -> KubernetesClient:
    # The paths are only named, never opened: urllib3 reads them when it connects.
    return KubernetesClient(SERVER, namespace=namespace, client_cert=f"/etc/kube/{name}.crt",
                            client_key=f"/etc/kube/{name}.key")


def test_two_client_certificates_without_a_token_never_share_a_listing() -> None:
    alice, alice_again, bob = _cert_client("alice"), _cert_client("alice"), _cert_client("bob")
    assert _spark_job(alice).batch_key == _spark_job(alice_again).batch_key
    assert _spark_job(alice).batch_key != _spark_job(bob).batch_key  # was equal: server and namespace only
    assert _spark_job(alice).batch_key != _spark_job(_cert_client("alice", namespace="other")).batch_key


def test_the_token_enters_hashed_and_the_pod_job_keeps_a_listing_of_its_own() -> None:
    one, same = KubernetesClient(SERVER, token=TOKEN), KubernetesClient(SERVER, token=TOKEN)
    other = KubernetesClient(SERVER, token="another-token-0123456789")
    assert _spark_job(one).batch_key == _spark_job(same).batch_key != _spark_job(other).batch_key
    assert TOKEN not in _spark_job(one).batch_key and "another-token" not in _spark_job(other).batch_key
    # The same client and namespace, another listing (every pod with a reference label, not the
    # driver pods): a pod job and a Spark job are never listed together.
    pod_job = KubernetesPodJob(one, command_pod("busybox:1.36", ["true"]), name="x", namespace=one.namespace)
    assert pod_job.batch_key != _spark_job(one).batch_key
    assert pod_job.batch_key == one.listing_key("kubernetes-pods", one.namespace)
