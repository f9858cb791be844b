"""FlinkRestClient and FlinkJob against a loopback JobManager that answers badly on purpose.

What a real cluster will not produce on demand: a 5xx on run (the job may exist), a 400 that
is not a duplicate, garbage, a redirect, a drip, a jar the server lost, a credential echoed.
The server is tests/spark/misbehaving_server.py (scripted answers per path, every request
recorded), taught PATCH for Flink's cancel.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.flink import FlinkJob, FlinkRestClient, FlinkSubmission, stop_trigger_id
from resumable_core import (
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
from resumable_core.errors import MalformedAnswer
from tests.spark.misbehaving_server import MisbehavingServer, Reply, misbehaving_server

POLL = PollPolicy(min_interval=0.0, max_interval=0.0, jitter=0.0, transient_attempts=3, transient_seconds=5.0)
JOB = "0123456789abcdef0123456789abcdef"


def errors(status: int, *lines: str) -> Reply:
    """Flink's error body: ``{"errors": [<exception text with its causes>]}``."""
    return Reply.json(status, errors=["\n".join(lines)])


DUPLICATE = errors(400, "org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.",
                   "Caused by: org.apache.flink.runtime.client.DuplicateApplicationSubmissionException: "
                   "Application has already been submitted.")


@pytest.fixture
def server() -> Iterator[MisbehavingServer]:
    with misbehaving_server() as found:
        handler: Any = found.httpd.RequestHandlerClass
        handler.do_PATCH = handler.do_GET  # Flink cancels with PATCH
        found.script(Reply(404, b"{}"))    # what no route answers
        yield found


@pytest.fixture
def jar(tmp_path: Path) -> Path:
    path = tmp_path / "etl.jar"
    path.write_bytes(b"PK\x03\x04 not really a jar, but bytes with a digest")
    return path


def flink_job(server: MisbehavingServer, jar: Path, **client_options: Any) -> FlinkJob:
    client = FlinkRestClient(server.url, timeout=client_options.pop("timeout", 5.0), **client_options)
    job = FlinkJob(client, FlinkSubmission(jar, entry_class="etl.Main", args=["--day", "2026-11-24"]))
    # The jar is there already, under the name that carries its digest.
    server.route("/jars", Reply.json(files=[{"id": f"abc_{job.jar_name}", "name": job.jar_name, "uploaded": 1}]))
    return job


def run_path(job: FlinkJob) -> str:
    return f"/jars/abc_{job.jar_name}/run"


def sent(server: MisbehavingServer, method: str, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body or b"{}") for r in server.requests if r.method == method and r.path == path]


def test_a_5xx_on_run_keeps_the_intent_and_the_retry_adopts_the_job_by_its_id(
    server: MisbehavingServer, jar: Path
) -> None:
    job = flink_job(server, jar)
    server.route(run_path(job), errors(500, "java.util.concurrent.TimeoutException: dispatcher busy"))
    store = MemoryStateStore()
    with pytest.raises(TransientError, match="may have been accepted"):
        run_resumable(job, store, key="k", poll=POLL)
    intent = load_record(store, "k")
    assert intent is not None and intent.phase is Phase.INTENT and intent.job_id is None

    # It had run after all: the retry finds it by the id it chose, and never runs the jar again.
    server.route(f"/jobs/{intent.reference}", Reply.json(state="RUNNING"), Reply.json(state="FINISHED"))
    server.route(f"/jobs/{intent.reference}/checkpoints", Reply.json(latest={}))
    result = run_resumable(job, store, key="k", poll=POLL)
    assert isinstance(result, dict) and result["job_id"] == intent.reference and result["state"] == "FINISHED"
    assert [b["jobId"] for b in sent(server, "POST", run_path(job))] == [intent.reference]
    assert not [r for r in server.requests if r.path.endswith("/status")]  # 500 for an unknown id: never read


def test_a_400_that_is_not_a_duplicate_is_a_refusal(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar)
    server.route(run_path(job), errors(400, "org.apache.flink.runtime.rest.handler.RestHandlerException: "
                                            "Bad request, could not parse parameters: parallelism"))
    store = MemoryStateStore()
    with pytest.raises(SubmissionRejected, match="refused with HTTP 400"):
        run_resumable(job, store, key="k", poll=POLL)
    record = load_record(store, "k")
    assert record is not None and record.phase is Phase.FAILED and record.status == "REJECTED"


def test_a_duplicate_400_for_our_id_is_the_job_adopted(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar)
    server.route(run_path(job), DUPLICATE)
    assert job.submit_job(JOB) == JOB
    assert [b["jobId"] for b in sent(server, "POST", run_path(job))] == [JOB]  # one request, no other id tried


@pytest.mark.parametrize(("reply", "error", "text"), [
    (errors(500, "org.apache.flink.client.program.ProgramInvocationException: The program's entry point class "
                 "'etl.Main' was not found in the jar file."), SubmissionRejected, "entry point class"),
    (Reply.json(200, applicationId=JOB), ProtocolError, "without a job id"),
    (Reply.html(502, "Bad Gateway"), TransientError, "may have been accepted"),
    # A 200 whose body is not JSON (a proxy's page) said nothing: asked again, and it may exist.
    (Reply.html(200, "maintenance"), MalformedAnswer, "HTML page .* may have been accepted"),
    (Reply(200, b'{"jobid": "0123', {"Content-Type": "application/json"}), MalformedAnswer, "may have been accepted"),
    (Reply(200, b'["0123456789abcdef0123456789abcdef"]', {"Content-Type": "application/json"}), ProtocolError,
     "JSON list"),
    (Reply(302, b"", {"Location": "http://elsewhere:8081/jars"}), ProtocolError, "redirected"),
])
def test_what_each_run_answer_means(server: MisbehavingServer, jar: Path, reply: Reply, error: type[Exception],
                                    text: str) -> None:
    job = flink_job(server, jar)
    server.route(run_path(job), reply)
    with pytest.raises(error, match=text):
        job.submit_job(JOB)


def test_a_jar_the_cluster_lost_is_uploaded_again_once(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar)
    server.route(run_path(job), errors(500, f"org.apache.flink.runtime.rest.handler.RestHandlerException: "
                                            f"Jar file /tmp/flink-web/abc_{job.jar_name} does not exist"))
    uploaded = {"status": "success", "filename": f"/tmp/flink-web/def_{job.jar_name}"}  # "status" is Flink's word
    server.route("/jars/upload", Reply(200, json.dumps(uploaded).encode(), {"Content-Type": "application/json"}))
    server.route("/jars", Reply.json(files=[{"id": f"abc_{job.jar_name}", "name": job.jar_name}]),
                 Reply.json(files=[]))  # the restarted JobManager lists nothing
    server.route(f"/jars/def_{job.jar_name}/run", Reply.json(jobid=JOB))
    assert job.submit_job(JOB) == JOB
    uploads = [r for r in server.requests if r.path == "/jars/upload"]
    assert len(uploads) == 1 and jar.read_bytes() in uploads[0].body
    assert job.jar_name.encode() in uploads[0].body  # the name that carries the digest


def test_the_jar_is_uploaded_once_per_content(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar)
    server.route(run_path(job), Reply.json(jobid=JOB))
    again = FlinkJob(job.client, job.submission)  # another process: finds the jar by its name
    assert job.submit_job(JOB) == JOB and again.submit_job(JOB) == JOB
    assert not [r for r in server.requests if r.path == "/jars/upload"]
    jar.write_bytes(b"other bytes")
    assert FlinkJob(job.client, FlinkSubmission(jar, entry_class="etl.Main")).jar_name != job.jar_name


@pytest.mark.parametrize(("reply", "error"), [
    (Reply(404, b'{"errors":["Job not found"]}'), JobNotFound),
    (errors(500, "org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job"),
     TransientError),  # never taken for "not found"
    # Not JSON at all (a proxy's page, a cut body): nothing was said, asked again within the budget.
    (Reply.html(200, "maintenance"), MalformedAnswer),
    (Reply(200, b'{"state": "RUNNING"', {"Content-Type": "application/json"}), MalformedAnswer),
    # Well-formed JSON that contradicts the protocol: a ProtocolError, not asked again.
    (Reply.json(200, state="EXPLODED"), ProtocolError),
    (Reply.json(200, jid=JOB), ProtocolError),
    (Reply(200, b'[{"state": "RUNNING"}]', {"Content-Type": "application/json"}), ProtocolError),
])
def test_what_each_status_answer_means(server: MisbehavingServer, jar: Path, reply: Reply,
                                       error: type[Exception]) -> None:
    job = flink_job(server, jar)
    server.route(f"/jobs/{JOB}", reply)
    with pytest.raises(error) as info:
        job.get_job_status(JOB)
    if error is ProtocolError:
        assert not isinstance(info.value, TransientError)


def test_a_garbled_status_is_asked_again_within_the_poll_budget(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar)
    server.route(run_path(job), Reply.json(jobid=JOB))
    server.route(f"/jobs/{JOB}", Reply.html(200, "maintenance"), Reply(200, b'{"state": "RUN'),
                 Reply.json(state="FINISHED", name="etl"))
    server.route(f"/jobs/{JOB}/checkpoints", Reply.json(latest={}))
    result = run_resumable(job, MemoryStateStore(), key="k", poll=POLL)
    assert isinstance(result, dict) and result["state"] == "FINISHED"
    assert len([r for r in server.requests if r.path == f"/jobs/{JOB}"]) >= 3


@pytest.mark.parametrize(("state", "active", "succeeded"), [
    ("INITIALIZING", True, False), ("CREATED", True, False), ("RUNNING", True, False), ("FAILING", True, False),
    ("RESTARTING", True, False), ("CANCELLING", True, False), ("RECONCILING", True, False),
    ("SUSPENDED", True, False),  # only locally terminal: another JobManager takes the job over
    ("FINISHED", False, True), ("FAILED", False, False), ("CANCELED", False, False), ("STOPPED", False, False),
])
def test_states(server: MisbehavingServer, jar: Path, state: str, active: bool, succeeded: bool) -> None:
    job = flink_job(server, jar)
    assert (job.is_job_active(state), job.is_job_succeeded(state)) == (active, succeeded)


def test_a_finished_job_stopped_with_a_savepoint_is_stopped_not_succeeded(server: MisbehavingServer,
                                                                         jar: Path) -> None:
    job = flink_job(server, jar)
    server.route(f"/jobs/{JOB}", Reply.json(state="FINISHED"))
    server.route(f"/jobs/{JOB}/checkpoints", Reply.json(latest={"savepoint": {
        "id": 9, "external_path": "file:/sp/savepoint-1", "is_savepoint": True, "checkpoint_type": "SYNC_SAVEPOINT"}}))
    assert job.get_job_status(JOB) == "STOPPED"
    assert job.resume_state(JOB) == "file:/sp/savepoint-1"


def test_a_drip_is_cut_by_the_whole_call_deadline(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar, timeout=1.0)
    server.route(f"/jobs/{JOB}", Reply(200, json.dumps({"state": "RUNNING", "pad": "x" * 200}).encode(),
                                       {"Content-Type": "application/json"}, trickle=0.02))
    # Each byte comes in time (0.02 s apart); the whole answer (about 4.6 s) does not: only the
    # whole-call deadline can end the call, and its error says so (no wall-time assertion).
    with pytest.raises(TransientError, match="call deadline"):
        job.get_job_status(JOB)


def test_cancel_of_an_ended_or_unknown_job_is_not_an_error(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar)
    server.route(f"/jobs/{JOB}", errors(409, "Job cancellation failed because the job has already reached "
                                             "another terminal state (FAILED)."), Reply(404, b"{}"))
    job.cancel_job(JOB)
    job.cancel_job(JOB)
    assert [r.method for r in server.requests if r.path.startswith(f"/jobs/{JOB}")] == ["PATCH", "PATCH"]


def test_a_credential_never_reaches_an_error(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar, headers={"Authorization": "Bearer s3cr3t-t0ken"})
    server.route(run_path(job), Reply(400, echo_auth=True))
    with pytest.raises(SubmissionRejected) as info:
        job.submit_job(JOB)
    assert "s3cr3t-t0ken" not in str(info.value)
    assert sent(server, "POST", run_path(job))  # the header was sent, and echoed


def test_a_secret_configuration_value_stays_out_of_fingerprint_and_repr(jar: Path) -> None:
    client = FlinkRestClient("http://127.0.0.1:9")
    one = FlinkJob(client, FlinkSubmission(jar, configuration={"s3.secret-key": "hunter2", "a": "1"}))
    two = FlinkJob(client, FlinkSubmission(jar, configuration={"s3.secret-key": "rotated", "a": "1"}))
    three = FlinkJob(client, FlinkSubmission(jar, configuration={"s3.secret-key": "hunter2", "a": "2"}))
    assert one.job_fingerprint() == two.job_fingerprint() != three.job_fingerprint()
    assert "hunter2" not in repr(one)


@pytest.mark.parametrize("refusal", [
    errors(409, "Job is not running: cannot stop it"),  # the stop refused outright
    Reply.json(202, **{"request-id": "x"}),              # accepted, then the savepoint failed
])
def test_a_stop_that_takes_no_savepoint_falls_back_to_a_cancel(server: MisbehavingServer, jar: Path,
                                                                refusal: Reply) -> None:
    job = flink_job(server, jar)
    job.stop_with_savepoint = True
    trigger = stop_trigger_id(JOB)
    server.route(f"/jobs/{JOB}/stop", refusal)
    failed = {"status": {"id": "COMPLETED"}, "operation": {"failure-cause": {
        "class": "java.util.concurrent.CompletionException",
        "stack-trace": "Caused by: org.apache.flink.runtime.checkpoint.CheckpointException: Checkpointing disabled"}}}
    server.route(f"/jobs/{JOB}/savepoints/{trigger}", Reply(200, json.dumps(failed).encode(),
                                                             {"Content-Type": "application/json"}))
    server.route(f"/jobs/{JOB}", Reply.json(state="RUNNING"))
    job.cancel_job(JOB)
    assert [r.method for r in server.requests if r.path == f"/jobs/{JOB}?mode=cancel"] == ["PATCH"]
    stops = sent(server, "POST", f"/jobs/{JOB}/stop")
    assert [s["triggerId"] for s in stops] == [trigger]  # derived from the job id: a retry joins it


def test_progress_counts_completed_checkpoints(server: MisbehavingServer, jar: Path) -> None:
    job = flink_job(server, jar)
    server.route(f"/jobs/{JOB}", Reply.json(state="RUNNING", name="etl"), Reply(404, b"{}"))
    server.route(f"/jobs/{JOB}/checkpoints", Reply.json(counts={"completed": 42}, latest={}))
    progress = job.job_progress(JOB)
    assert progress is not None and progress.label == "etl: RUNNING"
    assert [(c.unit, c.done, c.total) for c in progress.counts] == [("checkpoints", 42, None)]
    assert progress.ui_url == f"{server.url}/#/job/running/{JOB}/overview"
    assert job.job_progress(JOB) is None  # the cluster no longer knows it
