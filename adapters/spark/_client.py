"""``SparkRestClient``: the Spark standalone REST submission protocol over one urllib3 pool.

Every answer is mapped at this edge to the core's error tree::

    connection refused, timeouts, resets, truncated bodies, 5xx    -> TransientError
    a master not ALIVE (standby, recovering)                      -> next master, then TransientError
    4xx (validation, auth) on create                              -> SubmissionRejected (server's message)
    4xx elsewhere, 468 (protocol version), redirects, HTML or
    non-JSON bodies, JSON of the wrong shape                      -> ProtocolError

Several masters (HA) are tried in turn, the one that answered last first. A create is
only retried on another master when the first one provably did not take it (refused
connection, not ALIVE): after a read timeout or a 5xx it may exist, and the caller must
look it up by reference instead of submitting twice. Redirects are never followed, so
credentials go only to the URLs configured here.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from resumable_core import InvalidArgument, JsonValue, ProtocolError, SubmissionRejected, TransientError
from resumable_core.errors import ExternalSystemError

from ._auth import SparkAuth
from ._model import DriverStatus, MasterState, opt_str, parse_master_state

try:
    import urllib3
    from urllib3 import exceptions as u3exc
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "adapters.spark needs urllib3: pip install 'resumable-core[spark]'"
    ) from exc

log = logging.getLogger("adapters.spark")

DRIVER_ID_RE = re.compile(r"driver-[0-9]{14}-[0-9]{4,10}")
_NOT_ALIVE = "Current state is not alive"  # Spark's prefix for a standby or recovering master
_MAX_BODY = 4 * 1024 * 1024
_PROTOCOL = "v1"


def check_driver_id(driver_id: object) -> str:
    """The id unchanged if it is a Spark driver id; anything else never reaches a URL."""
    if not isinstance(driver_id, str) or not DRIVER_ID_RE.fullmatch(driver_id):
        raise InvalidArgument(f"malformed Spark driver id {driver_id!r}", job_id=str(driver_id)[:80])
    return driver_id


def _base_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"Spark URL {url!r} must be http(s)://host:port")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidArgument("Spark URL must carry no credentials, query or fragment (use auth=)")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class _Answer:
    url: str
    status: int
    body: bytes
    content_type: str
    location: str | None

    def json_object(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def server_message(self) -> str:
        data = self.json_object()
        if data is not None and isinstance(data.get("message"), str):
            text: str = data["message"]
        else:  # Jetty's HTML error page: keep its words, not its markup
            text = re.sub(r"<[^>]*>", " ", self.body.decode("utf-8", "replace"))
        text = " ".join(text.split())
        return text[:300] + ("..." if len(text) > 300 else "")


class _NotSent(Exception):
    """The request provably did not reach a server (refused, connect timeout)."""


class SparkRestClient:
    """The REST submission server of one Spark standalone cluster (one or more masters).

    *rest_urls*: the masters' REST addresses (``http://host:6066``). *web_ui_urls*: the
    masters' web UIs (``http://host:8080``), needed only to list drivers (``/json/``) and so
    to find a driver by reference. *pool*: an injected ``urllib3.PoolManager`` (else one is
    made, TLS verified with the system store or *ca_certs*). *timeout*: per call.
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
        rest = [rest_urls] if isinstance(rest_urls, str) else list(rest_urls)
        uis = [web_ui_urls] if isinstance(web_ui_urls, str) else list(web_ui_urls)
        if not rest:
            raise InvalidArgument("SparkRestClient needs at least one REST URL")
        self.rest_urls = tuple(_base_url(u) for u in rest)
        self.web_ui_urls = tuple(_base_url(u) for u in uis)
        self.auth = auth
        self.timeout = timeout if isinstance(timeout, urllib3.Timeout) else urllib3.Timeout(total=timeout)
        self.log_bytes = log_bytes
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else urllib3.PoolManager(
            num_pools=8, maxsize=2, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs, retries=False
        )
        self._preferred = 0  # index of the master that answered last: try it first

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
        if data.get("success") is not True or not isinstance(driver_id, str):
            raise SubmissionRejected(f"Spark refused the submission: {_message(data)}")
        if not DRIVER_ID_RE.fullmatch(driver_id):
            raise ProtocolError(f"Spark answered a malformed driver id {driver_id[:80]!r}")
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
            message=opt_str(data.get("message")),
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
            except (_NotSent, TransientError) as exc:
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
        check_driver_id(driver_id)
        query = urllib.parse.urlencode(
            {"driverId": driver_id, "logType": "stderr", "offset": 0, "byteLength": self.log_bytes}
        )
        try:
            answer = self._send("GET", f"{_base_url(worker_ui)}/log/?{query}", None, authenticate=False)
        except _NotSent as exc:
            raise TransientError(f"worker UI {worker_ui} unreachable: {exc}", job_id=driver_id) from None
        if answer.status >= 500:
            raise TransientError(f"worker UI {worker_ui} answered HTTP {answer.status}", job_id=driver_id)
        if answer.status != 200:
            raise ProtocolError(f"worker UI {worker_ui} answered HTTP {answer.status}", job_id=driver_id)
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
        for index in order:
            base = self.rest_urls[index]
            url = f"{base}/{_PROTOCOL}/submissions{path}"
            try:
                answer = self._send(method, url, body, authenticate=True)
            except _NotSent as exc:
                seen.append(f"{base}: {exc}")
                continue
            except TransientError as exc:
                if not idempotent:
                    raise TransientError(f"Spark {op} at {base}: {exc.message}; it may have been accepted", job_id=job_id) from exc
                seen.append(f"{base}: {exc.message}")
                continue
            if answer.status >= 500:
                if not idempotent:
                    raise TransientError(
                        f"Spark {op} at {base} answered HTTP {answer.status} ({answer.server_message()}); "
                        "it may have been accepted",
                        job_id=job_id,
                    )
                seen.append(f"{base}: HTTP {answer.status}")
                continue
            data = self._json_or_raise(answer, op, rejected=not idempotent, job_id=job_id)
            message = data.get("message")
            if data.get("success") is not True and isinstance(message, str) and _NOT_ALIVE in message:
                seen.append(f"{base}: {' '.join(message.split())[:120]}")
                continue  # a standby or recovering master: provably did nothing
            if data.get("success") is not True and isinstance(message, str) and op == "status":
                # "not found" is an answer WITHOUT a message; an exception from the cluster is not one.
                raise TransientError(f"Spark status at {base}: {' '.join(message.split())[:200]}", job_id=job_id)
            self._preferred = index
            return data
        raise TransientError(f"Spark {op}: no master could answer: " + "; ".join(seen), job_id=job_id)

    def _send(self, method: str, url: str, body: bytes | None, *, authenticate: bool) -> _Answer:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json;charset=UTF-8"
        if authenticate and self.auth is not None:
            headers["Authorization"] = self.auth.header()
        started = time.perf_counter()
        try:
            response = self.pool.request(
                method, url, body=body, headers=headers, timeout=self.timeout,
                retries=False, redirect=False, preload_content=False,
            )
            try:
                raw = response.read(_MAX_BODY + 1)
                too_large = len(raw) > _MAX_BODY
            finally:
                response.release_conn()
        except (u3exc.ConnectTimeoutError, u3exc.NewConnectionError, u3exc.NameResolutionError) as exc:
            raise _NotSent(_short(exc)) from None
        except u3exc.SSLError as exc:
            raise ProtocolError(f"TLS failure talking to {_path_free(url)}: {_short(exc)}") from None
        except u3exc.HTTPError as exc:  # read timeout, reset, truncated body: may have been processed
            raise TransientError(f"{method} {_path_free(url)}: {type(exc).__name__}: {_short(exc)}") from None
        log.debug("%s %s -> %s in %.1f ms", method, _path_free(url), response.status, (time.perf_counter() - started) * 1e3)
        if too_large:
            raise ProtocolError(f"{method} {_path_free(url)}: answer larger than {_MAX_BODY} bytes")
        return _Answer(
            url=url, status=response.status, body=raw,
            content_type=response.headers.get("Content-Type", ""), location=response.headers.get("Location"),
        )

    def _json_or_raise(self, answer: _Answer, op: str, *, rejected: bool, job_id: str | None = None) -> dict[str, Any]:
        where = _path_free(answer.url)
        if 300 <= answer.status < 400:
            self._fail(rejected, f"Spark {op}: {where} redirected (HTTP {answer.status}) to "
                       f"{answer.location!r}; not followed, configure the final URL", job_id)
        if answer.status == 468:
            raise ProtocolError(f"Spark {op}: {where} does not speak REST protocol {_PROTOCOL} "
                                f"(HTTP 468: {answer.server_message()})", job_id=job_id)
        if answer.status >= 400:
            self._fail(rejected, f"Spark {op}: {where} answered HTTP {answer.status}: {answer.server_message()}", job_id)
        data = answer.json_object()
        if data is None:
            kind = "HTML" if b"<html" in answer.body[:512].lower() else "non-JSON"
            raise ProtocolError(f"Spark {op}: {where} answered {kind} ({answer.content_type or 'no type'}, "
                                f"{len(answer.body)} bytes) with HTTP {answer.status}", job_id=job_id)
        if not isinstance(data.get("success"), bool) and op != "master state":
            raise ProtocolError(f"Spark {op}: {where} answered JSON without a boolean 'success'", job_id=job_id)
        return data

    @staticmethod
    def _fail(rejected: bool, message: str, job_id: str | None) -> NoReturn:
        if rejected:
            raise SubmissionRejected(message, job_id=job_id)
        raise ProtocolError(message, job_id=job_id)


def _message(data: Mapping[str, Any]) -> str:
    message = data.get("message")
    return " ".join(message.split())[:300] if isinstance(message, str) else "no message"


def _path_free(url: str) -> str:
    """The URL without its query: what we log and put in messages."""
    return url.split("?", 1)[0]


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200]
