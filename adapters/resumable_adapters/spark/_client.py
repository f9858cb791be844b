"""``SparkRestClient``: the Spark standalone REST submission protocol over one urllib3 pool.

Every answer is mapped at this edge to the core's error tree::

    connection refused, timeouts, resets, truncated bodies, 5xx,
    a call not answered in full within its deadline               -> TransientError
    a master not ALIVE (standby, recovering)                      -> next master, then TransientError
    a TLS handshake that failed (a certificate refused)           -> next master, then ProtocolError
    on create: no master reached or ALIVE (refused, unresolvable,
    TLS handshake failed, standby), nothing sent to an ALIVE one  -> SubmissionRejected (nothing submitted)
    on create: 4xx (validation, auth), success:false              -> SubmissionRejected (server's message)
    on create: 3xx, success:true without a string submissionId    -> ProtocolError (it may exist)
    a body that is not JSON at all (a proxy's HTML page, cut JSON) -> MalformedAnswer (transient)
    4xx elsewhere, 468 (protocol version), redirects,
    JSON of the wrong shape                                       -> ProtocolError

Only an answer that proves nothing was created is a refusal: the core drops the intent
on SubmissionRejected alone, and keeps it for anything else, so the next attempt looks
the reference up instead of submitting a second driver.

Several masters (HA) are tried in turn, the one that answered last first; they may be
given as a list or as one comma-separated string (``http://a:6066,http://b:6066``, or
Spark's ``spark://a:6066,b:6066``). A create is only retried on another master when the
first one provably did not take it (refused connection, not ALIVE): after a read timeout
or a 5xx it may exist, and the caller must look it up by reference instead of submitting
twice. Redirects are never followed, so credentials go only to the URLs configured here.

Each call is bounded as a whole (``_deadline``): a server trickling bytes cannot hold
it past its deadline. Every text this module shows (errors, log lines) is redacted,
and so is any echo of the credentials it sent.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

from resumable_core import InvalidArgument, JsonValue, ProtocolError, SubmissionRejected, TransientError
from resumable_core.errors import ExternalSystemError, SubmissionNotSent
from resumable_core.redaction import redact

from ._auth import SparkAuth
from ._model import DriverStatus, MasterState, opt_str, parse_master_state, parse_worker_drivers

try:
    import urllib3
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "resumable_adapters.spark needs urllib3: pip install 'resumable-core[spark]'"
    ) from exc

from .._http import (  # after the urllib3 check
    HttpAnswer,
    NotSent,
    base_url,
    http_call,
    json_object,
    shown_url,
    split_masters,
    timeouts,
)

log = logging.getLogger("resumable_adapters.spark")

DRIVER_ID_RE = re.compile(r"driver-[0-9]{14}-[0-9]{4,10}")
_NOT_ALIVE = "Current state is not alive"  # Spark's prefix for a standby or recovering master
_MAX_BODY = 4 * 1024 * 1024
_PROTOCOL = "v1"


def check_driver_id(driver_id: object) -> str:
    """The id unchanged if it is a Spark driver id; anything else never reaches a URL."""
    if not isinstance(driver_id, str) or not DRIVER_ID_RE.fullmatch(driver_id):
        raise InvalidArgument(f"malformed Spark driver id {driver_id!r}", job_id=str(driver_id)[:80])
    return driver_id
_RECENT_TOKENS = 16  # minted credentials remembered, to mask a server's echo of one


def _json_object(answer: HttpAnswer) -> dict[str, Any] | None:
    value = answer.json()
    return value if isinstance(value, dict) else None


def _server_message(answer: HttpAnswer, known: Iterable[str] = ()) -> str:
    data = _json_object(answer)
    if data is not None and isinstance(data.get("message"), str):
        text: str = data["message"]
    else:  # Jetty's HTML error page: keep its words, not its markup
        text = re.sub(r"<[^>]*>", " ", answer.body.decode("utf-8", "replace"))
    text = redact(" ".join(text.split()), known)  # before cutting: a cut secret no longer matches
    return text[:300] + ("..." if len(text) > 300 else "")


class SparkRestClient:
    """The REST submission server of one Spark standalone cluster (one or more masters).

    *rest_urls*: the masters' REST addresses (``http://host:6066``). *web_ui_urls*: the
    masters' web UIs (``http://host:8080``), needed only to list drivers (``/json/``) and so
    to find a driver by reference. *pool*: an injected ``urllib3.PoolManager`` (else one is
    made, TLS verified with the system store or *ca_certs*). *timeout*: a number bounds
    each call as a whole (connect, send, read); a ``urllib3.Timeout`` bounds its phases,
    and the whole call by its ``total``, else by connect + read.
    """

    def __init__(
        self,
        rest_urls: str | Sequence[str],
        *,
        web_ui_urls: str | Sequence[str] = (),
        auth: SparkAuth | None = None,
        pool: urllib3.PoolManager | None = None,
        timeout: float | urllib3.Timeout = urllib3.Timeout(connect=5.0, read=15.0),
        ca_certs: str | None = None,
        log_bytes: int = 65536,
    ) -> None:
        self.rest_urls = split_masters(rest_urls, what="Spark REST URL", allow_spark=True)
        self.web_ui_urls = split_masters(web_ui_urls, what="Spark web UI URL", allow_spark=False)
        if not self.rest_urls:
            raise InvalidArgument("SparkRestClient needs at least one REST URL")
        self.auth = auth
        self.timeout, self.call_deadline = timeouts(timeout, "SparkRestClient")
        self.log_bytes = log_bytes
        self._sent_tokens: collections.deque[str] = collections.deque(maxlen=_RECENT_TOKENS)
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else urllib3.PoolManager(
            num_pools=8, maxsize=2, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs, retries=False
        )
        self._preferred = 0  # index of the master that answered last: try it first

    def __repr__(self) -> str:
        return f"SparkRestClient(rest_urls={self.rest_urls!r}, web_ui_urls={self.web_ui_urls!r})"

    @property
    def active_rest_url(self) -> str:
        """The master that answered last (asked first next time)."""
        return self.rest_urls[self._preferred]

    # -- the protocol --------------------------------------------------------------------------

    def create(self, request: Mapping[str, JsonValue]) -> str:
        """Submit; the new driver id. SubmissionRejected only when surely not submitted."""
        body = json.dumps(request).encode()
        data = self._on_masters("create", "POST", "/create", body, idempotent=False)
        driver_id = data.get("submissionId")
        if data.get("success") is not True:
            if driver_id is None:  # Spark's own refusal: the master did not take it
                raise SubmissionRejected(f"Spark refused the submission: {self._message(data)}")
            raise ProtocolError(
                f"Spark answered success:false but named submission {str(driver_id)[:80]!r} "
                f"({self._message(data)}); it may have been accepted"
            )
        if not isinstance(driver_id, str):
            # Accepted, but we cannot tell which driver: only a lookup by reference can.
            raise ProtocolError(
                f"Spark accepted the submission (success:true) but gave no driver id (submissionId="
                f"{_kind(driver_id)}); it may have been accepted"
            )
        if not DRIVER_ID_RE.fullmatch(driver_id):
            raise ProtocolError(f"Spark answered a malformed driver id {driver_id[:80]!r}; it may have been accepted")
        return driver_id

    def status(self, driver_id: str) -> DriverStatus | None:
        """The driver's status, or None when the (ALIVE) master does not know the id."""
        check_driver_id(driver_id)
        data = self._on_masters("status", "GET", f"/status/{driver_id}", None, idempotent=True, job_id=driver_id)
        if data.get("success") is not True:
            return None
        state = data.get("driverState")
        if not isinstance(state, str):
            raise ProtocolError("Spark status answer has success:true and no driverState", job_id=driver_id)
        return DriverStatus(
            driver_id=driver_id,
            state=state,
            worker_id=opt_str(data.get("workerId")),
            worker_host_port=opt_str(data.get("workerHostPort")),
            message=self._scrub(opt_str(data.get("message"))),
            master=self.active_rest_url,
        )

    def kill(self, driver_id: str) -> bool:
        """Ask to kill; False when the master refused (already ended or unknown id)."""
        check_driver_id(driver_id)
        data = self._on_masters("kill", "POST", f"/kill/{driver_id}", b"", idempotent=True, job_id=driver_id)
        return data.get("success") is True

    def clear(self) -> bool:
        """Spark 4: make the master forget its completed drivers."""
        return self._on_masters("clear", "POST", "/clear", b"", idempotent=True).get("success") is True

    def readyz(self) -> bool:
        try:
            return self._on_masters("readyz", "GET", "/readyz", None, idempotent=True).get("success") is True
        except ExternalSystemError:
            return False

    def master_state(self) -> MasterState:
        """The ALIVE master's ``/json/``: drivers (active, then completed) and ALIVE workers."""
        if not self.web_ui_urls:
            raise InvalidArgument("SparkRestClient has no web_ui_urls; listing drivers needs the master UI")
        seen: list[str] = []
        for base in self.web_ui_urls:
            try:
                answer = self._send("GET", f"{base}/json/", None, authenticate=True)
            except NotSent as exc:
                if exc.lasting:  # a certificate refused: asking again will not help
                    raise ProtocolError(f"Spark master UI {exc}") from None
                seen.append(f"{base}: {exc.reason}")
                continue
            except TransientError as exc:
                seen.append(f"{base}: {exc}")
                continue
            data = self._json_or_raise(answer, "master state", rejected=False)
            status = str(data.get("status"))
            if status != "ALIVE":
                seen.append(f"{base}: {status}")
                continue
            return parse_master_state(base, data)
        raise TransientError("no ALIVE Spark master UI answered: " + "; ".join(seen))

    def driver_log_head(self, worker_ui: str, driver_id: str) -> str:
        """The head of a driver's stderr from its worker (its first line is the launch command).

        Sent without credentials: the worker address comes from the cluster, not from us.
        """
        return self.driver_log(worker_ui, driver_id, "stderr", tail=False)

    def driver_log(self, worker_ui: str, driver_id: str, log_type: str = "stderr", *, tail: bool = False) -> str:
        """*log_bytes* of a driver's ``stderr`` or ``stdout`` on its worker: the head, or the tail."""
        check_driver_id(driver_id)
        if log_type not in ("stderr", "stdout"):
            raise InvalidArgument(f"log_type must be 'stderr' or 'stdout', got {log_type!r}")
        params: dict[str, str | int] = {"driverId": driver_id, "logType": log_type, "byteLength": self.log_bytes}
        if not tail:  # without an offset the worker serves the last byteLength bytes
            params["offset"] = 0
        return self._worker_get(worker_ui, f"/log/?{urllib.parse.urlencode(params)}", job_id=driver_id)

    def worker_drivers(self, worker_ui: str) -> dict[str, str] | None:
        """What a worker says of its drivers, running and finished: driver id -> state.

        The worker keeps the final state of a driver the master may have lost (a master
        restarted without recovery, or one that recovered after the driver ended). None when
        the worker answers that it has no such page (HTTP 404): a definite answer, unlike a
        page that cannot be read (TransientError).
        """
        page = self._worker_page(worker_ui, "/", job_id=None)
        return None if page is None else parse_worker_drivers(shown_url(worker_ui), page)

    def _worker_get(self, worker_ui: str, path: str, *, job_id: str | None) -> str:
        page = self._worker_page(worker_ui, path, job_id=job_id)
        if page is None:
            raise ProtocolError(f"worker UI {shown_url(worker_ui)} answered HTTP 404", job_id=job_id)
        return page

    def _worker_page(self, worker_ui: str, path: str, *, job_id: str | None) -> str | None:
        url = base_url(worker_ui, what="Spark worker UI URL")
        try:
            answer = self._send("GET", url + path, None, authenticate=False)
        except NotSent as exc:
            error = ProtocolError if exc.lasting else TransientError
            raise error(f"worker UI {shown_url(url)} unreachable: {exc.reason}", job_id=job_id) from None
        if answer.status >= 500:
            raise TransientError(f"worker UI {shown_url(url)} answered HTTP {answer.status}", job_id=job_id)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise ProtocolError(f"worker UI {shown_url(url)} answered HTTP {answer.status}", job_id=job_id)
        return answer.body.decode("utf-8", "replace")

    def close(self) -> None:
        if self._owns_pool:
            self.pool.clear()

    # -- plumbing ----------------------------------------------------------------------------

    def _on_masters(
        self, op: str, method: str, path: str, body: bytes | None, *, idempotent: bool, job_id: str | None = None
    ) -> dict[str, Any]:
        order = [self._preferred] + [i for i in range(len(self.rest_urls)) if i != self._preferred]
        seen: list[str] = []
        lasting = False  # a master refused by TLS: a configuration to fix, not a wait
        for index in order:
            base = self.rest_urls[index]
            url = f"{base}/{_PROTOCOL}/submissions{path}"
            try:
                answer = self._send(method, url, body, authenticate=True)
            except NotSent as exc:
                seen.append(f"{base}: {exc.reason}")
                lasting = lasting or exc.lasting
                continue
            except TransientError as exc:
                if not idempotent:
                    raise TransientError(f"Spark {op} at {base}: {exc.message}; it may have been accepted", job_id=job_id) from exc
                seen.append(f"{base}: {exc.message}")
                continue
            if answer.status >= 500:
                if not idempotent:
                    raise TransientError(
                        f"Spark {op} at {base} answered HTTP {answer.status} "
                        f"({_server_message(answer, self._known_secrets())}); it may have been accepted",
                        job_id=job_id,
                    )
                seen.append(f"{base}: HTTP {answer.status}")
                continue
            data = self._json_or_raise(answer, op, rejected=not idempotent, job_id=job_id)
            message = data.get("message")
            if data.get("success") is not True and isinstance(message, str) and _NOT_ALIVE in message:
                seen.append(f"{base}: {self._message(data, 120)}")
                continue  # a standby or recovering master: provably did nothing
            if data.get("success") is not True and isinstance(message, str) and op == "status":
                # "not found" is an answer WITHOUT a message; an exception from the cluster is not one.
                raise TransientError(f"Spark status at {base}: {self._message(data, 200)}", job_id=job_id)
            self._preferred = index
            return data
        text = f"Spark {op}: no master could answer: " + "; ".join(seen)
        if not idempotent:
            # A create reaches this line only when every master provably did nothing: the request
            # never left for it, or it was not ALIVE. Nothing exists, so the intent may end clean.
            raise SubmissionNotSent(f"{text}; nothing was submitted", job_id=job_id)
        raise (ProtocolError if lasting else TransientError)(text, job_id=job_id)

    def _send(self, method: str, url: str, body: bytes | None, *, authenticate: bool) -> HttpAnswer:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json;charset=UTF-8"
        if authenticate and self.auth is not None:
            headers["Authorization"] = credential = self.auth.header()
            self._sent_tokens.append(credential.partition(" ")[2] or credential)
        started = time.perf_counter()
        answer = http_call(self.pool, method, url, body=body, headers=headers, timeout=self.timeout,
                           deadline=self.call_deadline, secrets=self._known_secrets(), max_body=_MAX_BODY)
        log.debug("%s %s -> %s in %.1f ms", method, shown_url(url), answer.status,
                  (time.perf_counter() - started) * 1e3)
        return answer

    def _known_secrets(self) -> tuple[str, ...]:
        """Credentials this client sent or holds: masked wherever a server echoes them."""
        held = self.auth.secrets() if self.auth is not None else ()
        return (*held, *self._sent_tokens)

    def _scrub(self, text: str | None) -> str | None:
        return None if text is None else redact(text, self._known_secrets())

    def _message(self, data: Mapping[str, Any], limit: int = 300) -> str:
        message = data.get("message")
        if not isinstance(message, str):
            return "no message"
        return redact(" ".join(message.split()), self._known_secrets())[:limit]

    def _json_or_raise(self, answer: HttpAnswer, op: str, *, rejected: bool, job_id: str | None = None) -> dict[str, Any]:
        where = shown_url(answer.url)
        known = self._known_secrets()
        if 300 <= answer.status < 400:
            # Never a refusal: a proxy may have passed the request on before redirecting us.
            location = shown_url(redact(answer.location, known)) if answer.location else None
            raise ProtocolError(f"Spark {op}: {where} redirected (HTTP {answer.status}) to "
                                f"{location!r}; not followed, configure the final URL"
                                + ("; it may have been accepted" if rejected else ""), job_id=job_id)
        if answer.status == 468:
            raise ProtocolError(f"Spark {op}: {where} does not speak REST protocol {_PROTOCOL} "
                                f"(HTTP 468: {_server_message(answer, known)})", job_id=job_id)
        if answer.status >= 400:
            self._fail(rejected, f"Spark {op}: {where} answered HTTP {answer.status}: {_server_message(answer, known)}",
                       job_id)
        data = json_object(answer.body, what=f"Spark {op}: {where}", status=answer.status,
                           content_type=answer.content_type, job_id=job_id,
                           after="; it may have been accepted" if rejected else "")
        if not isinstance(data.get("success"), bool) and op != "master state":
            raise ProtocolError(f"Spark {op}: {where} answered JSON without a boolean 'success'", job_id=job_id)
        return data

    @staticmethod
    def _fail(rejected: bool, message: str, job_id: str | None) -> NoReturn:
        if rejected:
            raise SubmissionRejected(message, job_id=job_id)
        raise ProtocolError(message, job_id=job_id)


def _kind(value: object) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"
