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
for a while). A driver is found by its reference as the blocking ``SparkRestJob`` finds
it, by the same scan (``_lookup``: the master's ``/json/``, then the launch line each
worker logs): with ``web_ui_url`` an intent left by a crash is adopted, never submitted
twice; without one the lookup raises AmbiguousSubmission (a person decides). A create
that provably never left (the connection refused, a TLS handshake refused) is a
SubmissionRejected saying nothing was submitted, as the blocking client's; a TLS handshake
refused on any other call is a ProtocolError.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from resumable_core import (
    AmbiguousSubmission,
    JobNotFound,
    ProtocolError,
    ResumableError,
    SubmissionRejected,
    TransientError,
)
from resumable_core.errors import SubmissionNotSent
from resumable_core.progress import Progress
from resumable_core.store import JsonValue

from .._batching import batch_key
from .._http import base_url, json_object, shown_url
from ._lookup import find_awaiting, reference_scan
from ._model import MasterState, parse_master_state
from ._progress import AsyncStandaloneProgress
from ._submission import (
    DEFAULT_REFERENCE_PROPERTY,
    DRIVER_STATE_UNKNOWN,
    DRIVER_STATES,
    DRIVER_STATES_ACTIVE,
    DRIVER_STATES_SUCCEEDED,
    SparkSubmission,
    check_reference,
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
    trickles bytes is a TransientError, never a hang. *web_ui_url*: the master's web UI
    (``http://host:8080``), whose ``/json/`` lists every driver: with it the jobs' status
    checks go out as one listing per tick for all of them (``AsyncSupportsBatchStatus``).
    """

    def __init__(self, rest_url: str, *, timeout: float = 30.0, max_connections: int = 64,
                 session: aiohttp.ClientSession | None = None, web_ui_url: str | None = None) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.web_ui_url = web_ui_url.rstrip("/") if web_ui_url else None
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

    async def driver_states(self, wanted: Collection[str] | None = None) -> dict[str, str]:
        """Driver id -> state of the drivers the ALIVE master lists (``/json/``: active, then completed);
        only those in *wanted* when given."""
        if self.web_ui_url is None:
            raise ProtocolError("AsyncSparkRestClient has no web_ui_url; listing drivers needs the master UI")
        # This runs once a tick over every driver the master holds (10,000 are 1.5 MB of JSON): each
        # object with an id and a state is cut to that pair as it is parsed, and one not asked for to
        # nothing, so a listing never holds ten thousand dicts at once (whose arenas the process keeps:
        # 0.5 KiB more per supervised job, measured).
        intern = sys.intern

        def pair(obj: dict[str, Any]) -> Any:
            ident, state = obj.get("id"), obj.get("state")
            if not isinstance(ident, str) or not isinstance(state, str):
                return obj
            return (ident, intern(state)) if wanted is None or ident in wanted else None

        text, status, content_type = await self.fetch("GET", "/json/", base=self.web_ui_url)
        what = f"Spark master UI at {self.web_ui_url}, GET /json/,"
        try:
            data = json.loads(text, object_hook=pair)
        except ValueError:
            data = None
        if not isinstance(data, dict):  # the one home for what a non-JSON answer means
            json_object(text, what=what, status=status, content_type=content_type)
            raise ProtocolError(f"{what} answered JSON that is not an object")
        if data.get("status") != "ALIVE":
            raise TransientError(f"Spark master UI {self.web_ui_url} is not ALIVE ({str(data.get('status'))[:40]})")
        found: dict[str, str] = {}
        for listed in (data.get("activedrivers", []), data.get("completeddrivers", [])):
            if not isinstance(listed, list) or not all(e is None or isinstance(e, tuple) for e in listed):
                raise ProtocolError(f"{what} lists drivers without an id and a state")
            found.update(e for e in listed if e is not None)
        return found

    async def fetch(self, method: str, path: str, body: Mapping[str, JsonValue] | None = None, *,
                    job_id: str | None = None, base: str | None = None,
                    create: bool = False) -> tuple[str, int, str]:
        """One request: the answer's text, HTTP status and content type; TransientError when there is none.

        A request that provably never left (the connection refused, the name unresolvable, the
        TLS handshake failed) is, for a *create*, a SubmissionRejected saying nothing was
        submitted; else a TransientError, or a ProtocolError for a TLS handshake refused
        (asking again will not make the certificate trusted).
        """
        where = base or self.rest_url
        url = f"{where}{path}"
        try:
            async with self.session().request(method, url, json=body, allow_redirects=False) as answer:
                text = await answer.text()
                status = answer.status
                content_type = answer.headers.get("Content-Type", "")
        except aiohttp.ClientConnectorError as exc:  # raised by the connector, before a byte of the request
            raise _unsent(exc, f"Spark master at {shown_url(where)} unreachable ({method} {path})", job_id,
                          create=create) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"Spark master at {where} did not answer {method} {path}: "
                                 f"{type(exc).__name__}", job_id=job_id) from exc
        if status >= 500 or status in (408, 429) or 300 <= status < 400:
            raise TransientError(f"Spark master at {where} answered {status} to {method} {path}",
                                 job_id=job_id)
        return text, status, content_type

    async def call(self, method: str, path: str, body: Mapping[str, JsonValue] | None = None, *,
                   job_id: str | None = None, base: str | None = None, create: bool = False) -> dict[str, Any]:
        where = base or self.rest_url
        text, status, content_type = await self.fetch(method, path, body, job_id=job_id, base=base, create=create)
        data = json_object(text, what=f"Spark master at {where}, {method} {path},", status=status,
                           content_type=content_type, job_id=job_id,
                           after="; it may have been accepted" if create else "")
        if status >= 400:
            data.setdefault("success", False)
        return data

    async def master_state(self) -> MasterState:
        """The ALIVE master's ``/json/``: its drivers and ALIVE workers (what a lookup reads)."""
        if self.web_ui_url is None:
            raise AmbiguousSubmission("AsyncSparkRestClient has no web_ui_url; listing drivers needs the master UI")
        data = await self.call("GET", "/json/", base=self.web_ui_url)
        if data.get("status") != "ALIVE":
            raise TransientError(f"Spark master UI {self.web_ui_url} is not ALIVE ({str(data.get('status'))[:40]})")
        return parse_master_state(self.web_ui_url, data)

    async def driver_log_head(self, worker_ui: str, driver_id: str, *, log_bytes: int = 65536) -> str:
        """The head of a driver's stderr on its worker (the launch command is its first line).

        Sent without credentials, as the blocking client does: the worker's address comes
        from the cluster, not from the caller.
        """
        query = urllib.parse.urlencode({"driverId": driver_id, "logType": "stderr", "byteLength": log_bytes,
                                        "offset": 0})
        url = f"{base_url(worker_ui, what='Spark worker UI URL')}/log/?{query}"
        try:
            async with self.session().get(url, allow_redirects=False) as answer:
                text = await answer.text(errors="replace")
                status = answer.status
        except aiohttp.ClientConnectorError as exc:
            raise _unsent(exc, f"worker UI {shown_url(url)} unreachable", driver_id) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"worker UI {shown_url(url)} did not answer: {type(exc).__name__}",
                                 job_id=driver_id) from exc
        if status >= 500:
            raise TransientError(f"worker UI {shown_url(url)} answered HTTP {status}", job_id=driver_id)
        if status != 200:
            raise ProtocolError(f"worker UI {shown_url(url)} answered HTTP {status}", job_id=driver_id)
        return text


def _unsent(exc: aiohttp.ClientConnectorError, what: str, job_id: str | None, *,
            create: bool = False) -> ResumableError:
    """What a request that never left means (as ``_http.NotSent`` for the blocking clients)."""
    tls = isinstance(exc, aiohttp.ClientSSLError)
    text = f"{what}: {'TLS handshake failed: ' if tls else ''}{type(exc).__name__}"
    if create:  # nothing reached the master: nothing exists, so the intent may end clean
        return SubmissionNotSent(f"{text}; nothing was submitted", job_id=job_id)
    return ProtocolError(text, job_id=job_id) if tls else TransientError(text, job_id=job_id)


class AsyncSparkRestJob:
    """One ``SparkSubmission`` on one master, as an ``AsyncResumableJob`` (cancel and fingerprint too)."""

    def __init__(self, client: AsyncSparkRestClient, submission: SparkSubmission, *,
                 reference_property: str = DEFAULT_REFERENCE_PROPERTY, find_wait: float = 60.0,
                 find_interval: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        check_reference("probe", reference_property)
        self.client = client
        self.submission = submission
        self.reference_property = reference_property
        self.find_wait = find_wait
        self.find_interval = find_interval
        self.clock = clock
        self._progress = AsyncStandaloneProgress(client)

    async def submit_job(self, reference: str) -> str:
        request = self.submission.create_request(self.reference_property, reference)
        data = await self.client.call("POST", "/v1/submissions/create", request, create=True)
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
        if not isinstance(data.get("success"), bool):
            # As the blocking client: only the master's own "no" is "not found", never a JSON of another shape.
            raise ProtocolError(f"Spark status of driver {job_id!r}: JSON without a boolean 'success'", job_id=job_id)
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

    @property
    def batch_key(self) -> str:
        """The master's web UI; empty (never batched) when the client has none."""
        return batch_key("spark-standalone", self.client.web_ui_url) if self.client.web_ui_url else ""

    async def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The state of each of *job_ids* the master's ``/json/`` lists (UNKNOWN left to a direct ask)."""
        listed = await self.client.driver_states(set(job_ids))
        return {job_id: state for job_id, state in listed.items()
                if state in DRIVER_STATES and state != DRIVER_STATE_UNKNOWN}

    def is_job_active(self, status: str) -> bool:
        return status in DRIVER_STATES_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return status in DRIVER_STATES_SUCCEEDED

    async def get_job_result(self, job_id: str, status: str) -> dict[str, JsonValue]:
        return {"driver_id": job_id, "state": status}

    async def cancel_job(self, job_id: str) -> None:
        await self.client.call("POST", f"/v1/submissions/kill/{job_id}", job_id=job_id)

    async def find_job_by_reference(self, reference: str) -> str | None:
        """The driver launched with *reference*, None when surely none was, else TransientError
        (``SparkRestJob.find_job_by_reference``, by the same scan)."""
        check_reference(reference, self.reference_property)
        if self.client.web_ui_url is None:
            raise AmbiguousSubmission(
                f"cannot look up Spark reference {reference!r}: the client has no web_ui_url; "
                "check the cluster, then record the driver id or forget the key"
            )
        scan = reference_scan(self.submission, self.reference_property, reference, find_wait=self.find_wait,
                              find_interval=self.find_interval, clock=self.clock)
        return await find_awaiting(scan, master_state=self.client.master_state,
                                   log_head=self.client.driver_log_head, sleep=asyncio.sleep)

    def job_fingerprint(self) -> str:
        return self.submission.fingerprint()

    async def job_progress(self, job_id: str) -> Progress | None:
        """Tasks and stages done, from the driver's own UI (found from its stderr; needs the client's
        ``web_ui_url``): docs/progress.md."""
        return await self._progress.progress(job_id)


__all__ = ["AsyncSparkRestClient", "AsyncSparkRestJob"]
