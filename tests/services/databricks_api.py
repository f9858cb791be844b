"""A loopback Databricks workspace: the Jobs API 2.2 calls the adapter makes, with their errors.

No Databricks can run here, so this server answers as the Jobs API documentation says
(docs.databricks.com REST reference, databricks-sdk-py's ``service/jobs.py``), driven by
the real ``databricks-sdk`` client in the tests:

- ``POST /api/2.2/jobs/runs/submit`` and ``/run-now``: ``{"run_id"}``. ``idempotency_token``
  (at most 64 characters, else 400 ``INVALID_PARAMETER_VALUE``): a token already used
  returns that run and creates nothing; the token of a deleted run is an error (400
  ``INVALID_PARAMETER_VALUE``: the documentation says "an error is returned" without the
  code); tokens stay reserved. ``run-now`` of an unknown job: 404
  ``RESOURCE_DOES_NOT_EXIST``; a ``job_parameters`` name the job does not define: 400.
- ``GET /api/2.2/jobs/runs/get``: the run with ``status`` (``state``,
  ``termination_details`` ``type``/``code``/``message``) and the deprecated ``state``
  (``life_cycle_state``/``result_state``), ``run_page_url``, ``tasks``, and with
  ``include_history=true`` the ``repair_history``; arrays past *page_size* elements come in
  pages (``next_page_token`` / ``page_token``). An unknown or deleted run: 404
  ``RESOURCE_DOES_NOT_EXIST``.
- ``GET /api/2.2/jobs/list?name=`` (exact, case-insensitive); ``GET /api/2.2/jobs/runs/list``
  (newest first; ``active_only``, ``job_id``, ``run_type``, ``start_time_from``, ``limit`` <= 25,
  pages; ``expand_tasks``: each run's first 100 tasks, as documented; a listing is a read of
  each run, which takes its step), ``POST .../runs/cancel``,
  ``.../runs/delete``.
- ``POST /api/2.2/jobs/runs/repair``: only of an ended run (400 ``INVALID_STATE``),
  ``latest_repair_id`` must name the latest repair once there is one (400
  ``INVALID_PARAMETER_VALUE``), reruns the failed tasks (``rerun_all_failed_tasks``) or
  ``rerun_tasks``, and with ``rerun_dependent_tasks`` the tasks downstream of them:
  ``{"repair_id"}``; the run becomes active again and gets a ``REPAIR`` history entry.
- A bearer *token* on every request (401 without it; 403 ``PERMISSION_DENIED`` for
  ``forbidden`` ones); ``fail`` queues error answers (429 with ``Retry-After``, 500, ...) for
  the next request to a path, ``fail_with_text`` a body that is no JSON (a proxy's HTML page).

Runs move under test control, one step per read of the run (no thread moves them behind a
test's back): QUEUED, PENDING, RUNNING; each task then ends as its plan says: the task's
``notebook_task.base_parameters`` ``outcome`` (attempt 0) and ``repair_outcome`` (later
attempts): ``SUCCESS``, ``FAILED``, or ``HOLD`` (it runs until ``release`` or a cancel).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from tests.services.loopback import Answer, LoopbackHttpServer

ACTIVE = ("QUEUED", "PENDING", "RUNNING")
LISTED_TASKS = 100  # runs/list?expand_tasks=true: "only the first 100 elements will be shown"
PREFIX = "/api/2.2/jobs"


class ApiError(Exception):
    """An error answer; with *text*, that text instead of the JSON error (a proxy's HTML page)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 text: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.text = status, code, message, headers or {}, text


@dataclass
class TaskRun:
    key: str
    spec: dict[str, Any]
    run_id: int
    attempt: int = 0
    state: str = "PENDING"
    code: str | None = None
    kind: str | None = None
    message: str = ""

    @property
    def plan(self) -> str:
        params = (self.spec.get("notebook_task") or {}).get("base_parameters") or {}
        return str(params.get("outcome" if self.attempt == 0 else "repair_outcome", "SUCCESS"))


@dataclass
class Repair:
    id: int
    type: str
    task_run_ids: list[int]
    start_time: int
    state: str = "QUEUED"
    code: str | None = None
    kind: str | None = None
    end_time: int = 0


@dataclass
class Run:
    run_id: int
    run_name: str
    run_type: str
    job_id: int | None
    tasks: list[TaskRun]
    start_time: int
    token: str | None
    job_parameters: dict[str, str] = field(default_factory=dict)
    state: str = "QUEUED"
    code: str | None = None
    kind: str | None = None
    message: str = ""
    end_time: int = 0
    deleted: bool = False
    cancel_requested: bool = False
    held: set[str] = field(default_factory=set)
    repairs: list[Repair] = field(default_factory=list)


class DatabricksApiServer(LoopbackHttpServer):
    """The workspace's state; the handler reads and changes it under ``lock``."""

    def __init__(self, *, token: str = "dapi-loopback-secret", page_size: int = 100,
                 clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.forbidden: set[str] = set()  # tokens that authenticate but may do nothing (403)
        self.page_size = page_size
        self.clock = clock
        self.lock = threading.Lock()
        self.runs: dict[int, Run] = {}
        self.jobs: dict[int, dict[str, Any]] = {}  # job id -> settings (tasks, parameters)
        self.tokens: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # method, path, body or query
        self.fail_next: list[tuple[str, ApiError]] = []  # (path suffix, error), each answered once
        # Called with each new run's tasks: the outcome ("SUCCESS", "FAILED") every task of it gets, or None
        # for each task's own plan (the crash properties draw one outcome per submission).
        self.outcome_for: Callable[[list[dict[str, Any]]], str | None] | None = None
        self.steps_per_read = 1  # how many steps of its life a run takes at each read (more: runs end sooner)
        self._ids = itertools.count(1001)
        self._repair_ids = itertools.count(9001)
        super().__init__("databricks-api")

    def start(self) -> DatabricksApiServer:
        self._start()
        return self

    # -- what tests use ------------------------------------------------------------------------

    def reset(self, clock: Callable[[], float] | None = None) -> None:
        """Forget every run, job, token and request (one server serves many hypothesis examples),
        and take *clock* when given."""
        with self.lock:
            self.runs.clear()
            self.jobs.clear()
            self.tokens.clear()
            self.requests.clear()
            self.fail_next.clear()
            self.outcome_for = None
            if clock is not None:
                self.clock = clock

    def create_job(self, job_id: int, tasks: list[dict[str, Any]], parameters: dict[str, str] | None = None,
                   name: str | None = None) -> None:
        with self.lock:
            self.jobs[job_id] = {"tasks": tasks, "parameters": dict(parameters or {}), "name": name or f"job-{job_id}"}

    def fail(self, path_suffix: str, status: int, code: str, message: str, **headers: str) -> None:
        """Answer the next request whose path ends with *path_suffix* with this error."""
        with self.lock:
            self.fail_next.append((path_suffix, ApiError(status, code, message, headers)))

    def fail_with_text(self, path_suffix: str, status: int, text: str) -> None:
        """Answer the next request whose path ends with *path_suffix* with *text* (not JSON), as a proxy may."""
        with self.lock:
            self.fail_next.append((path_suffix, ApiError(status, "", "", text=text)))

    def release(self, run_id: int, outcome: str = "SUCCESS") -> None:
        """End the held tasks of a run with *outcome* (SUCCESS or FAILED) at its next read."""
        with self.lock:
            run = self.runs[run_id]
            for task in run.tasks:
                if task.key in run.held:
                    task.spec = {**task.spec, "notebook_task": {"base_parameters": {"outcome": outcome,
                                                                                     "repair_outcome": outcome}}}
            run.held.clear()

    def runs_created(self) -> int:
        with self.lock:
            return len(self.runs)

    def calls(self, suffix: str) -> int:
        with self.lock:
            return sum(1 for _, path, _ in self.requests if path.endswith(suffix))

    def run(self, run_id: int) -> Run:
        with self.lock:
            return self.runs[run_id]

    # -- the HTTP side -------------------------------------------------------------------------

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        if path == "/.well-known/databricks-config":
            return 200, {"oidc_endpoint": f"{self.url}/oidc", "workspace_id": "1234567890"}, {}
        try:
            payload = json.loads(body) if body else {}
            flat = {k: v[-1] for k, v in query.items()}
            with self.lock:
                self.requests.append((method, path, payload or flat))
                self._authorize(headers.get("Authorization"))
                for index, (suffix, error) in enumerate(self.fail_next):
                    if path.endswith(suffix):
                        del self.fail_next[index]
                        raise error
                return 200, self._route(method, path, payload, flat), {}
        except ApiError as exc:
            if exc.text is not None:
                return exc.status, exc.text, exc.headers
            return exc.status, {"error_code": exc.code, "message": exc.message}, exc.headers

    def _authorize(self, authorization: str | None) -> None:
        if authorization is None or not authorization.startswith("Bearer "):
            raise ApiError(401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for "
                           "this API.")
        given = authorization.removeprefix("Bearer ")
        if given in self.forbidden:
            raise ApiError(403, "PERMISSION_DENIED", "User does not have permission to run this job.")
        if given != self.token:
            raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")

    def _route(self, method: str, path: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
            ("POST", "/runs/submit"): self._submit,
            ("POST", "/run-now"): self._run_now,
            ("GET", "/runs/get"): self._get,
            ("GET", "/runs/list"): self._list,
            ("GET", "/list"): self._list_jobs,
            ("POST", "/runs/cancel"): self._cancel,
            ("POST", "/runs/delete"): self._delete,
            ("POST", "/runs/repair"): self._repair,
        }
        handler = routes.get((method, path.removeprefix(PREFIX)))
        if handler is None or not path.startswith(PREFIX):
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
        return handler(body if method == "POST" else query)

    # -- creating runs -------------------------------------------------------------------------

    def _token_run(self, token: Any) -> dict[str, Any] | None:
        if token is None:
            return None
        if not isinstance(token, str) or len(token) > 64:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "idempotency_token must have at most 64 characters")
        run_id = self.tokens.get(token)
        if run_id is None:
            return None
        if self.runs[run_id].deleted:
            raise ApiError(400, "INVALID_PARAMETER_VALUE",
                           f"The run with idempotency token {token} has been deleted.")
        return {"run_id": run_id}

    def _new_run(self, *, name: str, run_type: str, job_id: int | None, tasks: list[dict[str, Any]],
                 token: str | None, parameters: dict[str, str] | None = None) -> dict[str, Any]:
        if not tasks or not all(isinstance(t, dict) and t.get("task_key") for t in tasks):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "At least one task with a task_key is required.")
        outcome = self.outcome_for(tasks) if self.outcome_for is not None else None
        if outcome is not None:
            tasks = [{**t, "notebook_task": {"base_parameters": {"outcome": outcome, "repair_outcome": outcome}}}
                     for t in tasks]
        run_id = next(self._ids)
        run = Run(run_id, name, run_type, job_id, [TaskRun(t["task_key"], t, next(self._ids)) for t in tasks],
                  int(self.clock() * 1000), token, dict(parameters or {}))
        run.repairs.append(Repair(run_id, "ORIGINAL", [t.run_id for t in run.tasks], run.start_time))
        self.runs[run_id] = run
        if token is not None:
            self.tokens[token] = run_id
        return {"run_id": run_id}

    def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        replay = self._token_run(body.get("idempotency_token"))
        if replay is not None:
            return replay
        return self._new_run(name=body.get("run_name") or "Untitled", run_type="SUBMIT_RUN", job_id=None,
                             tasks=body.get("tasks") or [], token=body.get("idempotency_token"))

    def _run_now(self, body: dict[str, Any]) -> dict[str, Any]:
        # int64 fields may come as JSON strings (proto3 JSON; the Airflow operators send "5").
        job_id = int(body["job_id"]) if str(body.get("job_id", "")).isdigit() else None
        job = self.jobs.get(job_id) if job_id is not None else None
        if job is None or job_id is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Job {body.get('job_id')} does not exist.")
        replay = self._token_run(body.get("idempotency_token"))
        if replay is not None:
            return replay
        given = body.get("job_parameters") or {}
        unknown = sorted(set(given) - set(job["parameters"]))
        if unknown:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Job parameters {unknown} are not defined in the job.")
        return self._new_run(name=f"job-{job_id}", run_type="JOB_RUN", job_id=job_id,
                             tasks=job["tasks"], token=body.get("idempotency_token"),
                             parameters={**job["parameters"], **given})

    # -- reading and moving runs ---------------------------------------------------------------

    def _find(self, run_id: Any) -> Run:
        run = self.runs.get(int(run_id)) if str(run_id).isdigit() else None
        if run is None or run.deleted:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")
        return run

    def _advance(self, run: Run) -> None:
        """One step of a run's life, taken when it is read."""
        now = int(self.clock() * 1000)
        current = run.repairs[-1]
        if run.state == "TERMINATED":
            return
        if run.cancel_requested:
            for task in run.tasks:
                if task.state != "TERMINATED":
                    task.state, task.kind, task.code, task.message = "TERMINATED", "CLIENT_ERROR", "USER_CANCELED", \
                        "Run cancelled."
            self._end(run, now, "CLIENT_ERROR", "USER_CANCELED", "Run cancelled by user.")
        elif run.state in ("QUEUED", "PENDING"):
            run.state = "PENDING" if run.state == "QUEUED" else "RUNNING"
            current.state = run.state
        elif run.state == "RUNNING":
            done = {t.key: t for t in run.tasks if t.state == "TERMINATED"}
            for task in run.tasks:
                if task.state == "TERMINATED":
                    continue
                upstream = [d.get("task_key") for d in task.spec.get("depends_on") or ()]
                if any(u in done and done[u].code != "SUCCESS" for u in upstream):
                    task.state, task.kind, task.code = "TERMINATED", "CLIENT_ERROR", "SKIPPED"
                    task.message = "Upstream task failed."
                elif all(u in done for u in upstream):
                    plan = task.plan
                    if plan == "HOLD":
                        task.state = "RUNNING"
                        run.held.add(task.key)
                    else:
                        ok = plan == "SUCCESS"
                        task.state, task.kind = "TERMINATED", "SUCCESS" if ok else "CLIENT_ERROR"
                        task.code = "SUCCESS" if ok else "RUN_EXECUTION_ERROR"
                        task.message = "" if ok else "Workload failed, see run output for details"
            if all(t.state == "TERMINATED" for t in run.tasks):
                run.state = current.state = "TERMINATING"
        elif run.state == "TERMINATING":
            failed = [t.key for t in run.tasks if t.code != "SUCCESS"]
            if failed:
                self._end(run, now, "CLIENT_ERROR", "RUN_EXECUTION_ERROR",
                          f"Task {failed[0]} failed with message: Workload failed, see run output for details.")
            else:
                self._end(run, now, "SUCCESS", "SUCCESS", "")

    def _end(self, run: Run, now: int, kind: str, code: str, message: str) -> None:
        current = run.repairs[-1]
        run.state, run.kind, run.code, run.message, run.end_time = "TERMINATED", kind, code, message, now
        current.state, current.kind, current.code, current.end_time = "TERMINATED", kind, code, now

    @staticmethod
    def _status(state: str, kind: str | None, code: str | None, message: str = "") -> dict[str, Any]:
        status: dict[str, Any] = {"state": state}
        if state == "TERMINATED":
            status["termination_details"] = {"type": kind, "code": code, "message": message}
        return status

    @staticmethod
    def _old_state(state: str, code: str | None, message: str = "") -> dict[str, Any]:
        """The deprecated ``state`` field, as the API still sends it beside ``status``."""
        result = {"SUCCESS": "SUCCESS", "USER_CANCELED": "CANCELED", "SKIPPED": "UPSTREAM_FAILED"}.get(
            code or "", "FAILED")
        old: dict[str, Any] = {"life_cycle_state": state if state != "WAITING" else "BLOCKED",
                               "state_message": message, "user_cancelled_or_timedout": code == "USER_CANCELED"}
        if state == "TERMINATED":
            old["result_state"] = result
        return old

    def _task_json(self, run: Run, task: TaskRun) -> dict[str, Any]:
        return {"task_key": task.key, "run_id": task.run_id, "attempt_number": task.attempt,
                "depends_on": task.spec.get("depends_on") or [],
                "status": self._status(task.state, task.kind, task.code, task.message),
                "state": self._old_state(task.state, task.code, task.message),
                "run_page_url": f"{self.url}/?o=1234567890#job/run/{task.run_id}"}

    def _run_json(self, run: Run, *, history: bool, page: int = 0) -> dict[str, Any]:
        size = self.page_size
        tasks = [self._task_json(run, t) for t in run.tasks]
        repairs = [{"id": r.id, "type": r.type, "start_time": r.start_time, "end_time": r.end_time,
                    "task_run_ids": r.task_run_ids, "status": self._status(r.state, r.kind, r.code),
                    "state": self._old_state(r.state, r.code)} for r in run.repairs] if history else []
        out: dict[str, Any] = {
            "run_id": run.run_id, "run_name": run.run_name, "run_type": run.run_type,
            "number_in_job": run.run_id, "start_time": run.start_time, "end_time": run.end_time,
            "run_page_url": f"{self.url}/?o=1234567890#job/{run.job_id or 0}/run/{run.run_id}",
            "status": self._status(run.state, run.kind, run.code, run.message),
            "state": self._old_state(run.state, run.code, run.message),
            "tasks": tasks[page * size:(page + 1) * size],
            "attempt_number": 0,
            "job_parameters": [{"name": k, "value": v, "default": ""} for k, v in run.job_parameters.items()],
        }
        if run.job_id is not None:
            out["job_id"] = run.job_id
        if history:
            out["repair_history"] = repairs[page * size:(page + 1) * size]
        if len(tasks) > (page + 1) * size or len(repairs) > (page + 1) * size:
            out["next_page_token"] = f"page-{page + 1}"
            out["has_more"] = True
        return out

    def _get(self, query: dict[str, str]) -> dict[str, Any]:
        run = self._find(query.get("run_id"))
        token = query.get("page_token")
        page = int(token.removeprefix("page-")) if token else 0
        if page == 0:
            for _ in range(self.steps_per_read):
                self._advance(run)
        return self._run_json(run, history=query.get("include_history") == "true", page=page)

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        limit = int(query.get("limit") or 20)
        if not 0 < limit <= 25:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "limit must be between 1 and 25")
        since = int(query.get("start_time_from") or 0)
        if query.get("active_only") == "true" and query.get("completed_only") == "true":
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "active_only and completed_only cannot both be true")
        for run in self.runs.values():
            if not run.deleted:
                self._advance(run)  # a listing reads the runs too: each takes its step
        runs = sorted((r for r in self.runs.values() if not r.deleted and r.start_time >= since
                       and (query.get("active_only") != "true" or r.state != "TERMINATED")
                       and ("job_id" not in query or str(r.job_id) == query["job_id"])
                       and ("run_type" not in query or r.run_type == query["run_type"])),
                      key=lambda r: (r.start_time, r.run_id), reverse=True)
        offset = int(query.get("page_token") or 0)
        page = runs[offset:offset + limit]
        # expand_tasks: each run with its first 100 tasks only ("use runs/get to paginate through all
        # tasks"), and without the page token runs/get gives for the rest.
        expand = query.get("expand_tasks") == "true"
        listed = []
        for run in page:
            shown = {k: v for k, v in self._run_json(run, history=False).items()
                     if k not in ("tasks", "next_page_token", "has_more")}
            if expand:
                shown["tasks"] = [self._task_json(run, t) for t in run.tasks][:LISTED_TASKS]
            listed.append(shown)
        out: dict[str, Any] = {"runs": listed, "has_more": len(runs) > offset + limit}
        if out["has_more"]:
            out["next_page_token"] = str(offset + limit)
        return out

    def _list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        """``jobs/list``: ``name`` an exact, case-insensitive filter; one page is enough here."""
        name = query.get("name")
        found = [{"job_id": job_id, "settings": {"name": job["name"]}} for job_id, job in sorted(self.jobs.items())
                 if name is None or job["name"].lower() == name.lower()]
        return {"jobs": found, "has_more": False} if found else {"has_more": False}

    def _cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        run = self._find(body.get("run_id"))
        if run.state != "TERMINATED":
            run.cancel_requested = True
            run.state = run.repairs[-1].state = "TERMINATING"
        return {}

    def _delete(self, body: dict[str, Any]) -> dict[str, Any]:
        self._find(body.get("run_id")).deleted = True
        return {}

    def _repair(self, body: dict[str, Any]) -> dict[str, Any]:
        run = self._find(body.get("run_id"))
        if run.state != "TERMINATED":
            raise ApiError(400, "INVALID_STATE", f"Run {run.run_id} is in progress and cannot be repaired.")
        repairs = [r.id for r in run.repairs if r.type == "REPAIR"]
        if repairs and body.get("latest_repair_id") != repairs[-1]:
            raise ApiError(400, "INVALID_PARAMETER_VALUE",
                           f"The latest repair of run {run.run_id} is {repairs[-1]}: pass it as latest_repair_id.")
        if body.get("rerun_all_failed_tasks"):
            chosen = {t.key for t in run.tasks if t.code != "SUCCESS"}
        else:
            chosen = set(body.get("rerun_tasks") or ())
        if not chosen:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {run.run_id} has no task to repair.")
        if body.get("rerun_dependent_tasks"):
            grew = True
            while grew:
                more = {t.key for t in run.tasks
                        if any(d.get("task_key") in chosen for d in t.spec.get("depends_on") or ())}
                grew = not more <= chosen
                chosen |= more
        rerun: list[int] = []
        for task in run.tasks:
            if task.key in chosen:
                task.run_id, task.attempt = next(self._ids), task.attempt + 1
                task.state, task.kind, task.code, task.message = "PENDING", None, None, ""
                rerun.append(task.run_id)
        repair = Repair(next(self._repair_ids), "REPAIR", rerun, int(self.clock() * 1000))
        run.repairs.append(repair)
        run.state, run.kind, run.code, run.message, run.end_time = "QUEUED", None, None, "", 0
        run.cancel_requested = False
        return {"repair_id": repair.id}


__all__ = ["ApiError", "DatabricksApiServer"]
