"""The pod crash-injection properties with batched status on (issue 23): each status check lists the
namespace's pods by the reference label first, and only a pod the list does not answer for (ended,
recreated, gone, deleting) is read directly (tests/core/_crash.py, ``batched_status``). Fewer
examples than the unbatched module."""

from __future__ import annotations

from tests.contracts.crash_properties import (
    K8S_FAULT,
    Adapter,
    KubernetesCluster,
    crash_properties,
    listings_counted,
    one_caller_crashing,
)
from tests.core._crash import Fault, FaultKind, batched_status
from tests.kubernetes.test_pod_crash_properties import pods, quiet

__all__ = ["pods", "quiet"]  # the fixtures, shared with the unbatched module

test_one_caller_crashing_never_runs_two_pods, test_two_callers_on_one_key_never_run_two_pods = (
    crash_properties("pods", K8S_FAULT, examples=(20, 20), around=batched_status))


def test_a_pod_recreated_mid_run_is_not_answered_by_the_list_nor_adopted(pods: Adapter) -> None:
    """The recorded pod is recreated under its name: the list shows a pod of that name with another
    uid, which answers for nothing; the direct read says it is gone; a new pod is created."""
    counted, listings = listings_counted(pods)
    with batched_status():
        world, record = one_caller_crashing(counted, {4: Fault(FaultKind.REPLACE)}, [],
                                            120.0, False, 0)
    assert listings, "the status checks went through the pod list"
    cluster = world.cluster
    assert isinstance(cluster, KubernetesCluster) and len(cluster.replaced) == 1
    assert record.job_id is not None and record.job_id.rsplit("/", 1)[1] not in cluster.replaced
    assert len(cluster.jobs()) == 2
