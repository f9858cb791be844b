"""DatabricksSubmitRunJob and DatabricksRunNowJob: one Databricks run per submission reference.

The reference is the run's ``idempotency_token``: a replayed create (after a timeout, or a
crash before the run id was recorded) returns the run already made, and a resubmission after
a failure gets a new reference, so a new run (a fixed token would hand back the failed run:
apache/airflow#64828). Databricks cannot look a token up, so each job also leaves the
reference where ``runs/list`` shows it, for ``find_job_by_reference``: a one-time run's
``run_name`` ends with ``[resumable <reference> <spec tag>]``; a job run carries it in the
job parameter *reference_parameter*, when the job defines one. Without it a run-now job
finds nothing, which is still safe: the core then submits with the same reference, and the
token returns the run already made.

Job ids: ``"<run_id>"``, and ``"<run_id>/repair/<repair_id>"`` for a repair (_repair.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from resumable_core import JobNotFound
from resumable_core.errors import InvalidArgument
from resumable_core.progress import Progress

from .._batching import batch_key
from ._client import LISTED_TASKS_MAX, DatabricksJobsClient, check_token, jobs
from ._progress import run_progress
from ._repair import RepairFailedTasks, RunRef, previous_failed_run
from ._status import ACTIVE_STATES, SUCCESS_CODES, TERMINATED, run_state, status_text, task_states, termination_code

DatabricksRunResult = dict[str, Any]
_MARKER = re.compile(r"\[resumable ([^\s\]]+) ([0-9a-f]{12})\]$")
DEFAULT_RUN_NAME = "resumable run"


class _DatabricksRunJob:
    """What both jobs share: status, result, cancel, find, repair, progress."""

    kind = "run"
    # Progress is asked right after a status read, which fetched every page of the run already (or
    # listed it with its tasks, batched): a read this young (seconds) answers it without another call.
    progress_reuse = 2.0

    def __init__(self, client: DatabricksJobsClient, payload: dict[str, Any], *,
                 success_codes: Iterable[str] = SUCCESS_CODES, repair: RepairFailedTasks | None = None,
                 find_window: float = 7 * 24 * 3600.0, find_limit: int = 1000,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(payload, dict):
            raise InvalidArgument(f"{type(self).__name__} needs the Jobs API request as a dict")
        if "idempotency_token" in payload:
            raise InvalidArgument(f"{type(self).__name__}: leave idempotency_token out; each submission's "
                                  "reference is its token (a fixed token hands back a failed run)")
        self.client = client
        self.payload = json.loads(json.dumps(payload))  # a JSON copy: the fingerprint and every submit see one value
        self.success_codes = frozenset(success_codes)
        self.repair = repair
        self.find_window = find_window
        self.find_limit = find_limit
        self.clock = clock
        self._last: dict[str, tuple[float, jobs.Run]] = {}  # job id -> (when read, monotonic; the run)
        # job id -> (when listed, monotonic; the run as runs/list showed it, None when the listing
        # could not show all its tasks)
        self._listed: dict[str, tuple[float, jobs.BaseRun | None]] = {}

    def __repr__(self) -> str:  # never the payload: task parameters may hold credentials
        return f"{type(self).__name__}(host={self.client.host!r}, fingerprint={self.job_fingerprint()[:12]!r})"

    # -- ResumableJob -------------------------------------------------------------------------

    def submit_job(self, reference: str) -> str:
        check_token(reference)
        if self.repair is not None:
            previous = previous_failed_run(self.repair, reference)
            if previous is not None:
                repaired = self.repair.repair_if_fit(self, previous)
                if repaired is not None:
                    return repaired.job_id
        return str(self._create(reference))

    def get_job_status(self, job_id: str) -> str:
        ref = RunRef.parse(job_id)
        run = self.client.get_run(ref.run_id, job_id=job_id)
        self._last[job_id] = (time.monotonic(), run)
        if ref.repair_id is None:
            return status_text(run.status, job_id=job_id)
        item = next((h for h in run.repair_history or () if h.id == ref.repair_id), None)
        if item is None:
            raise JobNotFound(f"Databricks run {ref.run_id} has no repair {ref.repair_id}", job_id=job_id)
        return status_text(item.status, job_id=job_id)

    def is_job_active(self, status: str) -> bool:
        return run_state(status) in ACTIVE_STATES

    def is_job_succeeded(self, status: str) -> bool:
        return run_state(status) == TERMINATED and termination_code(status) in self.success_codes

    def get_job_result(self, job_id: str, status: str) -> DatabricksRunResult:
        ref = RunRef.parse(job_id)
        cached = self._last.get(job_id)
        run = cached[1] if cached is not None else self.client.get_run(ref.run_id, job_id=job_id)
        details = run.status.termination_details if run.status is not None else None
        return {
            "run_id": ref.run_id,
            "repair_id": ref.repair_id,
            "status": status,
            "termination_message": details.message if details is not None else None,
            "run_page_url": run.run_page_url,
            "job_id": run.job_id,
            "start_time": run.start_time,
            "end_time": run.end_time,
            "tasks": task_states(run.tasks),
        }

    # -- capabilities -------------------------------------------------------------------------

    @property
    def batch_key(self) -> str:
        """One listing per client: its workspace and its credentials (SupportsBatchStatus)."""
        # The client stands for its credentials (the SDK resolves them, perhaps refreshed): jobs of one
        # client share a listing, as the EMR jobs' refreshable credentials do.
        return batch_key("databricks", self.client.host, f"client-{id(self.client):x}")

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The statuses ``runs/list?active_only=true`` shows of *job_ids*: the runs still active.

        An ended run is left out (the listing has only active runs), and so is a repair (its
        status is an entry of the run's repair history): the core asks those directly. The
        listing brings each run's tasks (``expand_tasks``), kept a moment for its progress.
        """
        wanted = {RunRef.parse(job_id).run_id: job_id for job_id in job_ids if "/" not in job_id}
        found: dict[str, str] = {}
        if not wanted:
            return found
        now = time.monotonic()
        for run in self.client.runs(active_only=True, expand_tasks=True, limit=self.find_limit):
            job_id = wanted.get(run.run_id) if run.run_id is not None else None
            if job_id is not None:
                found[job_id] = status_text(run.status, job_id=job_id)
                whole = run.tasks is not None and len(run.tasks) < LISTED_TASKS_MAX and not run.has_more
                self._listed[job_id] = (now, run if whole else None)
                if len(found) == len(wanted):
                    break
        return found

    def get_job_progresses(self, job_ids: Sequence[str]) -> Mapping[str, Progress]:
        """The progress of each of *job_ids* from one active-run listing (SupportsBatchProgress).

        The listing made for their status a moment ago serves when it is that young, else one is
        made now. A run with more tasks than a listing shows, a repair, or an ended run is left
        out: the core asks those on their own, within the workspace's progress budget.
        """
        now = time.monotonic()
        if any(job_id not in self._listed or now - self._listed[job_id][0] > self.progress_reuse
               for job_id in job_ids if "/" not in job_id):
            self.get_job_statuses(job_ids)
        seen: dict[str, Progress] = {}
        for job_id in job_ids:
            listed = self._listed.get(job_id)
            if listed is not None and listed[1] is not None and time.monotonic() - listed[0] <= self.progress_reuse:
                progress = run_progress(listed[1], RunRef.parse(job_id))
                if progress is not None:
                    seen[job_id] = progress
        return seen

    def job_progress(self, job_id: str) -> Progress | None:
        """The run's (or repair's) tasks finished of total, the running ones, its run page (_progress.py)."""
        ref = RunRef.parse(job_id)
        now = time.monotonic()
        fresh: list[tuple[float, jobs.Run | jobs.BaseRun]] = [
            (at, run) for at, run in (self._last.get(job_id) or (0.0, None), self._listed.get(job_id) or (0.0, None))
            if run is not None and now - at <= self.progress_reuse]
        if fresh:
            return run_progress(max(fresh, key=lambda read: read[0])[1], ref)
        return run_progress(self.client.get_run(ref.run_id, job_id=job_id), ref)

    def cancel_job(self, job_id: str) -> None:
        ref = RunRef.parse(job_id)
        self.client.cancel(ref.run_id, job_id=job_id)

    def find_job_by_reference(self, reference: str) -> str | None:
        if self.repair is not None:
            previous = previous_failed_run(self.repair, reference)
            if previous is not None:
                found = self.repair.find_repair(self, previous)
                if found is not None:
                    return found.job_id
        run_id = self._find_created(reference)
        return None if run_id is None else str(run_id)

    def job_fingerprint(self) -> str:
        text = json.dumps({"kind": self.kind, "payload": self.payload, **self._identity()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    # -- per kind -----------------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {}

    def _create(self, reference: str) -> int:
        raise NotImplementedError

    def _find_created(self, reference: str) -> int | None:
        raise NotImplementedError

    def same_spec(self, run: jobs.Run) -> bool:
        """Whether *run* was made from this job's spec (a repair of it reruns what this job asks)."""
        raise NotImplementedError

    def repair_parameters(self) -> dict[str, Any]:
        """The parameters a repair passes along (a job run's current ones)."""
        return {}

    def _since(self) -> float:
        return self.clock() - self.find_window


class DatabricksSubmitRunJob(_DatabricksRunJob):
    """A one-time run (``runs/submit``) of *payload*, the Jobs API request body (``tasks``,
    ``run_name``, ``git_source``, ...; as the Airflow operator's ``json``), without a token.

    *success_codes*: termination codes that count as success (add ``SUCCESS_WITH_FAILURES``
    to accept runs whose child runs failed). *repair*: repair a failed multi-task run instead
    of running it anew (``RepairFailedTasks``). *find_window*: how far back ``runs/list`` is
    searched for a reference, *find_limit*: at most that many runs read.
    """

    kind = "submit"

    def _create(self, reference: str) -> int:
        payload = dict(self.payload)
        payload["run_name"] = self.run_name(reference)
        return self.client.submit(payload, reference)

    def run_name(self, reference: str) -> str:
        base = str(self.payload.get("run_name") or DEFAULT_RUN_NAME)
        return f"{base} [resumable {reference} {self.job_fingerprint()[:12]}]"

    def _find_created(self, reference: str) -> int | None:
        for run in self.client.runs(started_after=self._since(), submitted_only=True, limit=self.find_limit):
            match = _MARKER.search(run.run_name or "")
            if match is not None and match.group(1) == reference and run.run_id is not None:
                return run.run_id
        return None

    def same_spec(self, run: jobs.Run) -> bool:
        match = _MARKER.search(run.run_name or "")
        return match is not None and match.group(2) == self.job_fingerprint()[:12]


class DatabricksRunNowJob(_DatabricksRunJob):
    """A run of the existing job *job_id* (``run-now``) with *payload*'s parameters
    (``job_parameters``, ``notebook_params``, ``only``, ``queue``, ...), without a token.

    *reference_parameter*: the name of a job parameter the job defines, which each run gets
    the reference in (``{{job.parameters.<name>}}``), so that it can be found by reference;
    None: a run is found only through its token (module docstring). Other arguments as for
    ``DatabricksSubmitRunJob``.
    """

    kind = "run-now"

    def __init__(self, client: DatabricksJobsClient, job_id: int, payload: dict[str, Any] | None = None, *,
                 reference_parameter: str | None = None, **options: Any) -> None:
        if not isinstance(job_id, int) or isinstance(job_id, bool) or job_id <= 0:
            raise InvalidArgument(f"DatabricksRunNowJob job_id must be a positive int, got {job_id!r}")
        self.job_id = job_id
        self.reference_parameter = reference_parameter
        super().__init__(client, payload or {}, **options)

    def _identity(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "reference_parameter": self.reference_parameter}

    def _create(self, reference: str) -> int:
        payload = dict(self.payload)
        if self.reference_parameter is not None:
            payload["job_parameters"] = {**payload.get("job_parameters", {}), self.reference_parameter: reference}
        return self.client.run_now(self.job_id, payload, reference)

    def _find_created(self, reference: str) -> int | None:
        if self.reference_parameter is None:
            return None  # nothing but the token names the run: the same-reference submit returns it
        for run in self.client.runs(started_after=self._since(), job_id=self.job_id, limit=self.find_limit):
            parameters = {p.name: p.value for p in run.job_parameters or ()}
            if parameters.get(self.reference_parameter) == reference and run.run_id is not None:
                return run.run_id
        return None

    def same_spec(self, run: jobs.Run) -> bool:
        return run.job_id == self.job_id  # a repair passes this job's current parameters along

    def repair_parameters(self) -> dict[str, Any]:
        keep = ("job_parameters", "notebook_params", "jar_params", "python_params", "python_named_params",
                "spark_submit_params", "sql_params", "dbt_commands", "pipeline_params")
        return {name: self.payload[name] for name in keep if name in self.payload}


__all__ = ["DEFAULT_RUN_NAME", "DatabricksRunNowJob", "DatabricksRunResult", "DatabricksSubmitRunJob"]
