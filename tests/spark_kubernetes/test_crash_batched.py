"""The Spark-on-Kubernetes crash-injection properties with batched status on (issue 23): each status
check lists the namespace's driver pods first, and only a pod the listing does not answer for
(ended, recreated, gone) is asked directly (tests/core/_crash.py, ``batched_status``). Fewer examples
than the unbatched module."""

from __future__ import annotations

from resumable_adapters.spark._kubernetes import parse_job_id
from tests.contracts.crash_properties import (
    K8S_FAULT,
    Adapter,
    KubernetesCluster,
    crash_properties,
    listings_counted,
    one_caller_crashing,
)
from tests.core._crash import Fault, FaultKind, batched_status
from tests.spark_kubernetes.test_crash_properties import kube, quiet

__all__ = ["kube", "quiet"]  # the fixtures, shared with the unbatched module

test_one_caller_crashing_never_runs_two_drivers, test_two_callers_on_one_key_never_run_two_drivers = (
    crash_properties("kube", K8S_FAULT, examples=(20, 20), around=batched_status))


def test_a_pod_recreated_mid_run_is_not_answered_by_the_listing_nor_adopted(kube: Adapter) -> None:
    """The recorded driver pod is recreated under its name: the listing shows a pod of that name with
    another uid, which answers for nothing; the direct ask says it is gone; a new pod is submitted."""
    counted, listings = listings_counted(kube)
    with batched_status():
        world, record = one_caller_crashing(counted, {5: Fault(FaultKind.REPLACE)}, [],
                                            120.0, False, 0)
    assert listings, "the status checks went through the pod list"
    cluster = world.cluster
    assert isinstance(cluster, KubernetesCluster) and len(cluster.replaced) == 1
    assert record.job_id is not None and parse_job_id(record.job_id)[2] not in cluster.replaced
    assert len(cluster.jobs()) == 2
