"""The edge's error mapping and the failure cases, with moto's server and our layer misbehaving on purpose.

Faults come from the layer (tests/services/moto_emr.py ``fault``): the request never
reaches moto and gets an AWS error instead, or reaches it and loses its answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from resumable_adapters.aws import EmrClusterTerminated, EmrStepJob
from resumable_core import (
    JobFailed,
    JobLost,
    OnLost,
    Phase,
    Policy,
    SubmissionRejected,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core import MemoryStateStore as Store
from resumable_core.events import StatusChanged
from tests.aws.emrkit import FAIL, FAST, HOLD, KINDS, job_ids, make_job, new_container
from tests.services.moto_emr import EmrMotoServer

STATUS_READ = {"step": "DescribeStep", "serverless": r"GET /applications/[^/]+/jobruns/",
               "eks": r"GET /virtualclusters/[^/]+/jobruns/"}
CREATE = {"step": "AddJobFlowSteps", "serverless": r"POST /applications/[^/]+/jobruns$",
          "eks": r"POST /virtualclusters/[^/]+/jobruns$"}
STORM = [("ThrottlingException", 400), ("TooManyRequestsException", 429), ("InternalFailure", 500),
         ("ServiceUnavailable", 503), ("ExpiredTokenException", 403), ("ThrottlingException", 400)]
SECRET = "s3cr3t-t0ken-value"


@pytest.fixture
def server(emr_moto: EmrMotoServer) -> Iterator[EmrMotoServer]:
    emr_moto.clear_faults()
    yield emr_moto
    emr_moto.clear_faults()


@pytest.mark.parametrize("kind", KINDS)
def test_throttling_storm_and_expired_credentials_mid_poll_are_transient(server: EmrMotoServer, kind: str) -> None:
    container = new_container(server, kind)
    for code, status in STORM:
        server.fault(STATUS_READ[kind], code=code, status=status)
    store = Store()
    result = run_resumable(make_job(server.endpoint_url, kind, container), store, key="k", poll=FAST)
    assert server.faults_left() == 0  # every fault was seen by the adapter and asked again
    assert isinstance(result, dict) and result["state"] in ("COMPLETED", "SUCCESS")
    assert len(job_ids(server.endpoint_url, kind, container)) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException"])
def test_a_refused_submission_says_why_and_keeps_no_secret(server: EmrMotoServer, kind: str, code: str) -> None:
    container = new_container(server, kind)
    server.fault(CREATE[kind], code=code, message=f"User is not authorized to pass role; Authorization: Bearer {SECRET}")
    store = Store()
    with pytest.raises(SubmissionRejected) as info:
        run_resumable(make_job(server.endpoint_url, kind, container), store, key="k", poll=FAST)
    assert code in str(info.value) and "not authorized to pass role" in str(info.value)
    assert SECRET not in str(info.value)
    record = load_record(store, "k")
    assert record is not None and record.phase is Phase.FAILED
    assert SECRET not in json.dumps(store.get("k"))
    assert job_ids(server.endpoint_url, kind, container) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_create_whose_answer_was_lost_is_found_on_the_next_run(server: EmrMotoServer, kind: str) -> None:
    container = new_container(server, kind)
    server.fault(CREATE[kind], code="InternalFailure", status=500, after=True)  # made, answer lost
    store = Store()
    with pytest.raises(TransientError):
        run_resumable(make_job(server.endpoint_url, kind, container), store, key="k", poll=FAST)
    record = load_record(store, "k")
    assert record is not None and record.phase is Phase.INTENT  # kept: the next run looks it up
    made = job_ids(server.endpoint_url, kind, container)
    assert len(made) == 1
    run_resumable(make_job(server.endpoint_url, kind, container), store, key="k", poll=FAST)
    assert job_ids(server.endpoint_url, kind, container) == made
    record = load_record(store, "k")
    assert record is not None and record.job_id == made[0] and record.phase is Phase.SUCCEEDED


@pytest.mark.parametrize("kind", KINDS)
def test_a_resubmission_after_failure_is_a_new_job(server: EmrMotoServer, kind: str) -> None:
    """A new reference, so a new token: the failed run is not handed back (the stock operator's fault)."""
    container = new_container(server, kind)
    store = Store()
    failed: list[str | None] = []
    for _ in range(2):
        with pytest.raises(JobFailed) as info:
            run_resumable(make_job(server.endpoint_url, kind, container, [FAIL]), store, key="k", poll=FAST)
        failed.append(info.value.job_id)
    assert failed[0] != failed[1]
    assert set(job_ids(server.endpoint_url, kind, container)) == set(failed)


@pytest.mark.parametrize("kind", KINDS)
def test_a_deleted_run_is_not_found_and_policy_decides(server: EmrMotoServer, kind: str) -> None:
    container = new_container(server, kind)
    store = Store()
    code = "InvalidRequestException" if kind == "step" else "ResourceNotFoundException"
    server.fault(STATUS_READ[kind], code=code, count=1000, message="does not exist")
    with pytest.raises(JobLost):
        run_resumable(make_job(server.endpoint_url, kind, container), store, key="k", poll=FAST,
                      policy=Policy(on_lost=OnLost.FAIL))
    assert len(job_ids(server.endpoint_url, kind, container)) == 1


def test_a_cluster_terminated_under_a_running_step_is_a_clear_error_not_a_resubmission(server: EmrMotoServer) -> None:
    cluster = new_container(server, "step")
    store = Store()
    running = threading.Event()
    outcome: dict[str, Exception] = {}

    def first_run() -> None:
        try:
            run_resumable(make_job(server.endpoint_url, "step", cluster, [HOLD]), store, key="k", poll=FAST,
                          listener=lambda e: running.set() if isinstance(e, StatusChanged) and e.status == "RUNNING"
                          else None)
        except Exception as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=first_run)
    thread.start()
    assert running.wait(30)
    server.client("emr").terminate_job_flows(JobFlowIds=[cluster])
    thread.join(30)
    error = outcome.get("error")
    assert isinstance(error, JobFailed) and error.status == "CANCELLED"
    with pytest.raises(EmrClusterTerminated, match="TERMINATED"):
        run_resumable(make_job(server.endpoint_url, "step", cluster, [HOLD]), store, key="k", poll=FAST)
    assert len(job_ids(server.endpoint_url, "step", cluster)) == 1


def test_a_cluster_emr_does_not_know_is_not_a_lost_step(server: EmrMotoServer) -> None:
    job = make_job(server.endpoint_url, "step", "j-DOESNOTEXIST1")
    with pytest.raises(EmrClusterTerminated):
        job.get_job_status("s-ABCDEF1234567")
    with pytest.raises(EmrClusterTerminated):
        job.submit_job("0123abcd")


def test_the_step_lookup_reads_every_page(server: EmrMotoServer) -> None:
    cluster = new_container(server, "step")
    ours = make_job(server.endpoint_url, "step", cluster, [HOLD])
    assert isinstance(ours, EmrStepJob)
    step_id = ours.submit_job("ref-oldest")
    emr = server.client("emr")
    for batch in range(3):  # 120 newer steps: ours, the oldest, is on the third page
        emr.add_job_flow_steps(JobFlowId=cluster, Steps=[
            {"Name": f"other-{batch}-{i}", "HadoopJarStep": {"Jar": "x", "Args": [HOLD]}} for i in range(40)])
    first = emr.list_steps(ClusterId=cluster)
    assert len(first["Steps"]) == 50 and first.get("Marker")  # the listing pages
    assert ours.find_job_by_reference("ref-oldest") == step_id
    assert ours.find_job_by_reference("ref-never") is None
