"""A Flink submission that provably never left is a clean "nothing submitted"; a TLS refusal of a
status is a ProtocolError (not a wait).

Against loopback servers: a port nobody listens on, and a TLS server whose self-signed
certificate the client does not trust (the handshake fails before any request is sent).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from resumable_adapters.flink import FlinkJob, FlinkRestClient, FlinkSubmission
from resumable_core import (
    MemoryStateStore,
    Phase,
    ProtocolError,
    SubmissionRejected,
    TransientError,
    load_record,
    run_resumable,
)
from tests.flink.test_client_errors import JOB, POLL
from tests.services.processes import free_port
from tests.spark.misbehaving_server import Reply, misbehaving_server
from tests.spark.tls import self_signed


def flink_job(url: str, jar: Path) -> FlinkJob:
    jar.write_bytes(b"PK\x03\x04 bytes with a digest")
    return FlinkJob(FlinkRestClient(url, timeout=5.0), FlinkSubmission(jar, entry_class="etl.Main"))


def test_a_submission_to_a_closed_port_is_a_clean_refusal_and_the_rerun_too(tmp_path: Path) -> None:
    store = MemoryStateStore()
    job = flink_job(f"http://127.0.0.1:{free_port()}", tmp_path / "etl.jar")
    for _ in range(2):  # the first run, then its rerun: each a clean refusal, no intent left behind
        with pytest.raises(SubmissionRejected, match="nothing was submitted"):
            run_resumable(job, store, key="etl", poll=POLL)
        record = load_record(store, "etl")
        assert record is not None and record.phase is Phase.FAILED and record.job_id is None


def test_a_run_that_never_left_is_a_refusal_not_a_maybe(tmp_path: Path) -> None:
    # The run itself (the jar id known): refused before a byte left, so it cannot have been accepted.
    client = FlinkRestClient(f"http://127.0.0.1:{free_port()}", timeout=5.0)
    with pytest.raises(SubmissionRejected, match="nothing was submitted") as info:
        client.run_jar("abc_etl.jar", {"jobId": JOB})
    assert "may have been accepted" not in str(info.value) and info.value.job_id == JOB


def test_a_submission_refused_by_tls_sent_nothing_and_a_status_is_a_protocol_error(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with misbehaving_server(tls=(cert, key)) as server:
        server.script(Reply.json(jobid=JOB))
        job = flink_job(server.url, tmp_path / "etl.jar")
        store = MemoryStateStore()
        with pytest.raises(SubmissionRejected, match="TLS handshake failed.*nothing was submitted"):
            run_resumable(job, store, key="etl", poll=POLL)
        record = load_record(store, "etl")
        assert record is not None and record.phase is Phase.FAILED
        with pytest.raises(ProtocolError, match="TLS handshake failed") as info:
            job.get_job_status(JOB)  # asking again will not make the certificate trusted
        assert not isinstance(info.value, TransientError)
        assert server.requests == []  # nothing ever reached the server


def test_a_status_at_a_closed_port_is_transient() -> None:
    client = FlinkRestClient(f"http://127.0.0.1:{free_port()}", timeout=5.0)
    with pytest.raises(TransientError, match="unreachable"):
        client.job(JOB)
