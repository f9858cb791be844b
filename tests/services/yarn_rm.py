"""A loopback YARN ResourceManager REST server: the parts the Spark adapter uses.

No YARN can run on these machines. This server answers as Hadoop 3's RM web services do:

- ``GET /ws/v1/cluster/apps/{id}``: ``{"app": {...}}`` with ``state``, ``finalStatus``
  (UNDEFINED until the end), ``applicationTags`` (comma-separated, lowercased as YARN
  stores them), times in epoch milliseconds; 404 with a ``RemoteException``
  (``NotFoundException``) for an unknown id.
- ``GET /ws/v1/cluster/apps?applicationTags=a,b``: applications with any of the tags,
  ``{"apps": null}`` when none.
- ``PUT /ws/v1/cluster/apps/{id}/state`` with ``{"state": "KILLED"}``: 202 and the current
  state while the kill proceeds (it completes *kill_delay* seconds later), 200 with the
  final state for an ended application.
- ``user.name`` required when *require_user* (401 otherwise, as with simple auth and
  anonymous access off).
- ``GET /proxy/{id}/api/v1/applications/{id}/jobs`` and ``/stages``: the RM web proxy in front of
  a running Spark driver's UI REST API, answering what ``driver_ui[id]`` holds.
- a standby RM (``standby_for=<active>``): 307 with ``Location`` on the active RM, or, with
  ``standby_text``, 200 and Hadoop's "This is standby RM" page.

Submission is Hadoop RPC, which this server does not speak: the recorded launcher
(tests/spark_yarn/fake_spark_submit.py) registers applications through
``POST /test/register`` instead. Each application gets a plan (``(seconds, state,
final status)`` steps) from its arguments (``plan_for``, default: the last two are seconds to
run and the exit code), applied when it is next read.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any

from tests.services.loopback import Answer, LoopbackHttpServer

if TYPE_CHECKING:
    from tests.services.spnego_acceptor import SpnegoAcceptor

PlanStep = tuple[float, str, str]


@dataclass
class _App:
    data: dict[str, Any]
    created: float
    plan: list[PlanStep] = field(default_factory=list)
    kill_at: float | None = None


def _not_found(app_id: str) -> dict[str, Any]:
    return {"RemoteException": {"exception": "NotFoundException",
                                "message": f"java.lang.Exception: app with id: {app_id} not found",
                                "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException"}}


class YarnResourceManager(LoopbackHttpServer):
    def __init__(self, *, standby_for: YarnResourceManager | None = None, standby_text: bool = False,
                 require_user: bool = True, kill_delay: float = 0.3,
                 clock: Callable[[], float] = time.time,
                 plan_for: Callable[[list[str]], list[PlanStep]] | None = None) -> None:
        self.clock = clock  # when plans and kills advance: the crash properties pass their virtual clock
        self.plan_for = plan_for or _plan_from_args  # an application's plan from its arguments
        self.standby_for = standby_for
        self.standby_text = standby_text
        self.require_user = require_user
        self.kill_delay = kill_delay
        self.lock = threading.Lock()
        self.apps: dict[str, _App] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, user.name)
        # app id -> what its Spark driver's UI answers through the web proxy: {"jobs": [...], "stages": [...]}
        self.driver_ui: dict[str, dict[str, Any]] = {}
        self.cluster_ts = 1764200000000
        self._seq = 0
        super().__init__("yarn-rm")

    def start(self) -> YarnResourceManager:
        self._start()
        return self

    # Set to require SPNEGO as Hadoop's AuthenticationFilter does (tests/spark_yarn/test_spnego.py);
    # /test/register stands in for the RPC submission, whose Kerberos is not this filter's.
    spnego: SpnegoAcceptor | None = None

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        if self.spnego is not None and path != "/test/register":
            return self.spnego.filter(headers, lambda: self.handle(method, path, query, body))
        return self.handle(method, path, query, body)

    # -- what tests and the recorded launcher use ----------------------------------------------

    def register(self, name: str, tags: list[str], args: list[str], queue: str = "default",
                 user: str = "spark") -> str:
        """What a successful ``submitApplication`` RPC does: a new ACCEPTED application."""
        with self.lock:
            self._seq += 1
            app_id = f"application_{self.cluster_ts}_{self._seq:04d}"
            now = self.clock()
            self.apps[app_id] = _App(
                data={"id": app_id, "name": name, "user": user, "queue": queue, "state": "ACCEPTED",
                      "finalStatus": "UNDEFINED", "applicationType": "SPARK",
                      "applicationTags": ",".join(sorted({t.strip().lower() for t in tags if t.strip()})),
                      "startedTime": int(now * 1000), "finishedTime": 0, "diagnostics": "",
                      "trackingUrl": f"{self.url}/proxy/{app_id}/"},
                created=now, plan=self.plan_for(args),
            )
            return app_id

    def reset(self, clock: Callable[[], float] | None = None) -> None:
        """Forget every application and request, and change the clock when given: one server
        serves many hypothesis examples (starting and stopping one costs more than an example)."""
        with self.lock:
            self.apps.clear()
            self.requests.clear()
            if clock is not None:
                self.clock = clock

    def applications(self) -> list[dict[str, Any]]:
        """Every application the RM holds, as of now, with ``killRequested`` (a 202 kill under way)."""
        with self.lock:
            self._advance(self.clock())
            return [{**a.data, "killRequested": a.kill_at is not None} for a in self.apps.values()]

    def app(self, app_id: str) -> dict[str, Any] | None:
        with self.lock:
            self._advance(self.clock())
            found = self.apps.get(app_id)
            return dict(found.data) if found else None

    def set_state(self, app_id: str, state: str, final_status: str = "UNDEFINED") -> None:
        with self.lock:
            app = self.apps[app_id]
            app.plan = []
            self._set(app, state, final_status, self.clock())

    def forget(self, app_id: str) -> None:
        """As an RM restarted without recovery, or one past its retained-applications limit."""
        with self.lock:
            del self.apps[app_id]

    # -- the state machine ---------------------------------------------------------------------

    def _set(self, app: _App, state: str, final_status: str, at: float) -> None:
        app.data["state"] = state
        app.data["finalStatus"] = final_status
        if state in ("FINISHED", "FAILED", "KILLED"):
            app.data["finishedTime"] = int(at * 1000)
            if final_status == "FAILED":
                app.data["diagnostics"] = "User class threw exception: exit code 3"

    def _advance(self, now: float) -> None:
        for app in self.apps.values():
            while app.plan and app.kill_at is None and app.created + app.plan[0][0] <= now:
                _, state, final = app.plan.pop(0)
                self._set(app, state, final, now)
            if app.kill_at is not None and now >= app.kill_at and app.data["state"] not in ("FINISHED", "FAILED",
                                                                                            "KILLED"):
                self._set(app, "KILLED", "KILLED", now)
                app.data["diagnostics"] = "Application killed by user."

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any, dict[str, str]]:
        users = query.get("user.name") or []
        user = users[0] if users else None
        with self.lock:
            self.requests.append((method, path, user))
        if self.standby_for is not None:
            target = self.standby_for.url + path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
            if self.standby_text:
                return 200, f"This is standby RM. The redirect url is: {target}", {"Refresh": f"3; url={target}"}
            return 307, f"This is standby RM. The redirect url is: {target}", {"Location": target}
        if path == "/test/register" and method == "POST":
            spec = json.loads(body)
            return 200, {"id": self.register(spec["name"], spec["tags"], spec["args"], spec.get("queue", "default"))}, {}
        if self.require_user and not user:
            return 401, {"RemoteException": {"exception": "AuthenticationException",
                                             "message": "Authentication required"}}, {}
        with self.lock:
            self._advance(self.clock())
            parts = [p for p in path.split("/") if p]
            if parts[:1] == ["proxy"] and len(parts) >= 2:
                return self._proxy(parts[1], parts[2:])
            if parts[:4] != ["ws", "v1", "cluster", "apps"]:
                return 404, _not_found(path), {}
            if len(parts) == 4 and method == "GET":
                wanted = {t.lower() for t in ",".join(query.get("applicationTags", [])).split(",") if t}
                found = [a.data for a in self.apps.values()
                         if not wanted or wanted & set(a.data["applicationTags"].split(","))]
                return 200, {"apps": {"app": found} if found else None}, {}
            app = self.apps.get(parts[4]) if len(parts) > 4 else None
            if app is None:
                return 404, _not_found(parts[4] if len(parts) > 4 else ""), {}
            if len(parts) == 5 and method == "GET":
                return 200, {"app": dict(app.data)}, {}
            if parts[5:] == ["state"] and method == "PUT":
                if json.loads(body or b"{}").get("state") != "KILLED":
                    return 400, {"RemoteException": {"exception": "BadRequestException",
                                                     "message": "Only 'KILLED' is allowed as a target state."}}, {}
                if app.data["state"] in ("FINISHED", "FAILED", "KILLED"):
                    return 200, {"state": app.data["state"]}, {}
                if app.kill_at is None:
                    app.kill_at = self.clock() + self.kill_delay
                return 202, {"state": app.data["state"]}, {"Location": f"{self.url}{path}"}
            return 405, {"RemoteException": {"exception": "WebApplicationException", "message": "Method Not Allowed"}}, {}

    def _proxy(self, app_id: str, rest: list[str]) -> tuple[int, Any, dict[str, str]]:
        """The RM web proxy (``/proxy/<app id>/...``) in front of a Spark driver's UI REST API."""
        ui = self.driver_ui.get(app_id)
        app = self.apps.get(app_id)
        if ui is None or app is None or app.data["state"] != "RUNNING":
            # The real proxy then shows the RM's own page for the application (HTML), not JSON.
            return 404, f"<html>Application {app_id} has no tracking UI to proxy</html>", {}
        if rest == ["api", "v1", "applications", app_id, "jobs"]:
            return 200, ui["jobs"], {}
        if rest == ["api", "v1", "applications", app_id, "stages"]:
            return 200, ui["stages"], {}
        return 404, "no such page", {}


def _plan_from_args(args: list[str]) -> list[PlanStep]:
    """The tests' application: the last two args are seconds to run and the exit code."""
    try:
        seconds, code = float(args[-2]), int(args[-1])
    except (IndexError, ValueError):
        return []
    return [(0.1, "RUNNING", "UNDEFINED"), (0.1 + seconds, "FINISHED", "SUCCEEDED" if code == 0 else "FAILED")]


