"""AsyncSparkRestJob: a create that provably never left is a clean "nothing submitted", as the
blocking client's (tests/spark/test_unsent.py); a TLS refusal of a status is a ProtocolError.

Against loopback servers: a port nobody listens on, and a TLS server whose self-signed
certificate the client does not trust (the handshake fails before any request is sent).
Without a web UI the job cannot look a submission up, so an intent left behind would stop
the rerun as ambiguous: the rerun's clean submission is what shows nothing was left.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from resumable_adapters.spark import AsyncSparkRestClient, AsyncSparkRestJob, SparkSubmission
from resumable_core import (
    AmbiguousSubmission,
    MemoryStateStore,
    Phase,
    PollPolicy,
    ProtocolError,
    SubmissionRejected,
    TransientError,
    load_record,
)
from resumable_core.aio import run_resumable_async
from tests.services.processes import free_port
from tests.spark.misbehaving_server import Reply, misbehaving_server
from tests.spark.tls import self_signed

DRIVER = "driver-20261124065334-0000"
FAST = PollPolicy(min_interval=0.0, max_interval=0.0, jitter=0.0)
SUBMISSION = SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="etl.Main")


async def _run(url: str, store: MemoryStateStore) -> object:
    async with AsyncSparkRestClient(url, timeout=5.0) as client:
        return await run_resumable_async(AsyncSparkRestJob(client, SUBMISSION), store, key="etl", poll=FAST)


async def _status(url: str) -> str:
    async with AsyncSparkRestClient(url, timeout=5.0) as client:
        return await AsyncSparkRestJob(client, SUBMISSION).get_job_status(DRIVER)


def test_a_create_to_a_closed_port_is_a_clean_refusal_and_the_rerun_too() -> None:
    store = MemoryStateStore()
    url = f"http://127.0.0.1:{free_port()}"
    for _ in range(2):  # the first run, then its rerun: each a clean refusal, never ambiguous
        with pytest.raises(SubmissionRejected, match="nothing was submitted") as info:
            asyncio.run(_run(url, store))
        assert not isinstance(info.value, AmbiguousSubmission)
        record = load_record(store, "etl")
        assert record is not None and record.phase is Phase.FAILED and record.job_id is None


def test_a_create_refused_by_tls_sent_nothing_and_a_status_is_a_protocol_error(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    store = MemoryStateStore()
    with misbehaving_server(tls=(cert, key)) as server:
        server.script(Reply.json(action="CreateSubmissionResponse", success=True, submissionId=DRIVER))
        with pytest.raises(SubmissionRejected, match="TLS handshake failed.*nothing was submitted"):
            asyncio.run(_run(server.url, store))
        record = load_record(store, "etl")
        assert record is not None and record.phase is Phase.FAILED
        with pytest.raises(ProtocolError, match="TLS handshake failed") as info:
            asyncio.run(_status(server.url))  # asking again will not make the certificate trusted
        assert not isinstance(info.value, TransientError)
        assert server.requests == []  # nothing ever reached the server


def test_a_status_at_a_closed_port_is_transient() -> None:
    with pytest.raises(TransientError, match="unreachable"):
        asyncio.run(_status(f"http://127.0.0.1:{free_port()}"))
