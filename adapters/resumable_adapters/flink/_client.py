"""FlinkRestClient: the REST API of one Flink session cluster (the JobManager's ``rest.port``).

Every call is bounded as a whole (``resumable_adapters._http``, as the Spark client's) and
every answer is mapped here, at the edge, to what it proves:

- ``run_jar``: 200 with a job id: submitted. A 400 whose cause is Flink's
  ``DuplicateApplicationSubmissionException`` (or ``DuplicateJobSubmissionException``):
  a job with the id we chose exists already: ``RunAnswer(already_submitted=True)``. Any
  other 4xx, a jar the server no longer has (``JarNotFound``) and an entry class missing from
  the jar: ``SubmissionRejected`` (nothing ran). A run that provably never left (connection
  refused, a TLS handshake refused), and so a ``FlinkJob`` submission whose jar list or upload
  never left: ``SubmissionRejected`` saying nothing was submitted. A 5xx, a cut answer, a
  timeout: ``TransientError`` saying it may have been accepted (the job id closes that window).
- ``job``: ``GET /jobs/:jobid``; 404 is None (unknown). ``/jobs/:jobid/status`` is never
  read: it answers 500 for an unknown id, which must not pass for "not found".
- Every call: a body that is not JSON (a proxy's HTML page, a cut body) is ``MalformedAnswer``
  (a ``TransientError``: asked again within the poll budget); JSON that contradicts the
  protocol is a ``ProtocolError``; unreachable is a ``TransientError``, and a TLS handshake
  refused a ``ProtocolError`` (asking again will not help).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from resumable_core import InvalidArgument, JsonValue, ProtocolError, SubmissionRejected, TransientError
from resumable_core.errors import SubmissionNotSent
from resumable_core.redaction import redact

try:
    import urllib3
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("resumable_adapters.flink needs urllib3: pip install 'resumable-core[flink]'") from exc

from resumable_adapters._batching import batch_key
from resumable_adapters._http import HttpAnswer, NotSent, base_url, http_call, json_object, shown_url, timeouts

from ._model import (
    CheckpointSummary,
    JobDetails,
    SavepointOperation,
    check_job_id,
    parse_checkpoints,
    parse_job,
)

log = logging.getLogger("resumable_adapters.flink")
_DUPLICATE = re.compile(r"Duplicate(Application|Job)SubmissionException")
_ENTRY_MISSING = re.compile(r"entry point class '[^']*' was not found|ClassNotFoundException")
_JAR_MISSING = re.compile(r"Jar file \S+ does not exist")
_CAUSE = re.compile(r"Caused by: ([\w.$]+(?:Exception|Error)[^\n\\]*)")
_TRIGGER_ID_RE = re.compile(r"[0-9a-f]{32}")


class JarNotFound(SubmissionRejected):
    """The cluster does not have the uploaded jar (a restarted JobManager forgets its uploads)."""


class _Unreachable(TransientError):
    """The request provably never left (refused, unresolvable): the cluster may be restarting."""


class _TlsRefused(ProtocolError):
    """The TLS handshake failed (a certificate refused): provably not received, and asking again will not help."""


UNSENT = (_Unreachable, _TlsRefused)  # what a submission turns into "nothing was submitted"


def nothing_submitted(where: str, exc: TransientError | ProtocolError, job_id: str | None) -> SubmissionRejected:
    """A submission none of whose requests reached the cluster: nothing exists, so it ends clean."""
    return SubmissionNotSent(f"{where}: {exc.message}; nothing was submitted", job_id=job_id)


@dataclass(frozen=True, slots=True)
class UploadedJar:
    jar_id: str
    name: str
    uploaded: int | None  # epoch ms


@dataclass(frozen=True, slots=True)
class RunAnswer:
    """What ``POST /jars/:jarid/run`` proved: *job_id* exists, made now or before (*already_submitted*)."""

    job_id: str
    already_submitted: bool


class FlinkRestClient:
    """The REST API of one Flink session cluster.

    *url*: the JobManager's REST address (``http://jobmanager:8081``). *pool*: an injected
    ``urllib3.PoolManager``. *timeout* bounds each ordinary call as a whole; *run_timeout*
    bounds an upload and a run, which execute the jar's ``main`` on the JobManager.
    *headers*: sent with every call (an ``Authorization`` for a proxy in front of Flink);
    their values are kept out of every message.
    """

    def __init__(
        self,
        url: str,
        *,
        pool: urllib3.PoolManager | None = None,
        timeout: float | urllib3.Timeout = urllib3.Timeout(connect=5.0, read=15.0),
        run_timeout: float = 120.0,
        ca_certs: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = base_url(url, what="Flink REST URL")
        self.timeout, self.call_deadline = timeouts(timeout, "FlinkRestClient")
        self.run_timeout, self.run_deadline = timeouts(run_timeout, "FlinkRestClient run")
        self._headers = dict(headers or {})
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else urllib3.PoolManager(
            num_pools=4, maxsize=4, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs, retries=False)

    def __repr__(self) -> str:
        return f"FlinkRestClient({shown_url(self.url)!r})"

    @property
    def listing_key(self) -> str:
        """What one ``/jobs/overview`` covers: this JobManager, asked with these headers (a
        per-process keyed hash: they may carry an Authorization)."""
        return batch_key("flink", self.url, secrets=(json.dumps(sorted(self._headers.items())),))

    def close(self) -> None:
        if self._owns_pool:
            self.pool.clear()

    # -- jars --------------------------------------------------------------------------------

    def jars(self) -> list[UploadedJar]:
        """``GET /jars``: every jar the cluster holds."""
        data = self._json("GET", "/jars", what="jar list")
        files = data.get("files")
        if not isinstance(files, list):
            raise ProtocolError(f"Flink {shown_url(self.url)}/jars answered without a 'files' list")
        found = []
        for item in files:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("name"), str):
                uploaded = item.get("uploaded")
                found.append(UploadedJar(item["id"], item["name"], uploaded if isinstance(uploaded, int) else None))
        return found

    def upload_jar(self, path: Path, name: str) -> str:
        """``POST /jars/upload`` of the file at *path* under file name *name*; the jar id."""
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"cannot read the Flink jar {str(path)!r}: {exc.strerror or exc}") from None
        body, content_type = urllib3.encode_multipart_formdata(
            {"jarfile": (name, content, "application/x-java-archive")})
        answer = self._send("POST", "/jars/upload", body, content_type=content_type, long=True)
        data = self._decoded(answer, "jar upload", rejected=False)
        filename = data.get("filename")
        if data.get("status") != "success" or not isinstance(filename, str):
            raise ProtocolError(f"Flink jar upload answered {answer.text(self._secrets())!r}")
        return filename.rsplit("/", 1)[-1]  # the jar id is the stored file's name: <uuid>_<name>

    # -- jobs --------------------------------------------------------------------------------

    def run_jar(self, jar_id: str, request: Mapping[str, JsonValue]) -> RunAnswer:
        """``POST /jars/:jarid/run``; see the module docstring for what each answer means."""
        asked = request.get("jobId")
        body = json.dumps(request).encode()
        where = f"Flink run of job {asked}" if isinstance(asked, str) else "Flink run"
        job_id = asked if isinstance(asked, str) else None
        try:
            answer = self._send("POST", f"/jars/{_segment(jar_id)}/run", body, long=True)
        except UNSENT as exc:
            raise nothing_submitted(where, exc, job_id) from None
        except TransientError as exc:
            raise TransientError(f"{where}: {exc.message}; it may have been accepted", job_id=job_id) from None
        text = self._error_text(answer)
        if answer.status == 400 and _DUPLICATE.search(answer.body.decode("utf-8", "replace")):
            if job_id is None:
                raise ProtocolError(f"{where}: Flink answered a duplicate submission for a run without a job id")
            return RunAnswer(job_id, already_submitted=True)
        if 400 <= answer.status < 500:
            raise SubmissionRejected(f"{where}: refused with HTTP {answer.status}: {text}", job_id=job_id)
        if answer.status >= 500 and _JAR_MISSING.search(answer.body.decode("utf-8", "replace")):
            raise JarNotFound(f"{where}: the cluster no longer has jar {jar_id}", job_id=job_id)
        if answer.status >= 500 and _ENTRY_MISSING.search(answer.body.decode("utf-8", "replace")):
            # The program never started: its main class is not in the jar.
            raise SubmissionRejected(f"{where}: {text}", job_id=job_id)
        if answer.status >= 500:
            raise TransientError(f"{where}: HTTP {answer.status}: {text}; it may have been accepted", job_id=job_id)
        data = self._decoded(answer, "run", rejected=False, job_id=job_id, after="; it may have been accepted")
        answered = data.get("jobid")
        if not isinstance(answered, str) or not answered:
            raise ProtocolError(f"{where}: Flink answered HTTP {answer.status} without a job id; "
                                "it may have been accepted", job_id=job_id)
        if job_id is not None and answered != job_id:
            # A cluster that ignores jobId (older than Flink 1.14?) cannot be found again by it.
            log.warning("%s", redact(f"{where}: Flink ran it as job {answered[:40]}, not the id asked for; "
                                     "a crash before the id is recorded cannot be closed on this cluster"))
        return RunAnswer(answered, already_submitted=False)

    def job(self, job_id: str) -> JobDetails | None:
        """``GET /jobs/:jobid``; None when the cluster answers 404 (it does not know the id)."""
        check_job_id(job_id)
        answer = self._send("GET", f"/jobs/{job_id}", None)
        if answer.status == 404:
            return None
        return parse_job(job_id, self._decoded(answer, "job status", rejected=False, job_id=job_id))

    def jobs_overview(self) -> dict[str, str]:
        """``GET /jobs/overview``: every job the JobManager holds, id -> state (one call for many jobs)."""
        data = self._json("GET", "/jobs/overview", what="jobs overview")
        jobs = data.get("jobs")
        if not isinstance(jobs, list):
            raise ProtocolError(f"Flink {shown_url(self.url)}/jobs/overview answered without a 'jobs' list")
        return {j["jid"]: j["state"] for j in jobs
                if isinstance(j, dict) and isinstance(j.get("jid"), str) and isinstance(j.get("state"), str)}

    def checkpoints(self, job_id: str) -> CheckpointSummary | None:
        """``GET /jobs/:jobid/checkpoints``; None when the job is unknown."""
        check_job_id(job_id)
        answer = self._send("GET", f"/jobs/{job_id}/checkpoints", None)
        if answer.status == 404:
            return None
        return parse_checkpoints(job_id, self._decoded(answer, "checkpoints", rejected=False, job_id=job_id))

    def cancel(self, job_id: str) -> bool:
        """``PATCH /jobs/:jobid?mode=cancel``; False when the job had ended (409) or is unknown (404)."""
        check_job_id(job_id)
        answer = self._send("PATCH", f"/jobs/{job_id}?mode=cancel", None)
        if answer.status in (404, 409):
            return False
        self._decoded(answer, "cancel", rejected=False, job_id=job_id, empty_ok=True)
        return True

    def stop_with_savepoint(self, job_id: str, *, target_directory: str | None, trigger_id: str,
                            drain: bool = False) -> str:
        """``POST /jobs/:jobid/stop``: a savepoint, then the job ends. The trigger id is the
        client's, so a retried stop is the same operation (within ``rest.async.store-duration``)."""
        check_job_id(job_id)
        if not _TRIGGER_ID_RE.fullmatch(trigger_id):
            raise InvalidArgument(f"a Flink trigger id is 32 lowercase hex digits, got {trigger_id[:80]!r}")
        request: dict[str, JsonValue] = {"drain": drain, "triggerId": trigger_id}
        if target_directory is not None:
            request["targetDirectory"] = target_directory
        data = self._json("POST", f"/jobs/{job_id}/stop", json.dumps(request).encode(), what="stop",
                          job_id=job_id)
        answered = data.get("request-id")
        if not isinstance(answered, str):
            raise ProtocolError("Flink stop answered without a request-id", job_id=job_id)
        return answered

    def savepoint(self, job_id: str, trigger_id: str) -> SavepointOperation | None:
        """``GET /jobs/:jobid/savepoints/:triggerid``; None when the cluster has no such operation."""
        check_job_id(job_id)
        answer = self._send("GET", f"/jobs/{job_id}/savepoints/{_segment(trigger_id)}", None)
        if answer.status == 404:
            return None
        data = self._decoded(answer, "savepoint status", rejected=False, job_id=job_id)
        status = data.get("status")
        state = status.get("id") if isinstance(status, dict) else None
        if not isinstance(state, str):
            raise ProtocolError("Flink savepoint status answered without a status id", job_id=job_id)
        operation = data.get("operation")
        location = failure = None
        if isinstance(operation, dict):
            location = operation.get("location") if isinstance(operation.get("location"), str) else None
            cause = operation.get("failure-cause")
            if isinstance(cause, dict):
                failure = self._first_cause(str(cause.get("stack-trace") or cause.get("class") or "failed"))
        return SavepointOperation(state, location, failure)

    def overview(self) -> dict[str, Any]:
        """``GET /overview``: the version and slot counts (a readiness check)."""
        return self._json("GET", "/overview", what="overview")

    # -- plumbing ------------------------------------------------------------------------------

    def _json(self, method: str, path: str, body: bytes | None = None, *, what: str,
              job_id: str | None = None) -> dict[str, Any]:
        return self._decoded(self._send(method, path, body), what, rejected=False, job_id=job_id)

    def _send(self, method: str, path: str, body: bytes | None, *, content_type: str = "application/json",
              long: bool = False) -> HttpAnswer:
        headers = {"Accept": "application/json", **self._headers}
        if body is not None:
            headers["Content-Type"] = content_type
        url = self.url + path
        started = time.perf_counter()
        try:
            answer = http_call(self.pool, method, url, body=body, headers=headers,
                               timeout=self.run_timeout if long else self.timeout,
                               deadline=self.run_deadline if long else self.call_deadline,
                               secrets=self._secrets())
        except NotSent as exc:
            # Provably not received: transient (the cluster may be restarting), unless a retry
            # cannot help (a certificate refused); a submission turns either into a clean refusal.
            raise (_TlsRefused if exc.lasting else _Unreachable)(
                f"Flink {shown_url(self.url)} unreachable: {exc.reason}") from None
        log.debug("%s %s -> %s in %.1f ms", method, shown_url(url), answer.status,
                  (time.perf_counter() - started) * 1e3)
        return answer

    def _decoded(self, answer: HttpAnswer, what: str, *, rejected: bool, job_id: str | None = None,
                 empty_ok: bool = False, after: str = "") -> dict[str, Any]:
        where = shown_url(answer.url)
        if 300 <= answer.status < 400:
            raise ProtocolError(f"Flink {what}: {where} redirected (HTTP {answer.status}); not followed, "
                                "configure the final URL", job_id=job_id)
        if answer.status >= 500 or answer.status in (408, 429):
            raise TransientError(f"Flink {what}: {where} answered HTTP {answer.status}: "
                                 f"{self._error_text(answer)}", job_id=job_id)
        if answer.status >= 400:
            self._fail(rejected, f"Flink {what}: {where} answered HTTP {answer.status}: {self._error_text(answer)}",
                       job_id)
        if empty_ok and not answer.body.strip():
            return {}
        # Not JSON at all (a proxy's HTML page, a cut body): MalformedAnswer, asked again; JSON
        # that is not an object contradicts the protocol: ProtocolError.
        return json_object(answer.body, what=f"Flink {what}: {where}", status=answer.status,
                           content_type=answer.content_type, job_id=job_id, after=after)

    def _error_text(self, answer: HttpAnswer) -> str:
        """Flink's ``{"errors": [...]}`` as one short line: the first message and its root cause."""
        data = answer.json()
        errors = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
            joined = "\n".join(errors)
            first = joined.split("\n", 1)[0]
            text = first + ("" if (cause := self._first_cause(joined)) in first else f" (cause: {cause})")
        else:
            text = answer.text(self._secrets(), limit=300)
        text = redact(" ".join(text.split()), self._secrets())
        return text[:400] + ("..." if len(text) > 400 else "")

    @staticmethod
    def _first_cause(trace: str) -> str:
        """The innermost ``Caused by:`` of a Java stack trace (the root cause), else its first line."""
        causes = _CAUSE.findall(trace)
        return causes[-1].strip() if causes else trace.split("\n", 1)[0][:200]

    def _secrets(self) -> tuple[str, ...]:
        found = []
        for name, value in self._headers.items():
            if name.lower() in ("authorization", "proxy-authorization", "cookie") or "token" in name.lower():
                found.append(value)
                found.append(value.partition(" ")[2])
        return tuple(v for v in found if v)

    @staticmethod
    def _fail(rejected: bool, message: str, job_id: str | None) -> NoReturn:
        if rejected:
            raise SubmissionRejected(message, job_id=job_id)
        raise ProtocolError(message, job_id=job_id)


def _segment(value: str) -> str:
    """A path segment from the cluster or a caller: nothing that could leave the path."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,300}", value):
        raise InvalidArgument(f"not a valid Flink id: {value[:80]!r}")
    return value


__all__ = ["FlinkRestClient", "JarNotFound", "RunAnswer", "UploadedJar"]
