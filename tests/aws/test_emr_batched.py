"""Batched status for the three EMR jobs: a Supervisor with batching on, against moto's server and our layer.

Each test makes its own cluster, application or virtual cluster and counts, in the layer,
the requests its jobs make there: one status listing (ListSteps / ListJobRuns filtered to
the active states) per tick for all of them, no direct read while they are listed, a
direct read for one the listing leaves out (never a resubmission), and a listing that is
throttled spends budgets without resubmitting. The jobs are held RUNNING until the test
releases them, so nothing here depends on how fast anything starts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from resumable_core import PollPolicy
from tests.aws.emrkit import HOLD, KINDS, job_ids, make_job, new_container
from tests.contracts.batching import SupervisorThread, result_of, wait_until
from tests.services.moto import FAKE_KEY, REGION
from tests.services.moto_emr import EmrMotoServer

TICK = 0.2
POLL = PollPolicy(min_interval=0.02, max_interval=0.05, jitter=0.0, transient_seconds=30.0, deadline=60.0)
JOBS = 4


def patterns(kind: str, container: str) -> tuple[str, str, str]:
    """Regexes over the layer's ``METHOD path target``: the status listing, a direct read, a submission."""
    if kind == "step":
        return r"ElasticMapReduce\.ListSteps$", r"ElasticMapReduce\.DescribeStep$", r"ElasticMapReduce\.AddJobFlowSteps$"
    base = f"/applications/{container}" if kind == "serverless" else f"/virtualclusters/{container}"
    return rf"^GET {base}/jobruns$", rf"^GET {base}/jobruns/[0-9a-z]+$", rf"^POST {base}/jobruns$"


def held_jobs(server: EmrMotoServer, kind: str, container: str, ids: dict[int, str],
              hide: Callable[[int], bool] = lambda _: False) -> list[Any]:
    """*JOBS* held jobs; job *number*'s id goes to ``ids[number]`` (hidden from listings when *hide* says)."""
    jobs = []
    for number in range(JOBS):
        job = make_job(server.endpoint_url, kind, container, [HOLD], spec=f"s{number}")
        submit = job.submit_job

        def submitted(reference: str, submit: Callable[[str], str] = submit, number: int = number) -> str:
            job_id = submit(reference)
            if hide(number):
                server.hide(job_id)
            ids[number] = job_id
            return job_id

        job.submit_job = submitted  # type: ignore[method-assign]  # the test's one hook: learn the ids
        jobs.append(job)
    return jobs


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def container(emr_moto: EmrMotoServer, kind: str) -> Iterator[str]:
    yield new_container(emr_moto, kind)
    emr_moto.clear_faults()


def test_one_listing_per_tick_and_no_direct_read_while_listed(emr_moto: EmrMotoServer, kind: str,
                                                              container: str) -> None:
    listing, direct, submission = patterns(kind, container)
    ids: dict[int, str] = {}
    running = SupervisorThread(held_jobs(emr_moto, kind, container, ids), tick=TICK, poll=POLL)
    wait_until(lambda: len(ids) == JOBS, "every job submitted")
    listings0, direct0, started = emr_moto.count(listing), emr_moto.count(direct), time.monotonic()
    wait_until(lambda: emr_moto.count(listing) >= listings0 + 5, "five more listings")
    listings, elapsed = emr_moto.count(listing) - listings0, time.monotonic() - started
    # Four jobs polling every 0.05 s would read ~80 times a second; batched, the cluster sees
    # one listing per tick, whatever the machine's speed (a slow one makes fewer).
    assert listings <= elapsed / TICK + 2, f"{listings} listings in {elapsed:.2f} s with a {TICK} s tick"
    assert emr_moto.count(direct) == direct0, "a listed job was also asked directly"
    for job_id in ids.values():
        emr_moto.release(job_id)
    outcomes = running.join()
    assert all(o.ok for o in outcomes.values()), outcomes
    succeeded = {"step": "COMPLETED", "serverless": "SUCCESS", "eks": "COMPLETED"}[kind]
    assert {result_of(o)["state"] for o in outcomes.values()} == {succeeded}
    # A run that ended is not in the (active-state) listing: one direct read each, whose answer is the result.
    assert emr_moto.count(direct) - direct0 == JOBS
    assert emr_moto.count(submission) >= JOBS and sorted(job_ids(emr_moto.endpoint_url, kind, container)) == sorted(ids.values())


def test_a_job_missing_from_the_listing_is_asked_directly_and_never_resubmitted(
        emr_moto: EmrMotoServer, kind: str, container: str) -> None:
    listing, direct, submission = patterns(kind, container)
    ids: dict[int, str] = {}
    submissions0 = emr_moto.count(submission)
    running = SupervisorThread(held_jobs(emr_moto, kind, container, ids, hide=lambda number: number == 0),
                               tick=TICK, poll=POLL)
    wait_until(lambda: len(ids) == JOBS, "every job submitted")
    direct0 = emr_moto.count(direct)
    listings0 = emr_moto.count(listing)
    wait_until(lambda: emr_moto.count(listing) >= listings0 + 3 and emr_moto.count(direct) >= direct0 + 3,
               "listings, and direct reads of the job they leave out")
    hidden = ids[0]
    listed = make_job(emr_moto.endpoint_url, kind, container).get_job_statuses(list(ids.values()))
    assert set(listed) == set(ids.values()) - {hidden}, listed
    if kind != "step":  # a run's path names it: the direct reads were all of the hidden one
        only_hidden = rf"^GET /(applications|virtualclusters)/{container}/jobruns/{hidden}$"
        assert emr_moto.count(only_hidden) == emr_moto.count(direct) - direct0
    for job_id in ids.values():
        emr_moto.release(job_id)
    outcomes = running.join()
    assert all(o.ok for o in outcomes.values()), outcomes
    assert result_of(outcomes["k0"])["job_run_id" if kind != "step" else "step_id"] == hidden
    # Counted in the layer: the hidden one is in no listing, job_ids() included.
    assert emr_moto.count(submission) - submissions0 == JOBS, "a job was resubmitted"


def test_a_throttled_listing_spends_budgets_and_resubmits_nothing(emr_moto: EmrMotoServer, kind: str,
                                                                  container: str) -> None:
    listing, _, _ = patterns(kind, container)
    emr_moto.fault(listing, code="ThrottlingException", status=400, count=3,
                   message="Rate exceeded")
    ids: dict[int, str] = {}
    running = SupervisorThread(held_jobs(emr_moto, kind, container, ids), tick=TICK, poll=POLL)
    wait_until(lambda: len(ids) == JOBS and emr_moto.faults_left() == 0, "the throttled listings")
    for job_id in ids.values():
        emr_moto.release(job_id)
    outcomes = running.join()
    assert all(o.ok for o in outcomes.values()), outcomes
    assert sorted(job_ids(emr_moto.endpoint_url, kind, container)) == sorted(ids.values())


def test_the_batch_key_names_the_container_and_hides_the_credentials(emr_moto: EmrMotoServer) -> None:
    import boto3  # type: ignore[import-untyped]  # no stubs installed

    cluster = emr_moto.make_cluster()
    first = make_job(emr_moto.endpoint_url, "step", cluster)
    same = make_job(emr_moto.endpoint_url, "step", cluster, spec="other")
    other_cluster = make_job(emr_moto.endpoint_url, "step", "j-OTHER")
    secret = "s3cr3t-" + uuid.uuid4().hex
    other_keys = make_job(emr_moto.endpoint_url, "step", cluster)
    other_keys.client = boto3.client("emr", endpoint_url=emr_moto.endpoint_url, region_name=REGION,
                                     aws_access_key_id="AKIDOTHER", aws_secret_access_key=secret)
    assert first.batch_key == same.batch_key
    assert first.batch_key != other_cluster.batch_key
    assert first.batch_key != other_keys.batch_key
    for key in (first.batch_key, other_keys.batch_key):
        assert cluster in key and secret not in key and "AKIDOTHER" not in key and FAKE_KEY not in key
