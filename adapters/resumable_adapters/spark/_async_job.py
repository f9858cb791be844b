"""AsyncSparkRestJob: Spark standalone cluster mode for run_resumable_async, on aiohttp.

aiohttp and not httpx, by measurement (benchmarks/async_http_clients.py, docs/async.md):
against the same loopback status server, one pool each, aiohttp spent about 0.1 ms of
CPU per status call and httpx 0.8 to 2 ms (10 to 200 calls in flight). A supervisor of
ten thousand jobs pays that on every poll of every job.

One ``AsyncSparkRestClient`` (one aiohttp session, one connection pool) is shared by
every job on a master. The job has the sync adapter's meaning, status for status:
SUBMITTED, RUNNING, RELAUNCHING are active; FINISHED succeeded; FAILED, KILLED, ERROR
failed; UNKNOWN is a TransientError; ``success:false`` on a status is JobNotFound
(confirm it with ``Policy(lost_settle=...)``: a restarted master answers "unknown"
for a while). Finding a driver by reference needs the workers' logs, which the
blocking ``SparkRestJob`` reads; this job cannot, so an intent without an id follows
``Policy.on_ambiguous``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from resumable_core import JobNotFound, ProtocolError, SubmissionRejected, TransientError
from resumable_core.store import JsonValue

from ._submission import (
    DEFAULT_REFERENCE_PROPERTY,
    DRIVER_STATE_UNKNOWN,
    DRIVER_STATES,
    DRIVER_STATES_ACTIVE,
    DRIVER_STATES_SUCCEEDED,
    SparkSubmission,
)

try:
    import aiohttp
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "resumable_adapters.spark's async job needs aiohttp: pip install 'resumable-core[spark-async]'"
    ) from exc


class AsyncSparkRestClient:
    """The master's REST submission server, for many jobs at once: one session, one pool.

    Every call is bounded as a whole by *timeout* (connect, send, read): a server that
    trickles bytes is a TransientError, never a hang.
    """

    def __init__(self, rest_url: str, *, timeout: float = 30.0, max_connections: int = 64,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.timeout = timeout
        self.max_connections = max_connections
        self._session = session
        self._owned = session is None

    def session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will use it.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owned:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> AsyncSparkRestClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def call(self, method: str, path: str, body: Mapping[str, JsonValue] | None = None, *,
                   job_id: str | None = None) -> dict[str, Any]:
        url = f"{self.rest_url}{path}"
        try:
            async with self.session().request(method, url, json=body, allow_redirects=False) as answer:
                text = await answer.text()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"Spark master at {self.rest_url} did not answer {method} {path}: "
                                 f"{type(exc).__name__}", job_id=job_id) from exc
        if status >= 500 or status in (408, 429) or 300 <= status < 400:
            raise TransientError(f"Spark master at {self.rest_url} answered {status} to {method} {path}",
                                 job_id=job_id)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProtocolError(f"Spark master answered {status} with no JSON to {method} {path}",
                                job_id=job_id) from exc
        if not isinstance(data, dict):
            raise ProtocolError(f"Spark master answered {status} with a JSON {type(data).__name__}", job_id=job_id)
        if status >= 400:
            data.setdefault("success", False)
        return data


class AsyncSparkRestJob:
    """One ``SparkSubmission`` on one master, as an ``AsyncResumableJob`` (cancel and fingerprint too)."""

    def __init__(self, client: AsyncSparkRestClient, submission: SparkSubmission, *,
                 reference_property: str = DEFAULT_REFERENCE_PROPERTY) -> None:
        self.client = client
        self.submission = submission
        self.reference_property = reference_property

    async def submit_job(self, reference: str) -> str:
        request = self.submission.create_request(self.reference_property, reference)
        data = await self.client.call("POST", "/v1/submissions/create", request)
        driver_id = data.get("submissionId")
        if data.get("success") is True and isinstance(driver_id, str) and driver_id:
            return driver_id
        if data.get("success") is False:
            # The master said no, and made nothing: a refusal, so a retry starts clean.
            raise SubmissionRejected(self.submission.scrub(f"Spark master refused the submission: "
                                                           f"{data.get('message') or 'no message'}"))
        # success:true without a usable id: something may exist; the intent stays.
        raise ProtocolError("Spark master accepted the submission without a driver id")

    async def get_job_status(self, job_id: str) -> str:
        data = await self.client.call("GET", f"/v1/submissions/status/{job_id}", job_id=job_id)
        if data.get("success") is not True:
            raise JobNotFound(f"Spark master does not know driver {job_id!r}", job_id=job_id)
        state = data.get("driverState")
        if state == DRIVER_STATE_UNKNOWN:
            raise TransientError(f"Spark driver {job_id!r} is UNKNOWN (its worker is out of touch); asking again",
                                 job_id=job_id, status=state)
        if not isinstance(state, str) or state not in DRIVER_STATES:
            raise ProtocolError(f"Spark driver {job_id!r} is in an unknown state", job_id=job_id,
                                status=str(state))
        return state

    def is_job_active(self, status: str) -> bool:
        return status in DRIVER_STATES_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return status in DRIVER_STATES_SUCCEEDED

    async def get_job_result(self, job_id: str, status: str) -> dict[str, JsonValue]:
        return {"driver_id": job_id, "state": status}

    async def cancel_job(self, job_id: str) -> None:
        await self.client.call("POST", f"/v1/submissions/kill/{job_id}", job_id=job_id)

    def job_fingerprint(self) -> str:
        return self.submission.fingerprint()


__all__ = ["AsyncSparkRestClient", "AsyncSparkRestJob"]
