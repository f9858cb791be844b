"""Issue 9, Spark items, on a loopback server playing the master (REST and web UI) and a worker.

Each test is the answer sequence a real cluster gave in the chaos campaign (or a hostile
server gave in the probes), and what the client must make of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from resumable_adapters.spark import BearerToken, JwsAuth, SparkRestClient, SparkRestJob, SparkSubmission, driver_state
from resumable_core import (
    InvalidArgument,
    JobFailed,
    JobNotFound,
    MemoryStateStore,
    Phase,
    PollPolicy,
    ProtocolError,
    SubmissionRejected,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core.testing import FakeClock
from tests.services.spark import free_port
from tests.spark.misbehaving_server import MisbehavingServer, Reply, misbehaving_server

DRIVER = "driver-20261124065334-0000"
WORKER = "worker-20261124065000-127.0.0.1-7078"
NO_WAIT = PollPolicy(min_interval=0, max_interval=0, jitter=0, transient_attempts=3)


@pytest.fixture
def master() -> Iterator[MisbehavingServer]:
    with misbehaving_server() as s:
        yield s


@pytest.fixture
def worker() -> Iterator[MisbehavingServer]:
    with misbehaving_server() as s:
        yield s


def client_for(master: MisbehavingServer, **kwargs: Any) -> SparkRestClient:
    kwargs.setdefault("timeout", urllib3.Timeout(connect=1.0, read=1.0))
    return SparkRestClient(master.url, web_ui_urls=master.url, **kwargs)


def job_for(client: SparkRestClient, clock: FakeClock | None = None, **kwargs: Any) -> SparkRestJob:
    sub = SparkSubmission(app_resource="file:/jobs/app.jar", main_class="app.Main")
    return SparkRestJob(client, sub, clock=clock or FakeClock(), sleep=lambda s: None, **kwargs)


def status(state: str | None, **extra: Any) -> Reply:
    if state is None:  # Spark's "I do not know this id"
        return Reply.json(action="SubmissionStatusResponse", success=False, submissionId=DRIVER)
    return Reply.json(action="SubmissionStatusResponse", success=True, submissionId=DRIVER, driverState=state, **extra)


def master_json(*workers: MisbehavingServer) -> Reply:
    state = {
        "url": "spark://127.0.0.1:7077", "status": "ALIVE", "aliveworkers": len(workers), "activedrivers": [],
        "completeddrivers": [],
        "workers": [{"id": WORKER if i == 0 else f"{WORKER}{i}", "state": "ALIVE", "webuiaddress": w.url}
                    for i, w in enumerate(workers)],
    }
    return Reply(200, json.dumps(state).encode(), {"Content-Type": "application/json"})


def worker_page(**drivers: str) -> Reply:
    rows = "".join(f"<tr><td>{d}</td><td>app.Main</td><td>{state}</td><td>1</td></tr>" for d, state in drivers.items())
    page = f"<html><title>Spark Worker at 127.0.0.1:7078</title><table><tbody>{rows}</tbody></table></html>"
    return Reply(200, page.encode(), {"Content-Type": "text/html"})


# -- 2. "lost" needs confirmation ---------------------------------------------------------------


def test_unknown_to_a_master_with_no_worker_is_never_lost(master: MisbehavingServer) -> None:
    """A master restarted without recovery: ALIVE, no worker yet, "unknown" for a running driver."""
    master.script(status(None))
    master.route("/json/", master_json())
    clock = FakeClock()
    job = job_for(client_for(master), clock, lost_settle=10)
    for _ in range(3):
        with pytest.raises(TransientError, match="no ALIVE worker"):
            job.get_job_status(DRIVER)
        clock.now += 3600  # however long: no worker, no verdict


def test_lost_needs_two_confirmed_answers_a_settle_period_apart(
    master: MisbehavingServer, worker: MisbehavingServer
) -> None:
    master.script(status(None))
    master.route("/json/", master_json(worker))
    worker.script(worker_page(**{"driver-20261124065334-0009": "RUNNING"}))  # another driver
    clock = FakeClock()
    job = job_for(client_for(master), clock, lost_settle=10)
    with pytest.raises(TransientError, match="before it counts as lost"):
        job.get_job_status(DRIVER)
    clock.now += 9
    with pytest.raises(TransientError, match="before it counts as lost"):
        job.get_job_status(DRIVER)
    clock.now += 1
    with pytest.raises(JobNotFound, match="no worker lists it") as info:
        job.get_job_status(DRIVER)
    assert info.value.job_id == DRIVER
    assert len([r for r in worker.requests if r.path == "/"]) == 3  # every answer asked the worker


def test_a_driver_the_master_knows_again_starts_the_settle_over(master: MisbehavingServer, worker: MisbehavingServer) -> None:
    master.script(status(None), status("RUNNING"), status(None))
    master.route("/json/", master_json(worker))
    worker.script(worker_page())
    clock = FakeClock()
    job = job_for(client_for(master), clock, lost_settle=10)
    with pytest.raises(TransientError):
        job.get_job_status(DRIVER)
    clock.now += 5
    assert job.get_job_status(DRIVER) == "RUNNING"
    clock.now += 5
    with pytest.raises(TransientError, match="before it counts as lost"):
        job.get_job_status(DRIVER)


def test_a_driver_its_worker_still_runs_is_not_lost(master: MisbehavingServer, worker: MisbehavingServer) -> None:
    master.script(status(None))
    master.route("/json/", master_json(worker))
    worker.script(worker_page(**{DRIVER: "RUNNING"}))
    clock = FakeClock()
    job = job_for(client_for(master), clock, lost_settle=0)
    with pytest.raises(TransientError, match="still runs it"):
        job.get_job_status(DRIVER)


def test_a_driver_whose_worker_has_not_registered_again_is_not_lost(
    master: MisbehavingServer, worker: MisbehavingServer
) -> None:
    master.script(status("RUNNING", workerId="worker-gone-1"), status(None))
    master.route("/json/", master_json(worker))  # another worker is back, not the driver's
    worker.script(worker_page())
    job = job_for(client_for(master), lost_settle=0)
    assert job.get_job_status(DRIVER) == "RUNNING"
    with pytest.raises(TransientError, match="worker-gone-1 has not registered"):
        job.get_job_status(DRIVER)


@pytest.mark.parametrize(("on_worker", "expected"), [("FINISHED", "FINISHED"), ("KILLED", "KILLED")])
def test_a_driver_the_master_forgot_ends_as_its_worker_saw_it(
    master: MisbehavingServer, worker: MisbehavingServer, on_worker: str, expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    master.script(status(None))
    master.route("/json/", master_json(worker))
    worker.script(worker_page(**{DRIVER: on_worker}))
    job = job_for(client_for(master), lost_settle=60)
    with caplog.at_level(logging.WARNING, logger="resumable_adapters.spark"):
        assert job.get_job_status(DRIVER) == expected
    assert f"saw it end {on_worker}" in caplog.text


def test_a_worker_page_that_cannot_be_read_is_no_evidence(master: MisbehavingServer, worker: MisbehavingServer) -> None:
    master.script(status(None))
    master.route("/json/", master_json(worker))
    worker.script(Reply.html(503, "Unavailable"))
    job = job_for(client_for(master), lost_settle=0)
    with pytest.raises(TransientError, match="cannot tell what became"):
        job.get_job_status(DRIVER)


def test_without_a_web_ui_the_settle_alone_confirms(master: MisbehavingServer) -> None:
    master.script(status(None))
    clock = FakeClock()
    job = job_for(SparkRestClient(master.url, timeout=1.0), clock, lost_settle=10)
    with pytest.raises(TransientError):
        job.get_job_status(DRIVER)
    clock.now += 10
    with pytest.raises(JobNotFound):
        job.get_job_status(DRIVER)


# -- 3. ERROR after a master recovery -------------------------------------------------------------


@pytest.mark.parametrize(("on_worker", "expected"), [("FINISHED", "FINISHED"), ("ERROR", "ERROR"), (None, "ERROR")])
def test_error_is_checked_against_the_worker(
    master: MisbehavingServer, worker: MisbehavingServer, on_worker: str | None, expected: str
) -> None:
    master.script(status("ERROR"))
    master.route("/json/", master_json(worker))
    worker.script(worker_page(**({DRIVER: on_worker} if on_worker else {})))
    job = job_for(client_for(master))
    assert job.get_job_status(DRIVER) == expected
    assert job.exit_code(DRIVER) == (0 if expected == "FINISHED" else None)


def test_an_error_whose_worker_cannot_be_asked_is_not_yet_a_failure(
    master: MisbehavingServer, worker: MisbehavingServer
) -> None:
    master.script(status("ERROR"))
    master.route("/json/", master_json(worker))
    worker.script(Reply.html(500, "Server Error"))
    with pytest.raises(TransientError, match="cannot tell"):
        job_for(client_for(master)).get_job_status(DRIVER)


# A worker whose UI answers 404 (issue 17, item 9): a definite answer, decided at once from what is known.


def test_an_error_whose_worker_has_no_page_stands_and_says_what_was_checked(
    master: MisbehavingServer, worker: MisbehavingServer, caplog: pytest.LogCaptureFixture
) -> None:
    master.script(status("ERROR", workerId=WORKER))
    master.route("/json/", master_json(worker))
    worker.script(Reply.html(404, "Not Found"))
    with caplog.at_level(logging.WARNING, logger="resumable_adapters.spark"):
        assert job_for(client_for(master)).get_job_status(DRIVER) == "ERROR"
    assert f"worker {WORKER} has no page (HTTP 404)" in caplog.text and "ERROR stands" in caplog.text
    assert len(worker.requests) == 1


def test_an_error_is_decided_by_the_worker_that_has_a_page(master: MisbehavingServer, worker: MisbehavingServer) -> None:
    with misbehaving_server() as second:
        master.script(status("ERROR", workerId=WORKER))
        master.route("/json/", master_json(worker, second))
        worker.script(Reply.html(404, "Not Found"))  # its own worker, asked first, has no page
        second.script(worker_page(**{DRIVER: "FINISHED"}))
        assert job_for(client_for(master)).get_job_status(DRIVER) == "FINISHED"


def test_a_run_whose_errored_driver_has_no_worker_page_ends_failed_not_out_of_budget(
    master: MisbehavingServer, worker: MisbehavingServer
) -> None:
    master.route("/v1/submissions/create", Reply.json(action="CreateSubmissionResponse", success=True, submissionId=DRIVER))
    master.script(status("ERROR", workerId=WORKER))
    master.route("/json/", master_json(worker))
    worker.script(Reply.html(404, "Not Found"))
    with pytest.raises(JobFailed) as info:  # before: TransientBudgetExhausted once the budget ran out
        run_resumable(job_for(client_for(master)), MemoryStateStore(), key="no-worker-page", poll=NO_WAIT)
    assert info.value.status == "ERROR"


def test_a_driver_unknown_to_the_master_whose_worker_has_no_page_is_lost_after_the_settle(
    master: MisbehavingServer, worker: MisbehavingServer
) -> None:
    master.script(status("RUNNING", workerId=WORKER), status(None))
    master.route("/json/", master_json(worker))
    worker.script(Reply.html(404, "Not Found"))
    clock = FakeClock()
    job = job_for(client_for(master), clock, lost_settle=10)
    assert job.get_job_status(DRIVER) == "RUNNING"
    with pytest.raises(TransientError, match=r"no page on worker .*HTTP 404.*asking again 10s"):
        job.get_job_status(DRIVER)
    clock.now += 10  # the master's word, twice, as without a web UI
    with pytest.raises(JobNotFound, match="HTTP 404"):
        job.get_job_status(DRIVER)


def test_a_recovered_success_is_returned_by_a_run(master: MisbehavingServer, worker: MisbehavingServer) -> None:
    master.script(status("ERROR", workerId=WORKER))
    master.route("/json/", master_json(worker))
    worker.script(worker_page(**{DRIVER: "FINISHED"}))
    master.route("/v1/submissions/create", Reply.json(action="CreateSubmissionResponse", success=True, submissionId=DRIVER))
    result = run_resumable(job_for(client_for(master)), MemoryStateStore(), key="recovered", poll=NO_WAIT)
    assert result["state"] == "FINISHED" and result["exit_code"] == 0


# -- exit codes ------------------------------------------------------------------------------


def test_a_failed_driver_says_its_exit_code(master: MisbehavingServer, worker: MisbehavingServer) -> None:
    stderr = "Exception in thread main\nCaused by: org.apache.spark.SparkUserAppException: User application exited with 3\n"
    master.script(status("FAILED", workerId=WORKER))
    master.route("/v1/submissions/create", Reply.json(action="CreateSubmissionResponse", success=True, submissionId=DRIVER))
    master.route("/json/", master_json(worker))
    worker.route("/log/", Reply(200, stderr.encode(), {"Content-Type": "text/plain"}))
    job = job_for(client_for(master))
    with pytest.raises(JobFailed) as info:
        run_resumable(job, MemoryStateStore(), key="exit3", poll=NO_WAIT)
    assert info.value.status == "FAILED (exit code 3)" and "exit code 3" in str(info.value)
    assert driver_state(info.value.status) == "FAILED"
    assert not job.is_job_active(info.value.status) and not job.is_job_succeeded(info.value.status)
    assert job.exit_code(DRIVER) == 3
    tail = [r.path for r in worker.requests if r.path.startswith("/log/")][0]
    assert "logType=stderr" in tail and "offset" not in tail  # the tail, not the head


def test_an_exit_code_pattern_of_the_callers_own(master: MisbehavingServer, worker: MisbehavingServer) -> None:
    master.script(status("FAILED", workerId=WORKER))
    master.route("/json/", master_json(worker))
    worker.route("/log/", Reply(200, b"etl: exiting with 7\n", {"Content-Type": "text/plain"}))
    job = job_for(client_for(master), exit_code_patterns=[r"exiting with (\d+)"])
    assert job.get_job_status(DRIVER) == "FAILED (exit code 7)"
    with pytest.raises(InvalidArgument):
        job_for(client_for(master), exit_code_patterns=[r"no group"])


def test_no_exit_code_found_leaves_the_state_alone(master: MisbehavingServer, worker: MisbehavingServer) -> None:
    master.script(status("FAILED", workerId=WORKER))
    master.route("/json/", master_json(worker))
    worker.route("/log/", Reply.html(500, "Server Error"))
    job = job_for(client_for(master))
    assert job.get_job_status(DRIVER) == "FAILED"
    assert job.exit_code(DRIVER) is None


# -- 4. ambiguous create answers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply.json(action="CreateSubmissionResponse", success=True),
        Reply.json(action="CreateSubmissionResponse", success=True, submissionId=None),
        Reply.json(action="CreateSubmissionResponse", success=True, submissionId=12),
        Reply.json(action="CreateSubmissionResponse", success=False, submissionId=DRIVER),
        Reply(302, b"", {"Location": "http://elsewhere.invalid/create"}),
        Reply(307, b"", {"Location": "http://elsewhere.invalid/create"}),
        Reply(301, b""),
    ],
)
def test_an_answer_that_does_not_prove_a_refusal_keeps_the_intent(master: MisbehavingServer, reply: Reply) -> None:
    master.script(reply)
    job = job_for(client_for(master))
    with pytest.raises(ProtocolError, match="may have been accepted") as info:
        job.submit_job("ref-1")
    assert not isinstance(info.value, SubmissionRejected)
    store = MemoryStateStore()
    with pytest.raises(ProtocolError):
        run_resumable(job, store, key="ambiguous", poll=NO_WAIT)
    record = load_record(store, "ambiguous")
    assert record is not None and record.phase is Phase.INTENT  # the rerun looks the reference up


@pytest.mark.parametrize(
    "reply",
    [
        Reply.json(action="CreateSubmissionResponse", success=False, message="Driver cannot be submitted"),
        Reply.json(400, action="ErrorResponse", message="Malformed request"),
        Reply.json(403, message="Authorization header is missing."),
    ],
)
def test_only_a_proven_refusal_is_a_rejection(master: MisbehavingServer, reply: Reply) -> None:
    master.script(reply)
    store = MemoryStateStore()
    with pytest.raises(SubmissionRejected):
        run_resumable(job_for(client_for(master)), store, key="refused", poll=NO_WAIT)
    record = load_record(store, "refused")
    assert record is None or record.phase is not Phase.INTENT


# -- 5. a deadline per call ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(master: MisbehavingServer, where: str) -> None:
    body = json.dumps({"action": "SubmissionStatusResponse", "success": True, "driverState": "RUNNING",
                       "padding": "x" * 400}).encode()
    if where == "headers":
        master.script(Reply(200, body, {"Content-Type": "application/json", "X-Pad": "y" * 200}, trickle=0.05))
    else:  # headers at once, then the body a byte at a time
        master.script(Reply(200, body, {"Content-Type": "application/json"}, trickle=None, delay=0))
        master.script(Reply(200, body, {"Content-Type": "application/json"}, trickle=0.05))
    # Each byte comes well within the per-read timeout; the whole answer takes 30 s or more.
    client = SparkRestClient(master.url, timeout=1.0)
    with pytest.raises(TransientError, match="within the 1s call deadline") as info:
        client.status(DRIVER)
    assert "RUNNING" not in str(info.value)


def test_the_deadline_holds_with_an_injected_pool(master: MisbehavingServer) -> None:
    master.script(Reply(200, b"{" + b" " * 400 + b"}", {"Content-Type": "application/json"}, trickle=0.05))
    client = SparkRestClient(master.url, pool=urllib3.PoolManager(retries=False), timeout=1.0)
    with pytest.raises(TransientError, match="call deadline"):
        client.status(DRIVER)


def test_a_timeout_object_bounds_the_call_by_its_total() -> None:
    client = SparkRestClient("http://127.0.0.1:1", timeout=urllib3.Timeout(connect=2.0, read=3.0))
    assert client.call_deadline == 5.0
    assert SparkRestClient("http://127.0.0.1:1", timeout=urllib3.Timeout(total=4.0, read=3.0)).call_deadline == 4.0
    with pytest.raises(InvalidArgument):
        SparkRestClient("http://127.0.0.1:1", timeout=urllib3.Timeout(connect=2.0))


# -- 10. several masters in one string ----------------------------------------------------------


def test_comma_separated_masters_are_each_tried(master: MisbehavingServer) -> None:
    master.script(status("RUNNING"))
    dead, live = free_port(), master.url.rsplit(":", 1)[1]
    for rest_url in (f"http://127.0.0.1:{dead},{master.url}", f"spark://127.0.0.1:{dead},127.0.0.1:{live}",
                     f"spark://127.0.0.1:{dead}, spark://127.0.0.1:{live}"):
        client = SparkRestClient(rest_url, timeout=1.0)
        assert client.rest_urls == (f"http://127.0.0.1:{dead}", master.url)
        assert job_for(client).get_job_status(DRIVER) == "RUNNING"
        assert client.active_rest_url == master.url
    assert SparkRestClient("http://127.0.0.1:1", web_ui_urls="http://a:8080,http://b:8080").web_ui_urls == (
        "http://a:8080", "http://b:8080")


@pytest.mark.parametrize(
    ("rest_url", "words"),
    [
        ("http://a:6066,,http://b:6066", "empty entry"),
        ("http://a:6066,b:6066", "must be http"),
        ("spark://a", "no port"),
        ("spark://a:6066,b", "no port"),
        ("spark://a:x", "malformed"),
        ("a:6066", "must be http"),
        ("spark://a:6066/v1", "path"),
        ("http://a:99999", "malformed"),
    ],
)
def test_a_malformed_master_list_is_an_invalid_argument(rest_url: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        SparkRestClient(rest_url)


# -- 13. no credential in any message ------------------------------------------------------------

PASSWORD = "hunter2-pass-7731"


@pytest.mark.parametrize(
    "rest_url",
    [f"ftp://user:{PASSWORD}@127.0.0.1:6066", f"http://user:{PASSWORD}@127.0.0.1:6066",
     f"http://127.0.0.1:1,http://user:{PASSWORD}@127.0.0.1:2", f"spark://user:{PASSWORD}@a:6066,b:x"],
)
def test_a_url_error_never_shows_its_password(rest_url: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        SparkRestClient(rest_url)
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)


@pytest.mark.parametrize("auth", [BearerToken("static-token-value-998877"), JwsAuth("A" * 43)])
@pytest.mark.parametrize("status_code", [400, 500, 200])
def test_a_server_echoing_the_authorization_header_leaks_nothing(
    master: MisbehavingServer, auth: BearerToken | JwsAuth, status_code: int, caplog: pytest.LogCaptureFixture
) -> None:
    master.script(Reply(status_code, echo_auth=True))
    client = SparkRestClient(master.url, auth=auth, timeout=1.0)
    job = job_for(client)
    caplog.set_level(logging.DEBUG)
    with pytest.raises((SubmissionRejected, TransientError)) as on_create:
        job.submit_job("ref-1")
    sent = master.requests[-1].headers["Authorization"].split(" ")[1]
    with pytest.raises((ProtocolError, TransientError)) as on_status:
        job.get_job_status(DRIVER)
    shown = [str(on_create.value), str(on_status.value), caplog.text, repr(client), repr(job)]
    assert "rejected header" in shown[0] or "HTTP" in shown[0]
    assert all(sent not in text for text in shown)
    assert all(secret not in text for text in shown for secret in auth.secrets())


def test_application_arguments_echoed_by_the_server_are_masked(master: MisbehavingServer) -> None:
    sub = SparkSubmission(
        app_resource="file:/jobs/app.jar", main_class="app.Main",
        app_args=("--password", PASSWORD, "--db-token=tok-55aa66bb", f"jdbc:postgresql://etl:{PASSWORD}x@db/x"),
    )
    job = SparkRestJob(SparkRestClient(master.url, timeout=1.0), sub)
    master.script(Reply.json(400, action="ErrorResponse", message="Malformed request: " + json.dumps(list(sub.app_args))))
    with pytest.raises(SubmissionRejected) as info:
        job.submit_job("ref-1")
    text = str(info.value)
    assert "Malformed request" in text
    assert PASSWORD not in text and "tok-55aa66bb" not in text
