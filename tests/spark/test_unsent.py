"""A create that provably never left is a clean "nothing submitted" (issue 17, item 4).

Against loopback servers: a TLS one whose certificate the client rejects, one that asks
for a client certificate only after the client's handshake is done (TLS 1.3), a port
nobody listens on, and a master that trickles its answer (the bound of several calls).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import urllib3

from resumable_adapters._http import time_bound
from resumable_adapters.spark import SparkRestClient, SparkRestJob, SparkSubmission
from resumable_core import (
    AmbiguousSubmission,
    MemoryStateStore,
    OnAmbiguous,
    Policy,
    PollPolicy,
    ProtocolError,
    SubmissionRejected,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core.record import Phase
from tests.services.spark import free_port
from tests.spark.misbehaving_server import Reply, Seen, misbehaving_server
from tests.spark.tls import self_signed

DRIVER = "driver-20261124065334-0000"
# No lookup (no web UI): an intent left behind would stop the rerun as ambiguous.
STOP_IF_AMBIGUOUS = Policy(on_ambiguous=OnAmbiguous.FAIL)
FAST = PollPolicy(min_interval=0.0, max_interval=0.0, jitter=0.0)


def job_for(url: str, **client: object) -> SparkRestJob:
    client.setdefault("timeout", urllib3.Timeout(connect=2.0, read=2.0))
    return SparkRestJob(SparkRestClient(url, **client),  # type: ignore[arg-type]
                        SparkSubmission(app_resource="file:/jobs/app.jar", main_class="app.Main"))


def creates(server_requests: list[Seen]) -> int:
    return sum(1 for seen in server_requests if seen.path.endswith("/create"))


def test_a_create_refused_by_tls_sent_nothing_and_the_rerun_submits_clean(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    store = MemoryStateStore()
    with misbehaving_server(tls=(cert, key)) as server:
        server.route("/v1/submissions/create", Reply.json(action="CreateSubmissionResponse", success=True,
                                                          submissionId=DRIVER))
        server.route(f"/v1/submissions/status/{DRIVER}", Reply.json(driverState="FINISHED", success=True))
        for _ in range(2):  # the first run, then its rerun: each a clean refusal, never ambiguous
            with pytest.raises(SubmissionRejected) as info:
                run_resumable(job_for(server.url), store, key="etl", policy=STOP_IF_AMBIGUOUS, poll=FAST)
            assert "TLS handshake failed" in str(info.value) and "nothing was submitted" in str(info.value)
            assert not isinstance(info.value, AmbiguousSubmission)
            assert creates(server.requests) == 0  # nothing reached the server
            record = load_record(store, "etl")
            assert record is not None and record.phase is Phase.FAILED and record.job_id is None
        # Once the certificate is trusted, the next run submits once and finishes.
        result = run_resumable(job_for(server.url, ca_certs=cert), store, key="etl", policy=STOP_IF_AMBIGUOUS,
                               poll=FAST)
        assert result["driver_id"] == DRIVER
        assert creates(server.requests) == 1


def test_a_tls_failure_after_the_request_left_keeps_the_intent(tmp_path: Path) -> None:
    # The server wants a client certificate. Under TLS 1.3 the client's handshake is done before
    # the server checks it, so the request is on its way when the refusal comes: it may have been
    # read, and nothing proves otherwise.
    cert, key = self_signed(tmp_path)
    store = MemoryStateStore()
    with misbehaving_server(tls=(cert, key), client_ca=cert) as server:
        server.script(Reply.json(action="CreateSubmissionResponse", success=True, submissionId=DRIVER))
        with pytest.raises((ProtocolError, TransientError)) as info:
            run_resumable(job_for(server.url, ca_certs=cert), store, key="etl", policy=STOP_IF_AMBIGUOUS, poll=FAST)
        assert not isinstance(info.value, SubmissionRejected)
        record = load_record(store, "etl")
        assert record is not None and record.phase is Phase.INTENT  # the next run must look it up
        with pytest.raises(AmbiguousSubmission):  # and this job cannot: a person decides
            run_resumable(job_for(server.url, ca_certs=cert), store, key="etl", policy=STOP_IF_AMBIGUOUS,
                          poll=FAST)


def test_a_create_to_a_closed_port_is_a_clean_refusal() -> None:
    store = MemoryStateStore()
    url = f"http://127.0.0.1:{free_port()}"
    for _ in range(2):
        with pytest.raises(SubmissionRejected, match="nothing was submitted"):
            run_resumable(job_for(url), store, key="etl", policy=STOP_IF_AMBIGUOUS, poll=FAST)
    record = load_record(store, "etl")
    assert record is not None and record.phase is Phase.FAILED


def test_a_status_refused_by_tls_is_a_protocol_error_not_a_wait(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with misbehaving_server(tls=(cert, key)) as server:
        with pytest.raises(ProtocolError, match="TLS handshake failed"):
            job_for(server.url).get_job_status(DRIVER)
        assert server.requests == []


def test_a_time_bound_ends_every_call_inside_it_together() -> None:
    with misbehaving_server() as server:
        slow = Reply.json(driverState="RUNNING", success=True)
        server.script(Reply(slow.status, slow.body, slow.headers, trickle=0.2))
        job = job_for(server.url, timeout=30.0)  # each call alone could take 30 s
        # The errors name the bound that cut the call (no wall-time assertion: a busy machine
        # may take any time to get there; the trickled answer alone would not have ended).
        with time_bound(1.0):
            with pytest.raises(TransientError, match="1s bound on these calls"):
                job.get_job_status(DRIVER)
            asked = len(server.requests)
            with pytest.raises(TransientError, match="bound on these calls has passed"):
                job.get_job_status(DRIVER)
        assert len(server.requests) == asked == 1  # the call after the bound was never sent
