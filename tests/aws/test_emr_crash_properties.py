"""The crash-injection properties over EmrStepJob, EmrServerlessJob and EmrEksJob.

Bodies and checks: tests/contracts/crash_properties.py; the machinery: tests/core/_crash.py.
moto's backends answer in this process, with the layer of tests/services/moto_emr.py patched
in (tests/aws/emr_inprocess.py): each step or run moves one state per status read, a replayed
client token returns the run it made, CancelSteps exists. The jobs talk to it through real
boto3 clients. Each example gets a new cluster, application or virtual cluster; each
submission's outcome is drawn as moto makes it; FORGET makes EMR stop answering for the
recorded step or run. The proof that no second step or run was made is moto's own list of
them, each with the reference it was made under (in the step's name, or the client token).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from resumable_core.testing import FakeClock
from tests.aws.emr_inprocess import EmrView, client, emr_in_process, make_job, new_container
from tests.aws.emrkit import KINDS
from tests.contracts.crash_properties import FAILED, Adapter, crash_properties, one_caller_crashing
from tests.core._crash import ANY_FAULT, Fault, FaultKind, batched_status, quiet_logs


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    with quiet_logs():
        yield


@pytest.fixture(scope="module")
def moto_in_process() -> Iterator[Any]:
    with emr_in_process() as creations:
        yield creations


@pytest.fixture(scope="module", params=KINDS)
def emr(request: pytest.FixtureRequest, moto_in_process: Any) -> Adapter:
    """One flavour: a boto3 client for the module (making one costs more than an example), a
    new container per example."""
    kind: str = request.param
    api = client(kind)
    views: list[EmrView] = []

    def cluster(clock: FakeClock, outcomes: Sequence[str]) -> EmrView:
        views[:] = [EmrView(kind, new_container(kind, api), moto_in_process, outcomes)]
        return views[0]

    def make() -> Any:
        return make_job(kind, api, views[0].container)

    job_factory: Callable[[], Any] = make  # the harness's union names the Spark and pod jobs
    return Adapter(cluster, job_factory)


(
    test_one_caller_crashing_never_makes_two_steps_or_runs,
    test_two_callers_on_one_key_make_one_at_a_time,
    test_an_operator_cancel_mid_run_is_kept,
) = crash_properties("emr", ANY_FAULT, examples=(60, 25, 25), last_steps=(40, 40, 40), cancel_after=20)


# Batched status on (issue 23): each status check asks the container's status listing first (ListSteps
# with StepStates, ListJobRuns with states), and only a step or run it does not show is read directly.


test_batched_one_caller_crashing_never_makes_two_steps_or_runs, test_batched_two_callers_on_one_key_make_one_at_a_time = (
    crash_properties("emr", ANY_FAULT, examples=(15, 10), last_steps=(40, 40), around=batched_status))


# -- the moments that matter, replayed on every run -----------------------------------------------


def test_a_lost_submit_answer_is_found_again_not_submitted_twice(emr: Adapter) -> None:
    """EMR made the step or run, its caller saw a timeout (step 2: the submit): found by the
    step's name, the EKS run's name, or the Serverless token's replay."""
    world, record = one_caller_crashing(emr, {2: Fault(FaultKind.LOSE_SUBMIT_RESPONSE)}, [], 120.0, False, 0)
    assert isinstance(world.cluster, EmrView) and world.cluster.injected == 1  # the answer was lost
    assert [j.job_id for j in world.cluster.jobs()] == [record.job_id] and len(record.history) == 1


def test_a_crash_after_the_submit_adopts_the_one_made(emr: Adapter) -> None:
    """The process dies once the submit took effect, before the id was recorded (step 2)."""
    world, record = one_caller_crashing(emr, {2: Fault(FaultKind.CRASH_AFTER)}, [], 1.0, False, 0)
    assert [j.job_id for j in world.cluster.jobs()] == [record.job_id] and len(record.history) == 1


def test_a_failed_submission_is_followed_by_one_new_one(emr: Adapter) -> None:
    """The first step or run fails: one new submission under a new reference, and it succeeds."""
    world, record = one_caller_crashing(emr, {}, [FAILED], 120.0, False, 0)
    jobs = world.cluster.jobs()
    assert [j.state for j in jobs] == ["failed", "succeeded"], jobs
    assert len({j.reference for j in jobs}) == 2 and len(record.history) == 2


def test_a_forgotten_step_or_run_mid_poll_is_submitted_once_more(emr: Adapter) -> None:
    """EMR stops answering for the recorded step or run while it is polled (step 5): one new one."""
    world, record = one_caller_crashing(emr, {5: Fault(FaultKind.FORGET)}, [], 120.0, False, 0)
    jobs = world.cluster.jobs()
    [kept] = [j for j in jobs if not j.forgotten]
    assert len(jobs) == 2 and kept.job_id == record.job_id and kept.succeeded, jobs
    assert [h.job_id for h in record.history] == [j.job_id for j in jobs if j.forgotten] + [kept.job_id]


def test_batched_status_checks_go_through_the_container_listing(emr: Adapter) -> None:
    """With batched status on, the status checks of the properties above do list (what makes them batched)."""
    listings: list[list[str]] = []

    def make_listing_job() -> Any:
        job: Any = emr.make_job()  # one of the three EMR jobs; its listing wrapped
        listed = job.get_job_statuses

        def get_job_statuses(job_ids: Sequence[str]) -> Any:
            listings.append(list(job_ids))
            return listed(job_ids)

        job.get_job_statuses = get_job_statuses
        return job

    with batched_status():
        _, record = one_caller_crashing(Adapter(emr.cluster, make_listing_job), {}, [], 120.0, False, 0)
    assert listings and all(ids == [record.job_id] for ids in listings), listings
