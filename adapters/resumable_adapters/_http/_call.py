"""One HTTP call for the Spark REST, YARN and Kubernetes clients: bounded as a whole, mapped at the edge.

A call that provably never reached a server is ``NotSent`` (the caller may try another
server, and a create that reached none made nothing): refused, unresolvable, no connection
in time, and any failure before the first byte of the request left, a failed TLS handshake
included (``lasting``: retrying will not fix a wrong CA). A read timeout, a reset or a cut
answer after the request left is a ``TransientError`` (the server may have acted); a TLS
failure then is a ``ProtocolError``.
Redirects are never followed here: credentials go only to the URLs the caller
configured. Every text is scrubbed of the secrets given.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from resumable_core import InvalidArgument, ProtocolError, TransientError
from resumable_core.redaction import redact

try:
    import urllib3
    from urllib3 import exceptions as u3exc
except ImportError as exc:  # pragma: no cover - the same hint as the standalone client
    raise ImportError("resumable_adapters needs urllib3 for its HTTP clients (Spark, YARN, Kubernetes): pip install 'resumable-core[spark]'") from exc

from ._bound import bound_left
from ._deadline import CallWatch, call_deadline, watch_pool
from ._urls import shown_url

MAX_BODY = 8 * 1024 * 1024


class NotSent(Exception):
    """The request provably did not reach a server (refused, connect timeout, unresolvable, TLS handshake).

    Its text is ``<url>: <reason>``; *reason* alone is there for a caller that names the server itself.
    *lasting*: a retry will not fix it (a certificate the client rejects): a caller that would
    retry a reachable-later server says ``ProtocolError`` instead.
    """

    def __init__(self, where: str, reason: str, *, lasting: bool = False) -> None:
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        self.lasting = lasting


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    url: str
    status: int
    body: bytes
    content_type: str
    location: str | None
    headers: tuple[tuple[str, str], ...] = ()  # every header as received (repeated ones repeated)

    def header_values(self, name: str) -> list[str]:
        """Every value of header *name* (case-insensitive), in order: ``Set-Cookie`` may come several times."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def json(self) -> Any:
        """The decoded JSON body, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def text(self, secrets: Collection[str] = (), limit: int = 300) -> str:
        """The body as one short line for a message, secrets masked before cutting."""
        words = redact(" ".join(self.body.decode("utf-8", "replace").split()), secrets)
        return words[:limit] + ("..." if len(words) > limit else "")


def timeouts(timeout: float | urllib3.Timeout, what: str) -> tuple[urllib3.Timeout, float]:
    """Per-phase timeouts and the deadline of a whole call."""
    if not isinstance(timeout, urllib3.Timeout):
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InvalidArgument(f"{what} timeout must be > 0 seconds, got {timeout!r}")
        return urllib3.Timeout(connect=float(timeout), read=float(timeout)), float(timeout)
    total = timeout.total
    if not isinstance(total, (int, float)):
        connect, read = timeout.connect_timeout, timeout.read_timeout
        if not (isinstance(connect, (int, float)) and isinstance(read, (int, float))):
            raise InvalidArgument(f"{what} timeout needs a total, or both connect and read, in seconds")
        total = connect + read
    return timeout, float(total)


def http_call(
    pool: urllib3.PoolManager,
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: Mapping[str, str],
    timeout: urllib3.Timeout,
    deadline: float,
    secrets: Collection[str] = (),
    job_id: str | None = None,
    max_body: int = MAX_BODY,
) -> HttpAnswer:
    where = shown_url(url)
    limit = f"{deadline:g}s call deadline"
    bound = bound_left()
    if bound is not None and bound[0] < deadline:  # a caller's bound over several calls ends first
        if bound[0] <= 0:
            raise NotSent(where, f"not sent: the {bound[1]:g}s bound on these calls has passed")
        deadline, limit = bound[0], f"{bound[1]:g}s bound on these calls"
    watch_pool(pool, url)
    with call_deadline(deadline) as watch:
        try:
            response = pool.request(
                method, url, body=body, headers=dict(headers), timeout=timeout,
                retries=False, redirect=False, preload_content=False,
            )
            try:
                raw = response.read(max_body + 1)
            finally:
                response.release_conn()
        except (u3exc.HTTPError, OSError) as exc:
            raise _failed(exc, watch, method, where, limit, secrets, job_id) from None
    if watch.expired:
        raise _overdue(method, where, limit, job_id)
    if len(raw) > max_body:
        raise ProtocolError(f"{method} {where}: answer larger than {max_body} bytes", job_id=job_id)
    return HttpAnswer(url=url, status=response.status, body=raw,
                      content_type=response.headers.get("Content-Type", ""),
                      location=response.headers.get("Location"), headers=tuple(response.headers.items()))


def _failed(exc: BaseException, watch: CallWatch, method: str, where: str, limit: str, secrets: Collection[str],
            job_id: str | None) -> Exception:
    """The error for a call that raised *exc*: NotSent only with a proof that the request never left."""
    unreached = isinstance(exc, (u3exc.ConnectTimeoutError, u3exc.NewConnectionError, u3exc.NameResolutionError))
    if unreached or watch.unsent:
        if watch.expired:  # the watchdog cut the connect or the handshake: late, not refused
            return NotSent(where, f"no connection within the {limit}")
        if isinstance(exc, u3exc.SSLError):
            return NotSent(where, f"TLS handshake failed: {_short(exc, secrets)}", lasting=True)
        return NotSent(where, _short(exc, secrets))
    if watch.expired:
        return _overdue(method, where, limit, job_id)
    if isinstance(exc, u3exc.SSLError):  # after the request left: it may have been read
        return ProtocolError(f"TLS failure talking to {where}: {_short(exc, secrets)}", job_id=job_id)
    # read timeout, reset, cut body: the server may have acted
    return TransientError(f"{method} {where}: {type(exc).__name__}: {_short(exc, secrets)}", job_id=job_id)


def _overdue(method: str, where: str, limit: str, job_id: str | None) -> TransientError:
    return TransientError(f"{method} {where}: no complete answer within the {limit}", job_id=job_id)


def _short(exc: BaseException, secrets: Collection[str]) -> str:
    return redact(" ".join(str(exc).split()), secrets)[:200]


__all__ = ["MAX_BODY", "HttpAnswer", "NotSent", "http_call", "timeouts"]
