"""AsyncSparkRestJob on aiohttp, against a loopback server that answers like the Spark REST server.

Loopback, not the real cluster: the async job speaks the same REST protocol the sync
adapter's real-cluster tests cover (tests/spark), and what is tested here is the
async path, the shared pool, and the answers a real master will not give on demand.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from benchmarks.spark_status_server import started
from resumable_adapters.spark import AsyncSparkRestClient, AsyncSparkRestJob, SparkSubmission
from resumable_core import MemoryStateStore, Phase, PollPolicy, ProtocolError, TransientError, load_record
from resumable_core.aio import Supervisor, run_resumable_async
from resumable_core.errors import SubmissionRejected
from resumable_core.events import Event, Reattached, Submitted

REPO = Path(__file__).resolve().parents[2]
FAST = PollPolicy(min_interval=0.05, max_interval=0.1)
SUBMISSION = SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="etl.Main")


@pytest.fixture
def master() -> Iterator[str]:
    """The loopback status server (benchmarks/spark_status_server.py): drivers run 0.3 s."""
    with started(0.3, cwd=str(REPO)) as url:
        yield url


@pytest.fixture
def held_master() -> Iterator[str]:
    """The loopback status server whose drivers run until the test ends them (``POST /finish``)."""
    with started(3600.0, cwd=str(REPO)) as url:
        yield url


def finish_drivers(master: str) -> None:
    """End every driver submitted so far (the held master's release)."""
    request = urllib.request.Request(f"{master}/finish", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def test_twenty_jobs_share_one_pool_and_each_runs_once(master: str) -> None:
    store = MemoryStateStore()

    async def main() -> dict[str, Any]:
        async with AsyncSparkRestClient(master, max_connections=4) as client:
            supervisor = Supervisor(store, max_concurrent_calls=4)
            for n in range(20):
                supervisor.add(AsyncSparkRestJob(client, SUBMISSION), key=f"etl-{n}", poll=FAST)
            return {k: o.result for k, o in (await supervisor.run()).items()}

    results = asyncio.run(main())
    assert {r["state"] for r in results.values()} == {"FINISHED"}
    assert len({r["driver_id"] for r in results.values()}) == 20
    again = asyncio.run(main())  # every key reuses its record: the same drivers, nothing submitted
    assert again == results


def stats(master: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{master}/stats", timeout=10) as answer:
        data: dict[str, int] = json.load(answer)
        return data


def test_twenty_jobs_with_the_master_ui_are_polled_through_its_listing(master: str) -> None:
    store = MemoryStateStore()

    async def main() -> dict[str, Any]:
        async with AsyncSparkRestClient(master, web_ui_url=master, max_connections=4) as client:
            supervisor = Supervisor(store, max_concurrent_calls=4, batch_tick=0.05)
            for n in range(20):
                supervisor.add(AsyncSparkRestJob(client, SUBMISSION), key=f"etl-{n}", poll=FAST)
            return {k: o.result for k, o in (await supervisor.run()).items()}

    results = asyncio.run(main())
    assert {r["state"] for r in results.values()} == {"FINISHED"}
    seen = stats(master)
    assert seen["drivers"] == 20 and seen["listing"] > 0
    assert seen["status"] == 0, f"every status came from the listing: {seen}"


def test_the_master_ui_listing_answers_like_the_status_endpoint(held_master: str) -> None:
    # A held driver: both answers are asked of a running one, however slow the machine (a 0.3 s
    # driver could end between the two asks).
    master = held_master

    async def main() -> tuple[dict[str, str], str, Any]:
        async with AsyncSparkRestClient(master, web_ui_url=master) as client:
            job = AsyncSparkRestJob(client, SUBMISSION)
            driver_id = await job.submit_job("ref-1")
            listed = dict(await job.get_job_statuses([driver_id, "driver-20260101000000-9999"]))
            return listed, await job.get_job_status(driver_id), job.batch_key

    listed, direct, key = asyncio.run(main())
    assert list(listed.values()) == [direct] == ["RUNNING"] and key.startswith("spark-standalone ")
    assert AsyncSparkRestJob(AsyncSparkRestClient(master), SUBMISSION).batch_key == ""  # no UI: never batched


def test_a_run_that_died_while_polling_is_reattached(held_master: str) -> None:
    # The driver runs until the second run said it reattached (then POST /finish ends it): however
    # slowly the second run gets there, it finds the driver running.
    master = held_master
    store = MemoryStateStore()

    async def first() -> None:
        async with AsyncSparkRestClient(master) as client:
            task = asyncio.create_task(run_resumable_async(AsyncSparkRestJob(client, SUBMISSION), store, key="k",
                                                           poll=FAST))
            while (record := load_record(store, "k")) is None or record.phase is not Phase.SUBMITTED:
                await asyncio.sleep(0.01)
            task.cancel()  # the process goes away mid-poll
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(first())
    submitted = load_record(store, "k")
    assert submitted is not None and submitted.job_id is not None

    events: list[Event] = []

    def listen(event: Event) -> None:
        events.append(event)
        if isinstance(event, Reattached):
            finish_drivers(master)

    async def second() -> Any:
        async with AsyncSparkRestClient(master) as client:
            return await run_resumable_async(AsyncSparkRestJob(client, SUBMISSION), store, key="k", poll=FAST,
                                             listener=listen)

    assert asyncio.run(second())["driver_id"] == submitted.job_id
    reattached = [e for e in events if isinstance(e, Reattached)]
    assert [(e.job_id, e.via) for e in reattached] == [(submitted.job_id, "record")]
    assert not any(isinstance(e, Submitted) for e in events)


async def scripted_server(answer: bytes, *, trickle: bool = False) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if trickle:
            for byte in answer:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def http(body: str) -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}").encode()


def test_a_trickling_master_is_a_transient_error_within_the_call_deadline() -> None:
    async def main() -> None:
        server, url = await scripted_server(http('{"success": true, "driverState": "RUNNING"}'), trickle=True)
        async with server, AsyncSparkRestClient(url, timeout=1.5) as client:
            with pytest.raises(TransientError, match="did not answer"):
                await AsyncSparkRestJob(client, SUBMISSION).get_job_status("driver-20261127000000-0000")

    asyncio.run(main())


@pytest.mark.parametrize(
    ("body", "error", "phase"),
    [
        pytest.param('{"success": false, "message": "no such jar"}', SubmissionRejected, Phase.FAILED,
                     id="a refusal: nothing made, recorded FAILED so the retry starts clean"),
        pytest.param('{"success": true}', ProtocolError, Phase.INTENT,
                     id="accepted without an id: something may exist, the intent stays"),
    ],
)
def test_create_answers_are_refusals_only_when_they_prove_nothing_was_made(
    body: str, error: type[Exception], phase: Phase
) -> None:
    store = MemoryStateStore()

    async def main() -> None:
        server, url = await scripted_server(http(body))
        async with server, AsyncSparkRestClient(url) as client:
            with pytest.raises(error):
                await run_resumable_async(AsyncSparkRestJob(client, SUBMISSION), store, key="k", poll=FAST)

    asyncio.run(main())
    record = load_record(store, "k")
    assert record is not None and record.phase is phase


@pytest.mark.parametrize(("body", "error"), [
    ('{"status": "STANDBY", "activedrivers": []}', TransientError),    # a standby master's UI: ask again
    ('{"status": "ALIVE", "activedrivers": [{"state": "RUNNING"}]}', ProtocolError),  # no id: not trusted
    ("<html>proxy error</html>", (TransientError, ProtocolError)),  # a proxy's page: either is never trusted
])
def test_a_master_ui_listing_that_cannot_be_trusted_raises_what_the_batcher_expects(
        body: str, error: type[Exception] | tuple[type[Exception], ...]) -> None:
    async def main() -> None:
        server, url = await scripted_server(http(body))
        async with server, AsyncSparkRestClient(url, web_ui_url=url) as client:
            with pytest.raises(error):
                await AsyncSparkRestJob(client, SUBMISSION).get_job_statuses(["driver-20260101000000-0001"])

    asyncio.run(main())
