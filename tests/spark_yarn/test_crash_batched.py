"""The YARN crash-injection properties with batched status on (issue 23): each status check asks the
ResourceManager's apps listing first, and only an application it leaves out is asked directly
(tests/core/_crash.py, ``batched_status``). Fewer examples than the unbatched module."""

from __future__ import annotations

from tests.contracts.crash_properties import (
    Adapter,
    YarnCluster,
    crash_properties,
    listings_counted,
    one_caller_crashing,
)
from tests.core._crash import ANY_FAULT, Fault, FaultKind, batched_status
from tests.spark_yarn.test_crash_properties import quiet, yarn

__all__ = ["quiet", "yarn"]  # the fixtures, shared with the unbatched module

test_one_caller_crashing_never_runs_two_applications, test_two_callers_on_one_key_never_run_two_applications = (
    crash_properties("yarn", ANY_FAULT, examples=(20, 20), around=batched_status))


def test_an_rm_restarted_mid_run_gets_one_new_application_through_the_listing(yarn: Adapter) -> None:
    """The RM forgets the running application: the listing no longer shows it, the direct ask says
    404, and exactly one application is submitted anew (as without batching)."""
    counted, listings = listings_counted(yarn)
    with batched_status():
        world, _ = one_caller_crashing(counted, {5: Fault(FaultKind.FORGET)}, [], 120.0,
                                       False, 0)
    assert listings, "the status checks went through the RM's listing"
    jobs = world.cluster.jobs()
    assert isinstance(world.cluster, YarnCluster)
    assert len(jobs) == 2 and sum(j.forgotten for j in jobs) == 1, jobs
