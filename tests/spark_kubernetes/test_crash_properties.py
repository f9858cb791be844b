"""The crash-injection properties over SparkKubernetesJob, against the loopback API server.

Bodies, views and the model: tests/contracts/crash_properties.py; the machinery:
tests/core/_crash.py. One API server (bearer token required) serves the module, reset
onto each example's virtual clock; spark-submit is the recorded script called in-process
(the driver pod's POST, a 409 on a taken name, fabric8's output); the store is SQLite on
a file. The proof that no second driver ran is the server's own record of every pod
created. Besides the shared faults: REPLACE, the recorded pod recreated under its name
(a new uid), which no record may ever name; and a pod collected after its success,
answered from the recorded result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from resumable_adapters.kubernetes._client import KubernetesClient
from resumable_adapters.spark._kubernetes import SparkKubernetesJob, parse_job_id
from resumable_core.testing import FakeClock
from tests.contracts.crash_properties import (
    K8S_FAULT,
    Adapter,
    AdapterCluster,
    KubernetesCluster,
    crash_properties,
    one_caller_crashing,
)
from tests.core._crash import Fault, FaultKind, quiet_logs
from tests.services.kubernetes_api import KubernetesApiServer
from tests.spark_kubernetes.conftest import IMAGE, TOKEN, submission
from tests.spark_yarn.recorded_launcher import kubernetes_launcher


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    with quiet_logs():
        yield


@pytest.fixture(scope="module")
def kube() -> Iterator[Adapter]:
    """One API server for the module (starting one per example would cost more than the example)."""
    server = KubernetesApiServer(token=TOKEN).start()
    client = KubernetesClient(server.url, token=TOKEN, timeout=5.0)

    def cluster(clock: FakeClock, outcomes: Sequence[str]) -> AdapterCluster:
        return KubernetesCluster(server, clock, outcomes)

    def make_job() -> SparkKubernetesJob:
        return SparkKubernetesJob(client, submission(), image=IMAGE, launcher=kubernetes_launcher())

    try:
        yield Adapter(cluster, make_job)
    finally:
        client.close()
        server.stop()


def server_of(world_cluster: object) -> KubernetesApiServer:
    assert isinstance(world_cluster, KubernetesCluster)
    return world_cluster.server


(
    test_one_caller_crashing_never_runs_two_drivers,
    test_two_callers_on_one_key_never_run_two_drivers,
    test_an_operator_cancel_mid_run_is_kept,
) = crash_properties("kube", K8S_FAULT, examples=(200, 120, 120))


# -- the moments that matter, replayed on every run -----------------------------------------------


def test_a_pod_recreated_mid_run_is_never_adopted_and_left_alone(kube: Adapter) -> None:
    """The recorded driver pod is recreated under its name while polled (step 4): the run
    submits a new pod under a new reference; the recreated one is neither named nor deleted."""
    world, record = one_caller_crashing(kube, {4: Fault(FaultKind.REPLACE)}, [], 120.0, False, 0)
    cluster = world.cluster
    assert isinstance(cluster, KubernetesCluster) and len(cluster.replaced) == 1
    assert record.job_id is not None
    assert parse_job_id(record.job_id)[2] not in cluster.replaced
    assert len(cluster.jobs()) == 2  # the original (gone) and the new one; the recreated pod is nobody's
    recreated = [p for p in server_of(cluster).pods_ever() if p["metadata"]["uid"] in cluster.replaced]
    assert len(recreated) == 1 and "deletionTimestamp" not in recreated[0]["metadata"]


def test_a_pod_collected_after_success_is_answered_from_the_record(kube: Adapter) -> None:
    """The driver pod is garbage-collected once it succeeded; a rerun asks the server nothing
    about it and creates no pod."""
    world, _ = one_caller_crashing(kube, {}, [], 120.0, True, 1)
    assert [j.forgotten for j in world.cluster.jobs()] == [True]
    assert server_of(world.cluster).pods_created() == 1


def test_a_lost_spark_submit_answer_is_found_by_label_not_submitted_again(kube: Adapter) -> None:
    """fabric8 created the pod, its caller saw a timeout (step 2: the submit)."""
    world, _ = one_caller_crashing(kube, {2: Fault(FaultKind.LOSE_SUBMIT_RESPONSE)}, [], 120.0, False, 0)
    assert isinstance(world.cluster, KubernetesCluster) and world.cluster.injected == 1  # the answer was lost
    assert len(world.cluster.jobs()) == 1 and server_of(world.cluster).pods_created() == 1
