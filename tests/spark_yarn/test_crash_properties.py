"""The crash-injection properties over SparkYarnJob, against the loopback ResourceManager.

Bodies, views and the model: tests/contracts/crash_properties.py; the machinery:
tests/core/_crash.py. One ResourceManager serves the module, reset onto each example's
virtual clock; spark-submit is the recorded script called in-process; the store is
SQLite on a file. The proof that no second application ran is the RM's own list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from resumable_adapters.spark._yarn import SparkYarnJob
from resumable_adapters.yarn._client import YarnRestClient
from resumable_core.testing import FakeClock
from tests.contracts.crash_properties import Adapter, AdapterCluster, YarnCluster, crash_properties, one_caller_crashing
from tests.core._crash import ANY_FAULT, Fault, FaultKind, quiet_logs
from tests.services.yarn_rm import YarnResourceManager
from tests.spark_yarn.conftest import hadoop_conf_dir, submission
from tests.spark_yarn.recorded_launcher import yarn_launcher


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    with quiet_logs():
        yield


@pytest.fixture(scope="module")
def yarn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Adapter]:
    """One RM for the module (starting one per example would cost more than the example)."""
    rm = YarnResourceManager().start()
    client = YarnRestClient(rm.url, user="spark", timeout=5.0)
    conf_dir = str(hadoop_conf_dir(Path(tmp_path_factory.mktemp("yarn-crash")) / "hadoop-conf", rm))

    def cluster(clock: FakeClock, outcomes: Sequence[str]) -> AdapterCluster:
        return YarnCluster(rm, clock, outcomes)

    def make_job() -> SparkYarnJob:
        return SparkYarnJob(client, submission(), launcher=yarn_launcher(conf_dir))

    try:
        yield Adapter(cluster, make_job)
    finally:
        client.close()
        rm.stop()


(
    test_one_caller_crashing_never_runs_two_applications,
    test_two_callers_on_one_key_never_run_two_applications,
    test_an_operator_cancel_mid_run_is_kept,
) = crash_properties("yarn", ANY_FAULT, examples=(200, 120, 120))


# -- the moments that matter, replayed on every run -----------------------------------------------


def test_a_lost_spark_submit_answer_is_found_by_tag_not_submitted_again(yarn: Adapter) -> None:
    """spark-submit registered the application, its caller saw a timeout (step 2: the submit)."""
    world, _ = one_caller_crashing(yarn, {2: Fault(FaultKind.LOSE_SUBMIT_RESPONSE)}, [], 120.0, False, 0)
    assert isinstance(world.cluster, YarnCluster) and world.cluster.injected == 1  # the answer was lost
    assert len(world.cluster.jobs()) == 1


def test_an_rm_restarted_without_recovery_mid_run_gets_one_new_application(yarn: Adapter) -> None:
    """The RM forgets the recorded application while it runs (step 4: the first poll):
    exactly one resubmission, and the forgotten one is in the history."""
    world, _ = one_caller_crashing(yarn, {4: Fault(FaultKind.FORGET)}, [], 120.0, False, 0)
    jobs = world.cluster.jobs()
    assert len(jobs) == 2 and sum(j.forgotten for j in jobs) == 1, jobs
