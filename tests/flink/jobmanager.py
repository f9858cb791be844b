"""A small loopback Flink JobManager, faithful to the REST calls FlinkJob makes, on any clock.

What the crash-injection properties need of a session cluster, hundreds of times a second
(a real one takes seconds per job): ``GET /jars``, ``POST /jars/upload`` (multipart, the
stored id ``<uuid>_<file name>``), ``POST /jars/:jarid/run`` with the client's ``jobId``
(HTTP 400 ``DuplicateApplicationSubmissionException`` for an id the JobManager has seen,
running or ended, as Flink 2.3.0 answers; 500 "Jar file ... does not exist" for a jar it
lost), ``GET /jobs/:jobid`` (404 for an unknown id), ``GET /jobs/:jobid/checkpoints``,
``GET /jobs/overview`` and ``PATCH /jobs/:jobid?mode=cancel`` (202; CANCELLING, then CANCELED
a little later, as a real cancel takes a while; 409 for an ended job, 404 for an unknown one).
The bodies are the shapes measured on the real cluster (tests/flink's real-cluster tests).

Each job follows a plan, ``[(seconds after the run, state), ...]``, on the server's clock:
the crash properties pass their virtual clock. ``forget`` is a JobManager restarted without
HA: it loses the job and every uploaded jar.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from tests.services.loopback import Answer, LoopbackHttpServer

PlanStep = tuple[float, str]
ACTIVE = frozenset({"INITIALIZING", "CREATED", "RUNNING", "FAILING", "RESTARTING", "CANCELLING", "RECONCILING"})
CANCEL_SECONDS = 0.5  # from the cancel's 202 to CANCELED
CHECKPOINT_SECONDS = 0.5  # a running job completes a checkpoint this often
UPLOAD_DIR = "/tmp/flink-web-loopback/flink-web-upload"
_FILENAME = re.compile(rb'filename="([^"]+)"')
_JOB_PATH = re.compile(r"/jobs/([0-9a-f]{32})(/checkpoints)?")
_RUN_PATH = re.compile(r"/jars/([^/]+)/run")


def errors(*lines: str) -> dict[str, Any]:
    return {"errors": ["\n".join(lines)]}


@dataclass
class LoopbackJob:
    job_id: str
    name: str
    request: dict[str, Any]
    started: float
    plan: list[PlanStep]
    state: str = "INITIALIZING"
    ended: float | None = None
    cancel_at: float | None = None
    forgotten: bool = False
    checkpoints: int = 0
    history: list[str] = field(default_factory=list)


class FlinkJobManager(LoopbackHttpServer):
    def __init__(self, *, clock: Callable[[], float] = time.time,
                 plan_for: Callable[[dict[str, Any]], list[PlanStep]] | None = None) -> None:
        self.clock = clock
        self.plan_for = plan_for or (lambda request: [(0.1, "RUNNING"), (1.0, "FINISHED")])
        self.lock = threading.Lock()
        self.jars: dict[str, tuple[str, int]] = {}  # jar id -> (file name, uploaded ms)
        self.jobs: dict[str, LoopbackJob] = {}       # what the JobManager holds now
        self.ever: list[LoopbackJob] = []            # every job run since the reset, forgotten ones too
        self.requests: list[tuple[str, str]] = []
        self.uploads = 0
        super().__init__("flink-jobmanager")

    def start(self) -> FlinkJobManager:
        self._start()
        return self

    # -- what tests use ------------------------------------------------------------------------

    def reset(self, clock: Callable[[], float] | None = None) -> None:
        """Forget everything, and change the clock when given (one server serves many examples)."""
        with self.lock:
            self.jars.clear()
            self.jobs.clear()
            self.ever.clear()
            self.requests.clear()
            self.uploads = 0
            if clock is not None:
                self.clock = clock

    def all_jobs(self) -> list[LoopbackJob]:
        """Every job run since the reset, as of now (forgotten ones marked)."""
        with self.lock:
            self._advance()
            return list(self.ever)

    def forget(self, job_id: str) -> None:
        """A JobManager restarted without HA: the job is gone, and so is every uploaded jar."""
        with self.lock:
            self._advance()
            job = self.jobs.pop(job_id, None)
            if job is not None:
                job.forgotten = True
            self.jars.clear()

    # -- the REST API ----------------------------------------------------------------------------

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        with self.lock:
            self.requests.append((method, path))
            self._advance()
            return self._handle(method, path, query, body)

    def _handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Answer:
        now_ms = int(self.clock() * 1000)
        if (method, path) == ("GET", "/jars"):
            files = [{"id": jar_id, "name": name, "uploaded": at, "entry": []}
                     for jar_id, (name, at) in self.jars.items()]
            return 200, {"address": self.url, "files": files}, {}
        if (method, path) == ("POST", "/jars/upload"):
            found = _FILENAME.search(body)
            if found is None:
                return 400, errors("Exactly 1 file must be sent, received 0."), {}
            jar_id = f"{uuid.uuid4()}_{found.group(1).decode()}"
            self.jars[jar_id] = (found.group(1).decode(), now_ms)
            self.uploads += 1
            return 200, {"filename": f"{UPLOAD_DIR}/{jar_id}", "status": "success"}, {}
        if (method, path) == ("GET", "/jobs/overview"):
            return 200, {"jobs": [self._overview(j) for j in self.jobs.values()]}, {}
        if method == "POST" and (run := _RUN_PATH.fullmatch(path)):
            return self._run(run.group(1), json.loads(body or b"{}"))
        if (matched := _JOB_PATH.fullmatch(path)) is None:
            return 404, errors("Not found: " + path), {}
        job = self.jobs.get(matched.group(1))
        if job is None:
            return 404, errors(f"org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find "
                               f"Flink job ({matched.group(1)})"), {}
        if method == "GET" and matched.group(2):
            return 200, self._checkpoints(job), {}
        if method == "GET":
            return 200, self._details(job, now_ms), {}
        if method == "PATCH" and query.get("mode", ["cancel"]) == ["cancel"]:
            if job.state not in ACTIVE:
                return 409, errors(f"Job {job.job_id} is already in a terminal state {job.state}."), {}
            if job.cancel_at is None:
                job.cancel_at = self.clock() + CANCEL_SECONDS
                self._set(job, "CANCELLING")
            return 202, {}, {}
        return 405, errors(f"{method} not allowed"), {}

    def _run(self, jar_id: str, request: dict[str, Any]) -> Answer:
        if jar_id not in self.jars:
            return 500, errors("org.apache.flink.runtime.rest.handler.RestHandlerException: Jar file "
                               f"{UPLOAD_DIR}/{jar_id} does not exist"), {}
        job_id = request.get("jobId") or uuid.uuid4().hex
        if job_id in self.jobs:
            return 400, errors("org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute "
                               "application.",
                               "Caused by: org.apache.flink.runtime.client.DuplicateApplicationSubmissionException: "
                               "Application has already been submitted."), {}
        job = LoopbackJob(job_id, f"resumable {job_id[:8]}", request, self.clock(), list(self.plan_for(request)))
        self.jobs[job_id] = job
        self.ever.append(job)
        return 200, {"jobid": job_id}, {}

    # -- internals ---------------------------------------------------------------------------------

    def _advance(self) -> None:
        now = self.clock()
        for job in self.jobs.values():
            if job.cancel_at is not None:
                if job.state in ACTIVE and now >= job.cancel_at:
                    self._set(job, "CANCELED", job.cancel_at)
                continue
            while job.plan and job.state in ACTIVE and now >= job.started + job.plan[0][0]:
                at, state = job.plan.pop(0)
                self._set(job, state, job.started + at)
            if job.state == "RUNNING":
                job.checkpoints = int((now - job.started) / CHECKPOINT_SECONDS)

    @staticmethod
    def _set(job: LoopbackJob, state: str, at: float | None = None) -> None:
        job.state = state
        job.history.append(state)
        if state not in ACTIVE and at is not None:
            job.ended = at

    @staticmethod
    def _overview(job: LoopbackJob) -> dict[str, Any]:
        return {"jid": job.job_id, "name": job.name, "state": job.state}

    def _details(self, job: LoopbackJob, now_ms: int) -> dict[str, Any]:
        start = int(job.started * 1000)
        end = int(job.ended * 1000) if job.ended is not None else -1
        return {"jid": job.job_id, "name": job.name, "isStoppable": False, "state": job.state,
                "start-time": start, "end-time": end, "duration": (end if end >= 0 else now_ms) - start,
                "maxParallelism": -1, "now": now_ms, "timestamps": {}, "vertices": [], "status-counts": {},
                "plan": {}}

    @staticmethod
    def _checkpoints(job: LoopbackJob) -> dict[str, Any]:
        completed = None
        if job.checkpoints:
            completed = {"id": job.checkpoints, "external_path": f"file:/checkpoints/{job.job_id}/chk-{job.checkpoints}",
                         "is_savepoint": False, "checkpoint_type": "CHECKPOINT", "discarded": False}
        restored = job.request.get("savepointPath")
        return {"counts": {"completed": job.checkpoints, "failed": 0, "in_progress": 0, "restored": 0, "total":
                           job.checkpoints},
                "latest": {"completed": completed, "savepoint": None, "failed": None,
                           "restored": {"external_path": restored} if restored else None}}


__all__ = ["FlinkJobManager", "LoopbackJob", "PlanStep"]
