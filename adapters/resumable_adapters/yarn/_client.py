"""``YarnRestClient``: the ResourceManager REST calls the YARN integrations need (Spark on YARN today), over urllib3.

``GET /ws/v1/cluster/apps/{id}``, ``GET /ws/v1/cluster/apps?applicationTags=...`` and
``PUT /ws/v1/cluster/apps/{id}/state`` with ``{"state": "KILLED"}`` (202 while the kill is
in progress, 200 once done). Authentication: Hadoop's simple form (``?user.name=``) by
default; *auth* is a hook that returns headers for a URL. A hook that also has
``answered(url, sent, answer)`` (``YarnAuthFlow``) reads each answer and may ask for one
retry with fresh headers: ``SpnegoAuth`` (resumable_adapters.yarn, the ``kerberos``
extra) uses it for Hadoop's 401 challenge, ``hadoop.auth`` cookie and mutual token.

High availability: the ResourceManagers are tried in turn, the one that answered last
first. A standby answers a redirect (307 with ``Location``) or a page saying "This is
standby RM"; either way the next configured RM is asked (a redirect to an address that
is not configured is not followed: credentials go only where the caller said).

Errors at this edge: refused / timeouts / 5xx / no active RM -> TransientError; a body that
is not JSON at all (a proxy's page, cut JSON) -> MalformedAnswer, transient too; 401 / 403,
other 4xx and JSON of the wrong shape -> ProtocolError; 404 (``NotFoundException``) is an
answer: None.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import urllib3

from resumable_core import InvalidArgument, ProtocolError, TransientError

from .._http import HttpAnswer, NotSent, http_call, json_object, shown_url, split_masters, timeouts

APP_ID_RE = re.compile(r"application_[0-9]{10,16}_[0-9]{4,10}")
_STANDBY = re.compile(r"standby RM|is in standby", re.IGNORECASE)
YarnAuth = Callable[[str], Mapping[str, str]]


@runtime_checkable
class YarnAuthFlow(Protocol):
    """A *auth* hook that follows the answers too (SPNEGO): headers per URL, then each answer read.

    ``answered`` gets the headers the hook gave for that request and the answer; True asks
    for one more try of the same request with fresh headers (a 401 challenge after a
    cookie that is no longer valid). Its verdict on the second answer is final.
    """

    def __call__(self, url: str) -> Mapping[str, str]: ...

    def answered(self, url: str, sent: Mapping[str, str], answer: HttpAnswer) -> bool: ...


def check_app_id(app_id: object) -> str:
    """The id unchanged if it is a YARN application id; nothing else reaches a URL."""
    if not isinstance(app_id, str) or not APP_ID_RE.fullmatch(app_id):
        raise InvalidArgument(f"malformed YARN application id {app_id!r}", job_id=str(app_id)[:80])
    return app_id


@dataclass(frozen=True, slots=True)
class YarnApplication:
    """What the ResourceManager says of one application (the fields the adapter uses)."""

    app_id: str
    state: str
    final_status: str
    tags: frozenset[str]
    name: str | None
    application_type: str | None
    started_ms: int | None
    finished_ms: int | None
    tracking_url: str | None
    diagnostics: str | None
    queue: str | None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> YarnApplication:
        app_id, state = data.get("id"), data.get("state")
        if not isinstance(app_id, str) or not isinstance(state, str):
            raise ProtocolError("YARN application without a string id and state")
        tags = data.get("applicationTags")
        return cls(
            app_id=app_id,
            state=state,
            final_status=str(data.get("finalStatus") or "UNDEFINED"),
            tags=frozenset(t.strip() for t in tags.split(",") if t.strip()) if isinstance(tags, str) else frozenset(),
            name=_opt_str(data.get("name")),
            application_type=_opt_str(data.get("applicationType")),
            started_ms=_opt_int(data.get("startedTime")),
            finished_ms=_opt_int(data.get("finishedTime")),
            tracking_url=_opt_str(data.get("trackingUrl")),
            diagnostics=_opt_str(data.get("diagnostics")),
            queue=_opt_str(data.get("queue")),
        )


class YarnRestClient:
    """The ResourceManager(s) of one YARN cluster.

    *rm_urls*: ``http(s)://host:8088`` entries (a list, or one comma-separated string).
    *user*: sent as ``user.name`` (Hadoop's simple authentication). *auth*: called with
    each URL, returns extra headers (for SPNEGO). *pool*: an injected ``urllib3.PoolManager``.
    """

    def __init__(
        self,
        rm_urls: str | Sequence[str],
        *,
        user: str | None = None,
        auth: YarnAuth | None = None,
        pool: urllib3.PoolManager | None = None,
        timeout: float | urllib3.Timeout = urllib3.Timeout(connect=5.0, read=15.0),
        ca_certs: str | None = None,
    ) -> None:
        self.rm_urls = split_masters(rm_urls, what="YARN ResourceManager URL", allow_spark=False)
        if not self.rm_urls:
            raise InvalidArgument("YarnRestClient needs at least one ResourceManager URL")
        if user is not None and not re.fullmatch(r"[A-Za-z0-9._@$-]{1,128}", user):
            raise InvalidArgument(f"YARN user.name {user!r} is not a plain user name")
        self.user = user
        self.auth = auth
        self.timeout, self.call_deadline = timeouts(timeout, "YarnRestClient")
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else urllib3.PoolManager(
            num_pools=4, maxsize=2, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs, retries=False)
        self._preferred = 0

    def __repr__(self) -> str:
        return f"YarnRestClient(rm_urls={self.rm_urls!r}, user={self.user!r})"

    @property
    def active_rm_url(self) -> str:
        return self.rm_urls[self._preferred]

    def application(self, app_id: str) -> YarnApplication | None:
        """The application, or None when the active RM does not know it (404)."""
        data = self._on_rms("GET", f"/ws/v1/cluster/apps/{check_app_id(app_id)}", None, job_id=app_id)
        if data is None:
            return None
        app = data.get("app")
        if not isinstance(app, dict):
            raise ProtocolError("YARN application answer has no 'app' object", job_id=app_id)
        return YarnApplication.parse(app)

    def applications_by_tag(self, tag: str) -> list[YarnApplication]:
        """Applications carrying *tag* (YARN stores tags lowercased; the caller's tag must be)."""
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}", tag):
            raise InvalidArgument(f"YARN application tag {tag!r} must be lowercase [a-z0-9._-], at most 100")
        data = self._on_rms("GET", "/ws/v1/cluster/apps?" + urllib.parse.urlencode({"applicationTags": tag}), None)
        if data is None:
            raise ProtocolError("YARN answered 404 to the application list")
        return [a for a in _app_list(data) if tag in a.tags]  # the server's filter is not the only judge

    def applications_in_states(self, states: Iterable[str]) -> list[YarnApplication]:
        """Every application in one of *states* (``/ws/v1/cluster/apps?states=``), the client's user's
        only when it has one: one call that answers for many applications (batched status)."""
        wanted = sorted(set(states))
        if not wanted or not all(re.fullmatch(r"[A-Z_]{1,20}", s) for s in wanted):
            raise InvalidArgument(f"YARN application states {wanted!r} must be upper-case state names")
        query = {"states": ",".join(wanted), **({"user": self.user} if self.user else {})}
        data = self._on_rms("GET", "/ws/v1/cluster/apps?" + urllib.parse.urlencode(query), None)
        if data is None:
            raise ProtocolError("YARN answered 404 to the application list")
        return [a for a in _app_list(data) if a.state in wanted]  # the server's filter is not the only judge

    def kill(self, app_id: str) -> str | None:
        """Ask to kill; the state the RM reports (still running while a 202 kill proceeds), None if unknown."""
        body = json.dumps({"state": "KILLED"}).encode()
        data = self._on_rms("PUT", f"/ws/v1/cluster/apps/{check_app_id(app_id)}/state", body, job_id=app_id)
        if data is None:
            return None
        state = data.get("state")
        return state if isinstance(state, str) else None

    def proxy_get(self, app_id: str, path: str) -> tuple[int, bytes]:
        """GET *path* of an application's own web UI through the ResourceManager's web proxy
        (``/proxy/<app id><path>``), with the RM's credentials: (HTTP status, body). Read-only; for
        what the application says of itself (Spark's progress), so nothing here is decided."""
        if not path.startswith("/"):
            raise InvalidArgument(f"YARN proxy path {path[:80]!r} must start with /")
        app_id = check_app_id(app_id)
        url = self._url(self.active_rm_url, f"/proxy/{app_id}{path}")
        try:
            answer = self._send("GET", url, None, {"Accept": "application/json"}, app_id)
        except NotSent as exc:
            raise TransientError(f"YARN web proxy unreachable: {exc}", job_id=app_id) from None
        return answer.status, answer.body

    def close(self) -> None:
        if self._owns_pool:
            self.pool.clear()

    # -- plumbing ------------------------------------------------------------------------------

    def _url(self, base: str, path: str) -> str:
        if self.user is None:
            return base + path
        return base + path + ("&" if "?" in path else "?") + urllib.parse.urlencode({"user.name": self.user})

    def _on_rms(self, method: str, path: str, body: bytes | None, *, job_id: str | None = None) -> dict[str, Any] | None:
        order = [self._preferred] + [i for i in range(len(self.rm_urls)) if i != self._preferred]
        seen: list[str] = []
        while order:
            index = order.pop(0)
            base = self.rm_urls[index]
            url = self._url(base, path)
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                answer = self._send(method, url, body, headers, job_id)
            except NotSent as exc:
                if exc.lasting:  # a certificate refused: a configuration to fix, not a wait
                    raise ProtocolError(f"YARN ResourceManager {exc}", job_id=job_id) from None
                seen.append(str(exc))
                continue
            except TransientError as exc:  # every call here is idempotent: another RM may answer
                seen.append(f"{base}: {exc.message}")
                continue
            if 300 <= answer.status < 400 or _STANDBY.search(answer.body[:2048].decode("utf-8", "replace")):
                target = self._configured(answer.location)
                seen.append(f"{base}: standby (HTTP {answer.status})")
                if target is not None and target in order:
                    order.remove(target)
                    order.insert(0, target)  # the active RM it named, if it is one we were given
                continue
            if answer.status >= 500:
                seen.append(f"{base}: HTTP {answer.status}")
                continue
            self._preferred = index
            return self._json(answer, method, job_id)
        raise TransientError("no active YARN ResourceManager answered: " + "; ".join(seen), job_id=job_id)

    def _send(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
              job_id: str | None) -> HttpAnswer:
        """One request with the auth hook's headers; a ``YarnAuthFlow`` may ask for one retry (every call is idempotent)."""
        flow = self.auth if isinstance(self.auth, YarnAuthFlow) else None
        for attempt in (1, 2):
            sent = self.auth(url) if self.auth is not None else {}
            answer = http_call(self.pool, method, url, body=body, headers={**headers, **sent}, timeout=self.timeout,
                               deadline=self.call_deadline, job_id=job_id)
            if flow is None or not flow.answered(url, sent, answer) or attempt == 2:
                break
        return answer

    def _configured(self, location: str | None) -> int | None:
        if not location:
            return None
        parts = urllib.parse.urlsplit(location)
        origin = f"{parts.scheme}://{parts.netloc}"
        for index, base in enumerate(self.rm_urls):
            if base.rstrip("/") == origin:
                return index
        return None

    def _json(self, answer: HttpAnswer, method: str, job_id: str | None) -> dict[str, Any] | None:
        where = f"{method} {shown_url(answer.url)}"
        data = answer.json()
        if answer.status == 404:
            return None
        if answer.status in (401, 403):
            raise ProtocolError(f"YARN {where} answered HTTP {answer.status} ({_remote_message(data, answer)}): "
                                "check user.name / SPNEGO and the queue ACLs", job_id=job_id)
        if answer.status >= 400:
            raise ProtocolError(f"YARN {where} answered HTTP {answer.status}: {_remote_message(data, answer)}",
                                job_id=job_id)
        return json_object(answer.body, what=f"YARN {where}", status=answer.status,
                           content_type=answer.content_type, job_id=job_id)


def _app_list(data: Mapping[str, Any]) -> list[YarnApplication]:
    apps = data.get("apps")
    if apps is None:  # YARN's way of saying "none": {"apps": null}
        return []
    items = apps.get("app") if isinstance(apps, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ProtocolError("YARN application list is not a list")
    return [YarnApplication.parse(i) for i in items if isinstance(i, dict)]


def _remote_message(data: Any, answer: HttpAnswer) -> str:
    if isinstance(data, dict) and isinstance(data.get("RemoteException"), dict):
        message = data["RemoteException"].get("message")
        if isinstance(message, str):
            return " ".join(message.split())[:300]
    return answer.text()


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


__all__ = ["APP_ID_RE", "YarnApplication", "YarnAuth", "YarnAuthFlow", "YarnRestClient", "check_app_id"]
