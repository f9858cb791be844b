"""FlinkJob: one FlinkSubmission on one session cluster, as a ResumableJob with every capability.

The job id is chosen by us, before the submit: the submission reference the core persisted
(32 hex digits, as a Flink ``JobID``). So a crash between "submitted" and "id recorded" is
closed by construction: the retry looks the id up (``GET /jobs/:id``), and a repeated run
with that id is refused by Flink as a duplicate, which this job reads as "it exists: adopt it".

It also says where a job got to (``resume_state``: the newest retained checkpoint or
savepoint) and starts a submission from such a state (``submit_job_from``), so the core can
record progress and resume a failed or lost streaming job from it instead of from scratch.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from resumable_core import InvalidArgument, JobNotFound, JsonValue, TransientError
from resumable_core.errors import ExternalSystemError
from resumable_core.progress import Count, Progress
from resumable_core.redaction import redact

# _client first: it raises the ImportError naming the extra when urllib3 is missing.
from ._client import UNSENT, FlinkRestClient, JarNotFound, nothing_submitted
from ._model import (
    RESTORE_MODES,
    STATES_ACTIVE,
    STATES_FAILED,
    STATES_SUCCEEDED,
    STOPPED,
    FlinkSubmission,
    check_job_id,
    file_digest,
    job_id_for,
)

log = logging.getLogger("resumable_adapters.flink")
FlinkJobResult = dict[str, JsonValue]


def stop_trigger_id(job_id: str) -> str:
    """The ``triggerId`` of the stop-with-savepoint of *job_id*: the same from every process
    and every retry, so a repeated stop joins the first one instead of taking a second savepoint."""
    return hashlib.sha256(f"resumable-stop:{job_id}".encode()).hexdigest()[:32]


class FlinkJob:
    """One ``FlinkSubmission`` on one Flink session cluster.

    *restore_mode*: how a submission that starts from a recorded checkpoint or savepoint
    treats it (Flink's ``claimMode``): ``NO_CLAIM`` (default: the new job never deletes it),
    ``CLAIM`` (the new job owns it), ``LEGACY``. *stop_with_savepoint*: ``cancel_job``
    stops the job with a savepoint (into *savepoint_directory*, else the cluster's
    ``execution.checkpointing.savepoint-dir``) instead of cancelling it, and that savepoint is
    where the next submission starts; it waits up to *savepoint_timeout* seconds for it.

    *checkpoint_stats_ttl*: how long the cluster caches checkpoint statistics
    (``rest.cache.checkpoint-statistics.timeout``, by default ``web.refresh-interval``, 3 s).
    Where a job that just ended got to is asked only once that long has passed since its
    end (by the JobManager's clock): an earlier answer may name a checkpoint the job has
    since subsumed and deleted, which no new run could start from.
    """

    def __init__(
        self,
        client: FlinkRestClient,
        submission: FlinkSubmission,
        *,
        restore_mode: str = "NO_CLAIM",
        stop_with_savepoint: bool = False,
        savepoint_directory: str | None = None,
        savepoint_timeout: float = 300.0,
        checkpoint_stats_ttl: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if restore_mode not in RESTORE_MODES:
            raise InvalidArgument(f"FlinkJob restore_mode must be one of {', '.join(RESTORE_MODES)}, "
                                  f"got {restore_mode!r}")
        if not savepoint_timeout > 0:
            raise InvalidArgument(f"FlinkJob savepoint_timeout must be > 0 seconds, got {savepoint_timeout!r}")
        self.client = client
        self.submission = submission
        self.restore_mode = restore_mode
        self.stop_with_savepoint = stop_with_savepoint
        self.savepoint_directory = savepoint_directory
        self.savepoint_timeout = savepoint_timeout
        self.checkpoint_stats_ttl = checkpoint_stats_ttl
        self.clock = clock
        self.sleep = sleep
        self._digest: str | None = None
        self._jar_id: str | None = None
        self._lock = threading.Lock()
        self._resume: dict[str, str] = {}      # job id -> newest checkpoint/savepoint seen
        self._restored: dict[str, str] = {}    # job id -> what it was started from, when we started it
        self._details: dict[str, dict[str, JsonValue]] = {}

    def __repr__(self) -> str:
        return redact(f"FlinkJob({self.submission!r}, cluster={self.client!r})", self.submission.secrets())

    # -- the jar: once per content -----------------------------------------------------------

    def jar_digest(self) -> str:
        if self._digest is None:
            self._digest = file_digest(self.submission.jar)
        return self._digest

    @property
    def jar_name(self) -> str:
        """The name the jar is uploaded under: it carries the content's digest, so an upload of
        the same bytes is found again in ``GET /jars`` by any process and never repeated."""
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.submission.jar.stem)[:60] or "job"
        return f"{stem}-sha256-{self.jar_digest()}.jar"

    def uploaded_jar_id(self, *, refresh: bool = False) -> str:
        """The cluster's id of our jar: found by name (the newest upload), else uploaded now."""
        with self._lock:
            if self._jar_id is not None and not refresh:
                return self._jar_id
            name = self.jar_name
            same = [j for j in self.client.jars() if j.name == name]
            if same:
                self._jar_id = max(same, key=lambda j: j.uploaded or 0).jar_id
            else:
                self._jar_id = self.client.upload_jar(self.submission.jar, name)
                log.info("uploaded %s to %s as %s", self.submission.jar, self.client, self._jar_id)
            return self._jar_id

    # -- ResumableJob ---------------------------------------------------------------------------

    def submit_job(self, reference: str) -> str:
        return self.submit_job_from(reference, None)

    def submit_job_from(self, reference: str, state: str | None) -> str:
        """Run the jar as job ``job_id_for(reference)``, restored from *state* when given.

        A job that exists with that id already (an earlier attempt's, whose answer was lost)
        is adopted: its id is returned and nothing new runs.
        """
        job_id = job_id_for(reference)
        request = self.submission.run_request(job_id, savepoint_path=state, restore_mode=self.restore_mode)
        try:
            try:
                answer = self.client.run_jar(self._jar_for_run(job_id), request)
            except JarNotFound:
                # The JobManager lost its uploads (a restart): upload again, run once more.
                answer = self.client.run_jar(self._jar_for_run(job_id, refresh=True), request)
        except ExternalSystemError as exc:
            exc.message = redact(exc.message, self.submission.secrets())  # Flink may echo the request
            exc.args = (exc.message,)
            raise
        if answer.already_submitted:
            log.warning("Flink job %s exists already (an earlier attempt submitted it): adopting it", job_id)
        if state is not None:
            self._restored[answer.job_id] = state
        return answer.job_id

    def _jar_for_run(self, job_id: str, *, refresh: bool = False) -> str:
        try:
            return self.uploaded_jar_id(refresh=refresh)
        except UNSENT as exc:  # the cluster never heard of this submission: it may end clean
            raise nothing_submitted(f"Flink run of job {job_id}", exc, job_id) from None

    def get_job_status(self, job_id: str) -> str:
        check_job_id(job_id)
        details = self.client.job(job_id)
        if details is None:
            raise JobNotFound(f"the Flink cluster does not know job {job_id}", job_id=job_id)
        self._details[job_id] = {"name": details.name, "start_time": details.start_time,
                                 "end_time": details.end_time, "duration_ms": details.duration}
        state = details.state
        if state in STATES_SUCCEEDED:
            summary = self.client.checkpoints(job_id)
            if summary is not None:
                self._note_resume(job_id, summary.resume_path())
                if summary.stopped_with_savepoint:
                    return STOPPED
        return state

    def is_job_active(self, status: str) -> bool:
        return status in STATES_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return status in STATES_SUCCEEDED

    def get_job_result(self, job_id: str, status: str) -> FlinkJobResult:
        check_job_id(job_id)
        details = self._details.get(job_id)
        if details is None:
            try:
                self.get_job_status(job_id)
                details = self._details.get(job_id)
            except (JobNotFound, TransientError):
                details = None  # the result keeps what we know
        result: FlinkJobResult = {"job_id": job_id, "state": status}
        result.update(details or {"name": None, "start_time": None, "end_time": None, "duration_ms": None})
        result["last_checkpoint"] = self._resume.get(job_id)
        result["restored_from"] = self._restored.get(job_id)
        return result

    # -- capabilities ---------------------------------------------------------------------------

    def find_job_by_reference(self, reference: str) -> str | None:
        """The job the reference stands for, when the cluster knows it; None when it does not.

        Certain either way: the id is the reference's, so no listing or matching is needed.
        """
        job_id = job_id_for(reference)
        return job_id if self.client.job(job_id) is not None else None

    def cancel_job(self, job_id: str) -> None:
        check_job_id(job_id)
        if self.stop_with_savepoint:
            self._stop(job_id)
        else:
            self.client.cancel(job_id)  # False: it had ended or is unknown, not an error for a cancel

    def job_fingerprint(self) -> str:
        return self.submission.fingerprint(self.jar_digest())

    @property
    def batch_key(self) -> str:
        """One listing (``GET /jobs/overview``) covers one JobManager, asked with the same headers."""
        return self.client.listing_key

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The states ``/jobs/overview`` shows for *job_ids*; an id it leaves out is asked directly.

        A FINISHED job is asked directly (one call, once: it has ended) to tell a stop-with-savepoint
        (STOPPED) from a success; a state Flink does not define is left out, so asked directly too.
        """
        listed = self.client.jobs_overview()
        found: dict[str, str] = {}
        for job_id in job_ids:
            state = listed.get(job_id)
            if state in STATES_SUCCEEDED:
                found[job_id] = self.get_job_status(job_id)
            elif state in STATES_ACTIVE or state in STATES_FAILED:
                found[job_id] = state
        return found

    def job_progress(self, job_id: str) -> Progress | None:
        """For people: the checkpoints the job completed (a streaming job has no "done of total"), its
        name and state, and its page on the Flink dashboard. None when the cluster does not know it."""
        check_job_id(job_id)
        details = self.client.job(job_id)
        if details is None:
            return None
        summary = self.client.checkpoints(job_id)
        counts = () if summary is None or summary.completed_count is None else (
            Count("checkpoints", summary.completed_count),)
        # The dashboard's address only when it carries no credentials (a masked one would not open).
        ui_url = None if "@" in self.client.url else f"{self.client.url}/#/job/running/{job_id}/overview"
        return Progress(counts=counts, label=f"{details.name or job_id}: {details.state}", ui_url=ui_url)

    def resume_state(self, job_id: str) -> str | None:
        """The newest retained checkpoint or savepoint of *job_id*: where a new run can start from."""
        check_job_id(job_id)
        details = self.client.job(job_id)
        if details is None:
            return self._resume.get(job_id)
        if details.state not in STATES_ACTIVE and details.end_time is not None and details.now is not None:
            fresh_in = self.checkpoint_stats_ttl + 0.5 - (details.now - details.end_time) / 1000
            if fresh_in > 0:
                self.sleep(min(fresh_in, self.checkpoint_stats_ttl + 0.5))
        summary = self.client.checkpoints(job_id)
        if summary is not None:
            self._note_resume(job_id, summary.resume_path())
        return self._resume.get(job_id)

    # -- internals -------------------------------------------------------------------------------

    def _note_resume(self, job_id: str, path: str | None) -> None:
        if path is not None:
            self._resume[job_id] = path

    def _stop(self, job_id: str) -> None:
        """Stop with a savepoint, waiting for it; a job that had ended is left as it is."""
        trigger = stop_trigger_id(job_id)
        try:
            self.client.stop_with_savepoint(job_id, target_directory=self.savepoint_directory, trigger_id=trigger)
        except TransientError:
            raise  # asked again by the core: the same trigger id joins a stop that did start
        except ExternalSystemError as exc:
            self._cancel_instead(job_id, f"its stop with savepoint was refused ({exc.message})")
            return
        deadline = self.clock() + self.savepoint_timeout
        while True:
            operation = self.client.savepoint(job_id, trigger)
            if operation is not None and operation.status == "COMPLETED":
                break
            if self.clock() >= deadline:
                raise TransientError(f"the stop-with-savepoint of Flink job {job_id} is not complete after "
                                     f"{self.savepoint_timeout:g}s; asking again joins it (trigger {trigger})",
                                     job_id=job_id)
            self.sleep(0.2)
        if operation.location is not None:
            self._resume[job_id] = operation.location
            log.info("Flink job %s stopped with savepoint %s", job_id, operation.location)
            return
        self._cancel_instead(job_id, f"its savepoint failed ({operation.failure})")

    def _cancel_instead(self, job_id: str, why: str) -> None:
        """A stop that took no savepoint: a job still running is cancelled (a cancel must stop it; its
        last checkpoint stays the next run's starting point); one that had ended is left as it is."""
        details = self.client.job(job_id)
        if details is None or details.state not in STATES_ACTIVE:
            return
        log.warning("%s", redact(f"Flink job {job_id}: {why}; cancelling it instead"))
        self.client.cancel(job_id)


__all__ = ["FlinkJob", "FlinkJobResult", "stop_trigger_id"]
