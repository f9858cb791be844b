"""The Databricks jobs against the loopback workspace through the real databricks-sdk client:
tokens, statuses, results, error mapping (and the SDK's own retries kept out of the way)."""

from __future__ import annotations

from typing import Any

import pytest

from resumable_adapters.databricks import (
    ACTIVE_STATES,
    DatabricksJobsClient,
    DatabricksRunNowJob,
    DatabricksSubmitRunJob,
    RunDeleted,
)
from resumable_core import (
    InvalidArgument,
    JobFailed,
    JobNotFound,
    MemoryStateStore,
    Phase,
    SubmissionRejected,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core.errors import ExternalSystemError, MalformedAnswer
from tests.databricks.conftest import FAST_POLL, task
from tests.services.databricks_api import DatabricksApiServer


def submit_job(client: DatabricksJobsClient, *outcomes: str, **options: Any) -> DatabricksSubmitRunJob:
    tasks = [task(f"t{i}", outcome, outcome) for i, outcome in enumerate(outcomes or ("SUCCESS",))]
    return DatabricksSubmitRunJob(client, {"run_name": "etl", "tasks": tasks}, **options)


# -- idempotency tokens ------------------------------------------------------------------------


def test_a_replayed_submit_returns_the_same_run(databricks_api: DatabricksApiServer,
                                                databricks_client: DatabricksJobsClient) -> None:
    job = submit_job(databricks_client)
    first = job.submit_job("a" * 32)
    assert job.submit_job("a" * 32) == first
    assert databricks_api.runs_created() == 1
    assert databricks_api.requests[-1][2]["idempotency_token"] == "a" * 32


def test_a_token_over_64_characters_is_refused_before_asking(databricks_api: DatabricksApiServer,
                                                             databricks_client: DatabricksJobsClient) -> None:
    with pytest.raises(InvalidArgument, match="64"):
        submit_job(databricks_client).submit_job("r" * 65)
    assert databricks_api.calls("/runs/submit") == 0


def test_a_resubmission_after_a_failure_gets_a_new_token_and_run(databricks_api: DatabricksApiServer,
                                                                 databricks_client: DatabricksJobsClient) -> None:
    store = MemoryStateStore()
    with pytest.raises(JobFailed):
        run_resumable(submit_job(databricks_client, "FAILED"), store, key="k", poll=FAST_POLL)
    with pytest.raises(JobFailed):
        run_resumable(submit_job(databricks_client, "FAILED"), store, key="k", poll=FAST_POLL)
    tokens = [body["idempotency_token"] for method, path, body in databricks_api.requests
              if path.endswith("/runs/submit")]
    assert len(tokens) == 2 and tokens[0] != tokens[1]  # a fixed token would hand back the failed run
    assert databricks_api.runs_created() == 2


def test_the_token_of_a_deleted_run_is_a_typed_refusal(databricks_api: DatabricksApiServer,
                                                       databricks_client: DatabricksJobsClient) -> None:
    job = submit_job(databricks_client)
    run_id = int(job.submit_job("d" * 32))
    databricks_api.run(run_id).deleted = True
    with pytest.raises(RunDeleted, match="deleted") as info:
        job.submit_job("d" * 32)
    assert isinstance(info.value, SubmissionRejected)  # the core ends the intent: no resubmission loop
    with pytest.raises(JobNotFound):
        job.get_job_status(str(run_id))


def test_the_caller_cannot_fix_the_token(databricks_client: DatabricksJobsClient) -> None:
    with pytest.raises(InvalidArgument, match="idempotency_token"):
        DatabricksSubmitRunJob(databricks_client, {"tasks": [task("a")], "idempotency_token": "fixed"})


def test_an_unknown_jobs_api_field_is_named(databricks_client: DatabricksJobsClient) -> None:
    job = DatabricksSubmitRunJob(databricks_client, {"tasks": [task("a")], "taks": []})
    with pytest.raises(InvalidArgument, match="taks"):
        job.submit_job("b" * 32)


def test_run_now_passes_the_token_and_the_reference_parameter(databricks_api: DatabricksApiServer,
                                                              databricks_client: DatabricksJobsClient) -> None:
    databricks_api.create_job(42, [task("a"), task("b")], parameters={"ref": "", "day": ""})
    job = DatabricksRunNowJob(databricks_client, 42, {"job_parameters": {"day": "2026-12-06"}},
                              reference_parameter="ref")
    run_id = job.submit_job("c" * 32)
    assert job.submit_job("c" * 32) == run_id and databricks_api.runs_created() == 1
    assert databricks_api.run(int(run_id)).job_parameters == {"ref": "c" * 32, "day": "2026-12-06"}
    assert job.find_job_by_reference("c" * 32) == run_id
    assert job.find_job_by_reference("e" * 32) is None
    with pytest.raises(SubmissionRejected, match="RESOURCE_DOES_NOT_EXIST"):
        DatabricksRunNowJob(databricks_client, 43).submit_job("f" * 32)


# -- statuses and results ----------------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_every_documented_waiting_state_is_active(databricks_client: DatabricksJobsClient, state: str) -> None:
    job = submit_job(databricks_client)
    assert job.is_job_active(state) and not job.is_job_succeeded(state)


def test_status_comes_from_status_not_the_deprecated_state(databricks_api: DatabricksApiServer,
                                                           databricks_client: DatabricksJobsClient) -> None:
    job = submit_job(databricks_client, "HOLD")
    run_id = job.submit_job("s" * 32)
    seen = [job.get_job_status(run_id) for _ in range(3)]
    assert seen == ["PENDING", "RUNNING", "RUNNING"]
    databricks_api.release(int(run_id), "FAILED")
    while job.is_job_active(status := job.get_job_status(run_id)):
        pass
    assert status == "TERMINATED CLIENT_ERROR/RUN_EXECUTION_ERROR" and not job.is_job_succeeded(status)


def test_success_with_failures_fails_unless_the_job_accepts_it(databricks_client: DatabricksJobsClient) -> None:
    status = "TERMINATED SUCCESS/SUCCESS_WITH_FAILURES"
    assert not submit_job(databricks_client).is_job_succeeded(status)
    lenient = submit_job(databricks_client, success_codes={"SUCCESS", "SUCCESS_WITH_FAILURES"})
    assert lenient.is_job_succeeded(status)
    assert not lenient.is_job_succeeded("TERMINATED CLIENT_ERROR/USER_CANCELED")


def test_the_result_has_the_run_page_and_every_task_across_pages(databricks_client: DatabricksJobsClient) -> None:
    api = DatabricksApiServer(page_size=2).start()
    try:
        client = DatabricksJobsClient(api.url, token=api.token, timeout=5.0)
        job = DatabricksSubmitRunJob(client, {"tasks": [task(f"t{i}", "FAILED" if i == 3 else "SUCCESS")
                                                        for i in range(5)]})
        with pytest.raises(JobFailed) as info:
            run_resumable(job, MemoryStateStore(), key="pages", poll=FAST_POLL)
        assert info.value.status == "TERMINATED CLIENT_ERROR/RUN_EXECUTION_ERROR"
        assert info.value.job_id is not None
        result = job.get_job_result(info.value.job_id, info.value.status)
        assert [t["task_key"] for t in result["tasks"]] == ["t0", "t1", "t2", "t3", "t4"]
        assert [t["termination_code"] for t in result["tasks"]].count("RUN_EXECUTION_ERROR") == 1
        assert result["run_page_url"].endswith(f"/run/{info.value.job_id}")
        assert api.calls("/runs/get") > api.calls("/runs/submit")  # the later pages were asked for
    finally:
        api.stop()


def test_cancel_ends_the_run_as_user_canceled(databricks_api: DatabricksApiServer,
                                              databricks_client: DatabricksJobsClient) -> None:
    job = submit_job(databricks_client, "HOLD")
    run_id = job.submit_job("x" * 32)
    job.get_job_status(run_id)
    job.cancel_job(run_id)
    assert job.get_job_status(run_id) == "TERMINATED CLIENT_ERROR/USER_CANCELED"
    job.cancel_job(run_id)  # an ended run: not an error


def test_one_listing_gives_the_active_runs_and_leaves_the_rest_to_a_direct_ask(
        databricks_api: DatabricksApiServer, databricks_client: DatabricksJobsClient) -> None:
    held = submit_job(databricks_client, "HOLD")
    first, second = held.submit_job("1" * 32), held.submit_job("2" * 32)
    ended = submit_job(databricks_client).submit_job("3" * 32)
    while held.is_job_active(held.get_job_status(ended)):
        pass
    listed = held.get_job_statuses([first, second, ended, f"{first}/repair/9001", "424242"])
    assert set(listed) == {first, second}  # the ended run, the repair and the unknown run: asked directly
    assert all(held.is_job_active(status) for status in listed.values())
    assert databricks_api.calls("/runs/list") == 1
    assert held.batch_key == submit_job(databricks_client).batch_key  # one client, one listing
    other = DatabricksJobsClient(databricks_api.url, token=databricks_api.token, timeout=5.0)
    assert submit_job(other).batch_key != held.batch_key  # another client may hold other credentials


# -- errors ------------------------------------------------------------------------------------


def test_429_is_transient_with_the_servers_wait_and_asked_once(databricks_api: DatabricksApiServer,
                                                               databricks_client: DatabricksJobsClient) -> None:
    job = submit_job(databricks_client)
    run_id = job.submit_job("t" * 32)
    databricks_api.fail("/runs/get", 429, "REQUEST_LIMIT_EXCEEDED", "Too many requests", **{"Retry-After": "7"})
    before = databricks_api.calls("/runs/get")
    with pytest.raises(TransientError) as info:
        job.get_job_status(run_id)
    assert info.value.retry_after == 7.0 and "REQUEST_LIMIT_EXCEEDED" in str(info.value)
    assert databricks_api.calls("/runs/get") == before + 1  # the SDK did not retry behind our back


def test_the_poller_waits_as_long_as_retry_after_says(databricks_api: DatabricksApiServer,
                                                      databricks_client: DatabricksJobsClient) -> None:
    databricks_api.fail("/runs/get", 429, "REQUEST_LIMIT_EXCEEDED", "Too many requests", **{"Retry-After": "30"})
    pauses: list[float] = []
    result = run_resumable(submit_job(databricks_client), MemoryStateStore(), key="slow", poll=FAST_POLL,
                           sleep=pauses.append)
    assert result["status"] == "TERMINATED SUCCESS/SUCCESS"
    assert max(pauses) == 30.0  # the server's wait, not the 0.01 s backoff


@pytest.mark.parametrize(("status", "code"), [(500, "INTERNAL_ERROR"), (503, "TEMPORARILY_UNAVAILABLE")])
def test_5xx_is_transient(databricks_api: DatabricksApiServer, databricks_client: DatabricksJobsClient,
                          status: int, code: str) -> None:
    job = submit_job(databricks_client)
    run_id = job.submit_job("u" * 32)
    databricks_api.fail("/runs/get", status, code, "Unexpected error")  # a message the SDK would retry on
    with pytest.raises(TransientError):
        job.get_job_status(run_id)
    assert job.get_job_status(run_id) == "PENDING"


@pytest.mark.parametrize("status", [502, 200])
def test_a_page_that_is_not_json_is_a_malformed_answer_asked_again(databricks_api: DatabricksApiServer,
                                                                   databricks_client: DatabricksJobsClient,
                                                                   status: int) -> None:
    job = submit_job(databricks_client)
    run_id = job.submit_job("m" * 32)
    databricks_api.fail_with_text("/runs/get", status, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    with pytest.raises(MalformedAnswer):  # a TransientError: never a verdict on the run
        job.get_job_status(run_id)
    assert job.get_job_status(run_id) == "PENDING"


def test_an_unreachable_workspace_is_transient() -> None:
    server = DatabricksApiServer().start()
    client = DatabricksJobsClient(server.url, token=server.token, timeout=2.0)
    server.stop()
    with pytest.raises(TransientError):
        DatabricksSubmitRunJob(client, {"tasks": [task("a")]}).get_job_status("1001")
    # The SDK's host-metadata probe (made while the client is built, outside our clock) retries an
    # unreachable host for retry_timeout_seconds: bounded by the client's timeout, not 300 s.
    assert client.workspace.config.retry_timeout_seconds == 2


def test_404_on_a_run_is_not_found(databricks_client: DatabricksJobsClient) -> None:
    with pytest.raises(JobNotFound, match="RESOURCE_DOES_NOT_EXIST"):
        submit_job(databricks_client).get_job_status("5555")


@pytest.mark.parametrize("who", ["forbidden", "wrong"])
def test_401_and_403_are_refusals_with_the_servers_message_and_no_token(databricks_api: DatabricksApiServer,
                                                                       who: str) -> None:
    secret = "dapi-not-the-right-one-0123456789"
    if who == "forbidden":
        databricks_api.forbidden.add(secret)
    client = DatabricksJobsClient(databricks_api.url, token=secret, timeout=5.0)
    store = MemoryStateStore()
    with pytest.raises(SubmissionRejected) as info:
        run_resumable(DatabricksSubmitRunJob(client, {"tasks": [task("a")]}), store, key="auth", poll=FAST_POLL)
    assert ("permission" if who == "forbidden" else "Invalid access token") in str(info.value)
    with pytest.raises(ExternalSystemError) as status_info:
        DatabricksSubmitRunJob(client, {"tasks": [task("a")]}).get_job_status("1001")
    assert not isinstance(status_info.value, (TransientError, JobNotFound))
    for text in (str(info.value), str(status_info.value), repr(load_record(store, "auth"))):
        assert secret not in text
    record = load_record(store, "auth")
    assert record is not None and record.phase is Phase.FAILED and record.job_id is None


def test_invalid_parameters_are_a_refusal_and_nothing_is_resubmitted(databricks_api: DatabricksApiServer,
                                                                      databricks_client: DatabricksJobsClient) -> None:
    store = MemoryStateStore()
    with pytest.raises(SubmissionRejected, match="INVALID_PARAMETER_VALUE: At least one task"):
        run_resumable(DatabricksSubmitRunJob(databricks_client, {"tasks": []}), store, key="bad", poll=FAST_POLL)
    assert databricks_api.calls("/runs/submit") == 1 and databricks_api.runs_created() == 0
    record = load_record(store, "bad")
    assert record is not None and record.phase is Phase.FAILED
