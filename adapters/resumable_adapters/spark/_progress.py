"""How far a Spark application has got, from its driver's UI REST API (``/api/v1``).

The only honest source while an application runs is its driver's UI: ``/applications/<app>/jobs``
(per job: tasks and stages, done, skipped, total) and ``/stages?status=active`` (what runs now).
Counts stay raw: a job's skipped stages (their shuffle output already exists) are part of its
total and never run, so ``done/total`` alone would stop short of 100% and a percentage would lie.

Where the UI is, from what the record holds (the job id):

- standalone: the driver id. The driver's stderr on its worker (which the find-by-reference scan
  reads already) says its application id (``Connected to Spark cluster with app ID ...``) and
  where its UI listens (``Start Jetty <host>:<port> for SparkUI``). With
  ``spark.master.useDriverIdAsAppName.enabled`` and ``spark.master.useAppNameAsAppId.enabled``
  on the master the application id is the driver id itself (measured with Spark 4.3.0).
- YARN: the application id is Spark's; the UI is behind the ResourceManager's web proxy
  (``<rm>/proxy/<app id>/api/v1/...``).
- Kubernetes: the driver pod's ``spark-app-selector`` label is the application id; the UI is
  reached through the API server's pod proxy (``pods/<name>:<port>/proxy/api/v1/...``).

Nothing here decides anything: a failure is a ``TransientError`` the core logs and ignores, and
an application whose UI does not answer yet (or any more) has nothing to say (None).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resumable_core import ProtocolError, TransientError
from resumable_core.progress import Count, Progress

from .._http import base_url, shown_url

if TYPE_CHECKING:
    from ..kubernetes import KubernetesClient
    from ..yarn import YarnRestClient
    from ._async_job import AsyncSparkRestClient
    from ._client import SparkRestClient
    from ._model import MasterState

_APP_ID = re.compile(r"Connected to Spark cluster with app ID (\S+)")
_UI_BOUND = re.compile(r"Start Jetty (\S+?):(\d{1,5}) for SparkUI")
_UI_PORT = re.compile(r"Successfully started service 'SparkUI' on port (\d{1,5})")
_APP_ID_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,200}")
LABEL_STAGES = 2  # the active stages a label names
DEFAULT_UI_PORT = 4040
UI_DEADLINE = 10.0  # seconds for one call to a driver's UI (connect 3 s)
LOG_SKIP_MAX = 32  # asks skipped at most between two reads of a log head that stands still and names no UI
LOG_HEAD = 65536  # bytes of a driver's stderr read to find its UI (the async client's; the blocking one's log_bytes)
MASTER_STATE_TTL = 5.0  # seconds one /json/ read serves an async client's jobs

# A GET of a path under the UI: (HTTP status, body); it raises TransientError when it got no answer.
UiGet = Callable[[str], "tuple[int, bytes]"]


def api_paths(app_id: str) -> tuple[str, str]:
    """The two REST paths (under a UI base) progress reads, for *app_id*."""
    if not _APP_ID_SAFE.fullmatch(app_id):
        raise ProtocolError(f"Spark application id {app_id[:80]!r} is not one")
    app = urllib.parse.quote(app_id, safe="")
    return f"/api/v1/applications/{app}/jobs", f"/api/v1/applications/{app}/stages?status=active"


def read_progress(get: UiGet, app_id: str, ui_url: str | None, *, job_id: str) -> Progress | None:
    """The progress of *app_id* read through *get* (a GET of a path under the UI); None while it has nothing."""
    jobs_path, stages_path = api_paths(app_id)
    jobs = _json_list(get, jobs_path, job_id)
    if jobs is None:
        return None
    stages = _json_list(get, stages_path, job_id) or []
    return progress_from_ui(jobs, stages, ui_url)


def _json_list(get: UiGet, path: str, job_id: str) -> list[Any] | None:
    status, body = get(path)
    if status == 404:
        return None  # no such application (yet, or any more) on this UI: nothing to say
    if status != 200:
        raise TransientError(f"the Spark UI answered HTTP {status} for {path}", job_id=job_id)
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise TransientError(f"the Spark UI answered {path} with a body that is not JSON", job_id=job_id) from None
    if not isinstance(value, list):
        raise ProtocolError(f"the Spark UI answered {path} with JSON that is not a list", job_id=job_id)
    return value


def progress_from_ui(jobs: list[Any], active_stages: list[Any], ui_url: str | None) -> Progress | None:
    """Task and stage counts over every job the UI retains, and a label of the active stages (pure).

    Tasks: ``numCompletedIndices`` (each task once, however often it was retried; older UIs:
    ``numCompletedTasks``) of ``numTasks``, with ``numSkippedTasks``. Stages:
    ``numCompletedStages`` of the job's ``stageIds``, with ``numSkippedStages``.
    """
    tasks_done = tasks_total = tasks_skipped = 0
    stages_done = stages_total = stages_skipped = 0
    running: list[str] = []
    for job in jobs:
        if not isinstance(job, Mapping):
            raise ProtocolError("a Spark UI job is not a JSON object")
        tasks_total += _int(job, "numTasks")
        tasks_done += _int(job, "numCompletedIndices") if "numCompletedIndices" in job else _int(job, "numCompletedTasks")
        tasks_skipped += _int(job, "numSkippedTasks")
        stage_ids = job.get("stageIds")
        stages_total += len(stage_ids) if isinstance(stage_ids, list) else 0
        stages_done += _int(job, "numCompletedStages")
        stages_skipped += _int(job, "numSkippedStages")
        if job.get("status") == "RUNNING" and isinstance(job.get("name"), str):
            running.append(str(job["name"]))
    if not jobs and not ui_url:
        return None
    # A job's numbers can lag each other for a moment: never say more done than there is.
    tasks_done = min(tasks_done, max(tasks_total - tasks_skipped, 0))
    stages_done = min(stages_done, max(stages_total - stages_skipped, 0))
    counts = (
        Count("tasks", tasks_done, tasks_total, skipped=tasks_skipped),
        Count("stages", stages_done, stages_total, skipped=stages_skipped),
    ) if jobs else ()
    return Progress(counts=counts, label=_label(active_stages, running), ui_url=ui_url)


def _label(active_stages: list[Any], running_jobs: list[str]) -> str | None:
    parts = []
    for stage in active_stages[:LABEL_STAGES]:
        if isinstance(stage, Mapping) and isinstance(stage.get("name"), str):
            done, total = _int(stage, "numCompleteTasks"), _int(stage, "numTasks")
            parts.append(f"stage {_int(stage, 'stageId')}: {stage['name']} ({done}/{total} tasks)")
    if len(active_stages) > LABEL_STAGES:
        parts.append(f"+{len(active_stages) - LABEL_STAGES} more")
    if not parts and running_jobs:
        parts.append(f"job: {running_jobs[0]}")
    return ", ".join(parts) or None


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def standalone_ui(log_head: str, worker_ui: str) -> tuple[str, str] | None:
    """(application id, UI base URL) from a standalone driver's stderr head, None while it has not said both.

    The UI listens on the driver's host, which is its worker's: an address bound to all
    interfaces (0.0.0.0) is reached by the worker's host name. The port is the one Spark says
    it *started* the UI on: "Start Jetty host:4040" names the port it is about to try, and when
    another driver on the same host holds 4040 Spark moves on to 4041 and says so only in
    "Successfully started service 'SparkUI' on port 4041" (seen with two drivers on one worker).
    """
    app = _APP_ID.search(log_head)
    bound = _UI_BOUND.search(log_head)
    started = _UI_PORT.findall(log_head)
    if app is None or (bound is None and not started):
        return None
    worker_host = urllib.parse.urlsplit(base_url(worker_ui, what="Spark worker UI URL")).hostname or "localhost"
    host = bound.group(1) if bound is not None else worker_host
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = worker_host
    port = started[-1] if started else bound.group(2) if bound is not None else ""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return app.group(1), f"http://{host}:{port}"


class StandaloneProgress:
    """``SparkRestJob.job_progress``: finds each driver's UI once (from its stderr), then reads it.

    No credentials go to the driver's UI: its address comes from the cluster, not from us.
    """

    def __init__(self, client: SparkRestClient) -> None:
        import urllib3  # the client's own dependency: loaded already

        self.client = client
        self.timeout = urllib3.Timeout(connect=3.0, read=UI_DEADLINE)
        self._uis = _UiSearch()

    def progress(self, driver_id: str) -> Progress | None:
        found = self._uis.found.get(driver_id) or self._find(driver_id)
        if found is None:
            return None
        app_id, ui = found
        return read_progress(lambda path: self._get(ui + path), app_id, ui + "/", job_id=driver_id)

    def _find(self, driver_id: str) -> tuple[str, str] | None:
        if not self._uis.due(driver_id):
            return None  # a log that stands still is read ever less often (_missed)
        worker_ui = driver_worker_ui(self.client.master_state(), driver_id)
        if worker_ui is None:
            return None  # not launched yet (or its worker is gone): nothing to say
        return self._uis.read(driver_id, self.client.driver_log_head(worker_ui, driver_id), worker_ui,
                              self.client.log_bytes)

    def _get(self, url: str) -> tuple[int, bytes]:
        from .._http import NotSent, http_call  # urllib3: the blocking client's (an async install has none)

        # Its own short bound: a UI that does not answer must not hold the polling for the client's long one.
        try:
            answer = http_call(self.client.pool, "GET", url, body=None, headers={"Accept": "application/json"},
                               timeout=self.timeout, deadline=UI_DEADLINE)
        except NotSent as exc:
            raise TransientError(f"Spark UI {shown_url(url)} unreachable: {exc.reason}") from None
        return answer.status, answer.body


@dataclass(slots=True)
class _LogWatch:
    """How a driver's log head that named no UI has looked so far."""

    size: int = -1
    stalls: int = 0  # reads in a row that found it unchanged
    skip: int = 0  # asks to let pass before the next read
    never: bool = False  # a full head: the UI line is past what is read


def _log_due(watch: dict[str, _LogWatch], driver_id: str) -> bool:
    """Whether to read *driver_id*'s log head on this ask (counts the asks let pass)."""
    seen = watch.get(driver_id)
    if seen is None:
        return True
    if seen.never:
        return False
    if seen.skip > 0:
        seen.skip -= 1
        return False
    return True


def _missed(watch: dict[str, _LogWatch], driver_id: str, size: int, limit: int) -> None:
    """A log head that named no UI: when is it worth reading again.

    A full head never will (only the head is read). A log that keeps growing is a driver still
    starting: read on every ask. One that stands still is read ever less often (1, 2, 4 ... up to
    LOG_SKIP_MAX asks apart), never given up: it may be a program without a SparkContext (it logs
    nothing more, so each read is wasted), or a JVM stalled on a busy machine that names its UI
    later, which a fixed number of reads would miss for the rest of the run.
    """
    seen = watch.setdefault(driver_id, _LogWatch())
    if size >= limit:
        seen.never = True
    elif size != seen.size:
        seen.size, seen.stalls, seen.skip = size, 0, 0
    else:
        seen.stalls += 1
        seen.skip = min(2 ** seen.stalls, LOG_SKIP_MAX) - 1


class _UiSearch:
    """Each driver's UI once its log head named it, and when to read a head that has not yet: the
    rule both progress readers follow (they differ only in how they read, blocking or awaited)."""

    __slots__ = ("_watch", "found")

    def __init__(self) -> None:
        self.found: dict[str, tuple[str, str]] = {}  # driver id -> (app id, UI base)
        self._watch: dict[str, _LogWatch] = {}  # driver id -> its log head that named no UI so far

    def due(self, driver_id: str) -> bool:
        return _log_due(self._watch, driver_id)

    def read(self, driver_id: str, head: str, worker_ui: str, limit: int) -> tuple[str, str] | None:
        """What *head* (at most *limit* bytes read) says of the driver's UI; remembered once found."""
        found = standalone_ui(head, worker_ui)
        if found is None:
            _missed(self._watch, driver_id, len(head), limit)
        else:
            self.found[driver_id] = found
        return found


def driver_worker_ui(master: MasterState, driver_id: str) -> str | None:
    """The web UI of the worker *driver_id* runs on, None before it has one (or after its worker left)."""
    driver = next((d for d in master.drivers if d.driver_id == driver_id), None)
    return master.worker_ui.get(driver.worker_id or "") if driver is not None else None


class AsyncStandaloneProgress:
    """``AsyncSparkRestJob.job_progress``: the blocking one's rules over the aiohttp client (needs ``web_ui_url``)."""

    def __init__(self, client: AsyncSparkRestClient) -> None:
        self.client = client
        self._uis = _UiSearch()

    async def progress(self, driver_id: str) -> Progress | None:
        if self.client.web_ui_url is None:
            return None  # no master UI: the driver's worker, hence its UI, cannot be found
        found = self._uis.found.get(driver_id)
        if found is None:
            if not self._uis.due(driver_id):
                return None
            worker_ui = driver_worker_ui(await _shared_master_state(self.client), driver_id)
            if worker_ui is None:
                return None
            head = await self.client.driver_log_head(worker_ui, driver_id, log_bytes=LOG_HEAD)
            found = self._uis.read(driver_id, head, worker_ui, LOG_HEAD)
            if found is None:
                return None
        app_id, ui = found
        answers = {path: await self._get(ui + path, driver_id) for path in api_paths(app_id)}
        return read_progress(lambda path: answers[path], app_id, ui + "/", job_id=driver_id)

    async def _get(self, url: str, driver_id: str) -> tuple[int, bytes]:
        import aiohttp  # the async client's own dependency: loaded already

        try:
            async with self.client.session().get(url, allow_redirects=False,
                                                 timeout=aiohttp.ClientTimeout(total=UI_DEADLINE)) as answer:
                return answer.status, await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"Spark UI {shown_url(url)} did not answer: {type(exc).__name__}",
                                 job_id=driver_id) from None


# The jobs of one async client (a Supervisor's thousands) share one read of the master's /json/ at a
# time, for a few seconds: finding each driver's worker must not cost a listing per job.
_MASTER_STATES: weakref.WeakKeyDictionary[Any, tuple[float, asyncio.Future[MasterState]]] = (
    weakref.WeakKeyDictionary())


async def _shared_master_state(client: AsyncSparkRestClient) -> MasterState:
    held = _MASTER_STATES.get(client)
    now = time.monotonic()
    if held is None or now - held[0] > MASTER_STATE_TTL or _failed(held[1]):
        held = (now, asyncio.ensure_future(client.master_state()))
        _MASTER_STATES[client] = held
    return await asyncio.shield(held[1])


def _failed(future: asyncio.Future[MasterState]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


def yarn_progress(client: YarnRestClient, app_id: str) -> Progress | None:
    """A running YARN application's progress through the ResourceManager's web proxy."""
    ui = f"{client.active_rm_url}/proxy/{app_id}/"
    return read_progress(lambda path: client.proxy_get(app_id, path), app_id, ui, job_id=app_id)


def kubernetes_progress(client: KubernetesClient, namespace: str, pod: dict[str, Any], job_id: str) -> Progress | None:
    """A running driver pod's progress through the API server's pod proxy.

    The application id is the pod's ``spark-app-selector`` label (Spark sets it); the UI port is
    the driver container's port named ``spark-ui`` (``spark.ui.port``, 4040 by default). The link
    is the API server's proxy URL: reachable with the cluster's credentials (``kubectl proxy``).
    """
    metadata = _mapping(pod.get("metadata"))
    labels = _mapping(metadata.get("labels"))
    app_id, name = labels.get("spark-app-selector"), metadata.get("name")
    if not isinstance(app_id, str) or not isinstance(name, str):
        return None
    port = _ui_port(pod)
    ui = f"{client.server}/api/v1/namespaces/{namespace}/pods/{name}:{port}/proxy/"
    return read_progress(lambda path: client.pod_proxy_get(namespace, name, port, path, job_id=job_id), app_id, ui,
                         job_id=job_id)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _ui_port(pod: Mapping[str, Any]) -> int:
    spec = _mapping(pod.get("spec"))
    for container in spec.get("containers") or []:
        for port in (container.get("ports") or []) if isinstance(container, Mapping) else []:
            if isinstance(port, Mapping) and port.get("name") == "spark-ui" and isinstance(port.get("containerPort"), int):
                return int(port["containerPort"])
    return DEFAULT_UI_PORT


__all__ = ["AsyncStandaloneProgress", "StandaloneProgress", "driver_worker_ui", "api_paths", "kubernetes_progress", "progress_from_ui", "read_progress",
           "standalone_ui", "yarn_progress"]
