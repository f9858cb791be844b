"""SparkYarnJob and YarnRestClient against the loopback ResourceManager (submission: the recorded launcher)."""

from __future__ import annotations

import os
import uuid

import pytest

from resumable_adapters.spark._cluster_submission import reference_slug
from resumable_adapters.spark._launcher import SparkSubmitLauncher
from resumable_adapters.spark._yarn import SparkYarnJob
from resumable_adapters.yarn._client import YarnRestClient
from resumable_core import (
    InvalidArgument,
    JobNotFound,
    MemoryStateStore,
    Phase,
    Policy,
    ProtocolError,
    SubmissionRejected,
    TransientError,
    load_record,
    run_resumable,
)
from tests.services.yarn_rm import YarnResourceManager
from tests.spark_yarn.conftest import FAST_POLL, JobFactory, submission


@pytest.mark.parametrize(
    ("state", "final", "status", "active", "succeeded"),
    [
        ("ACCEPTED", "UNDEFINED", "ACCEPTED/UNDEFINED", True, False),
        ("RUNNING", "UNDEFINED", "RUNNING/UNDEFINED", True, False),
        ("FINISHED", "SUCCEEDED", "FINISHED/SUCCEEDED", False, True),
        ("FINISHED", "FAILED", "FINISHED/FAILED", False, False),  # the case a state-only check gets wrong
        ("FINISHED", "KILLED", "FINISHED/KILLED", False, False),
        ("FINISHED", "UNDEFINED", "FINISHED/UNDEFINED", False, False),
        ("FAILED", "FAILED", "FAILED/FAILED", False, False),
        ("KILLED", "KILLED", "KILLED/KILLED", False, False),
    ],
)
def test_state_and_final_status_mapping(make_yarn_job: JobFactory, yarn_rm: YarnResourceManager, state: str,
                                        final: str, status: str, active: bool, succeeded: bool) -> None:
    job = make_yarn_job(60.0)
    app_id = job.submit_job(uuid.uuid4().hex)
    yarn_rm.set_state(app_id, state, final)
    assert job.get_job_status(app_id) == status
    assert job.is_job_active(status) is active and job.is_job_succeeded(status) is succeeded


def test_an_unknown_state_is_a_protocol_error_and_a_forgotten_app_is_not_found(
    make_yarn_job: JobFactory, yarn_rm: YarnResourceManager
) -> None:
    job = make_yarn_job(60.0)
    app_id = job.submit_job(uuid.uuid4().hex)
    yarn_rm.set_state(app_id, "PAUSED")
    with pytest.raises(ProtocolError) as info:
        job.get_job_status(app_id)
    assert info.value.job_id == app_id and info.value.status == "PAUSED"
    yarn_rm.forget(app_id)
    with pytest.raises(JobNotFound):
        job.get_job_status(app_id)
    with pytest.raises(InvalidArgument):
        job.get_job_status("application_1/../../x")


@pytest.mark.parametrize("text_page", [False, True], ids=["307-redirect", "standby-page"])
def test_a_standby_rm_sends_the_client_to_the_active_one(yarn_rm: YarnResourceManager, text_page: bool) -> None:
    standby = YarnResourceManager(standby_for=yarn_rm, standby_text=text_page).start()
    try:
        app_id = yarn_rm.register("etl", ["t"], ["60", "0"])
        client = YarnRestClient([standby.url, yarn_rm.url], user="spark", timeout=5.0)
        app = client.application(app_id)
        assert app is not None and app.app_id == app_id
        assert client.active_rm_url == yarn_rm.url
        asked = len(standby.requests)
        assert client.application(app_id) is not None
        assert len(standby.requests) == asked  # the active RM is asked first from now on
    finally:
        standby.stop()


def test_no_active_rm_is_transient(yarn_standby: YarnResourceManager) -> None:
    lone = YarnRestClient([yarn_standby.url, "http://127.0.0.1:9"], user="spark", timeout=2.0)
    with pytest.raises(TransientError, match="no active YARN ResourceManager"):
        lone.application("application_1764200000000_0001")


def test_user_name_is_sent_and_its_absence_is_a_protocol_error(yarn_rm: YarnResourceManager) -> None:
    app_id = yarn_rm.register("etl", [], ["60", "0"])
    assert YarnRestClient(yarn_rm.url, user="etl-bot").application(app_id) is not None
    assert yarn_rm.requests[-1][2] == "etl-bot"
    with pytest.raises(ProtocolError, match="401"):
        YarnRestClient(yarn_rm.url).application(app_id)


def test_kill_answers_202_while_in_progress_then_the_app_is_killed(
    yarn_client: YarnRestClient, yarn_rm: YarnResourceManager
) -> None:
    app_id = yarn_rm.register("etl", [], ["60", "0"])
    yarn_rm.set_state(app_id, "RUNNING")
    yarn_rm.kill_delay = 0.0  # the kill completes by the next read; the PUT itself still answers 202
    assert yarn_client.kill(app_id) == "RUNNING"  # 202: accepted, not done
    job = SparkYarnJob(yarn_client, submission(), launcher=SparkSubmitLauncher("/bin/false"))
    app = yarn_rm.app(app_id)
    assert app is not None and app["state"] == "KILLED"
    assert job.get_job_status(app_id) == "KILLED/KILLED"
    assert yarn_client.kill(app_id) == "KILLED"  # 200 on an ended app: not an error
    assert yarn_client.kill("application_1764200000000_0999") is None


def test_find_by_tag_prefers_the_live_application_and_matches_tags_exactly(
    make_yarn_job: JobFactory, yarn_rm: YarnResourceManager
) -> None:
    job = make_yarn_job(60.0)
    reference = "Ref:With_Case"  # not a valid YARN tag as is: hashed, never lowercased into another's
    tag = SparkYarnJob.tag(reference)
    assert tag == "resumable-ref-" + reference_slug(reference) and tag == tag.lower()
    assert reference_slug("ref:with_case") != reference_slug(reference)
    ended = yarn_rm.register("etl", [tag], ["0", "0"])
    yarn_rm.set_state(ended, "FINISHED", "FAILED")
    live = job.submit_job(reference)
    yarn_rm.register("other", [tag + "-x"], ["60", "0"])
    assert job.find_job_by_reference(reference) == live
    assert job.find_job_by_reference(uuid.uuid4().hex) is None


def test_the_application_id_comes_from_the_output_even_when_spark_submit_exits_1(
    make_yarn_job: JobFactory, yarn_rm: YarnResourceManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SPARK_MODE", "fail-after-submit")
    app_id = make_yarn_job().submit_job(uuid.uuid4().hex)
    assert set(yarn_rm.apps) == {app_id}


def test_argument_errors_are_rejected_and_an_early_death_keeps_the_intent(
    make_yarn_job: JobFactory, yarn_rm: YarnResourceManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStateStore()
    monkeypatch.setenv("FAKE_SPARK_MODE", "usage")
    with pytest.raises(SubmissionRejected, match="Missing application resource"):
        run_resumable(make_yarn_job(), store, key="bad", poll=FAST_POLL)
    monkeypatch.setenv("FAKE_SPARK_MODE", "fail-before-submit")
    with pytest.raises(TransientError, match="may have submitted"):
        make_yarn_job().submit_job(uuid.uuid4().hex)
    # Through the core: the ambiguous failure keeps the intent; the retry looks the tag up, finds
    # nothing, and submits once with the same reference.
    quick = Policy(intent_lease=0.3)  # the failed run's lease: the retry waits it out before it looks
    with pytest.raises(TransientError):
        run_resumable(make_yarn_job(), store, key="etl", poll=FAST_POLL, policy=quick)
    record = load_record(store, "etl")
    assert record is not None and record.phase is Phase.INTENT
    monkeypatch.setenv("FAKE_SPARK_MODE", "ok")
    result = run_resumable(make_yarn_job(), store, key="etl", poll=FAST_POLL, policy=quick)
    assert result["state"] == "FINISHED" and result["final_status"] == "SUCCEEDED"
    assert len(yarn_rm.apps) == 1
    tags = next(iter(yarn_rm.apps.values())).data["applicationTags"]
    assert SparkYarnJob.tag(record.reference) in tags.split(",")


def test_a_recorded_success_is_returned_after_the_rm_forgot_the_app(
    make_yarn_job: JobFactory, yarn_rm: YarnResourceManager
) -> None:
    store = MemoryStateStore()
    first = run_resumable(make_yarn_job(), store, key="daily", poll=FAST_POLL)
    yarn_rm.forget(str(first["application_id"]))
    asked = len(yarn_rm.requests)
    assert run_resumable(make_yarn_job(), store, key="daily", poll=FAST_POLL) == first
    assert len(yarn_rm.requests) == asked and not yarn_rm.apps


def test_the_user_tags_are_kept_beside_the_reference_tag(make_yarn_job: JobFactory, yarn_rm: YarnResourceManager) -> None:
    job = make_yarn_job(conf={"spark.yarn.tags": "team-a,nightly"})
    app_id = job.submit_job("0123456789abcdef0123456789abcdef")
    assert set(yarn_rm.apps[app_id].data["applicationTags"].split(",")) == {
        "team-a", "nightly", "resumable-ref-0123456789abcdef0123456789abcdef"}
    assert os.environ.get("FAKE_SPARK_MODE") in (None, "ok")
