"""Why a running task is being stopped, and whether that should cancel its external job.

Airflow stops a task the same way for very different reasons: a user marking
it failed (or clearing it) and a worker shutting down both arrive as SIGTERM,
and the task runner calls ``on_kill()`` from inside the signal handler. What
differs is the task instance's state on the server: still ``running`` when
only the worker is going away, anything else when somebody changed it.
(A clear of a running task is a user action too: the state is
``restarting``, and Airflow 3.3 gives the task instance a new id, so the
running try's task state store no longer answers it; the operator cancels by
the job id it keeps in memory then.) Asking the server means using the supervisor channel, which takes a
non-reentrant lock the interrupted code may hold; so ``on_kill`` only sets a
flag and the operator asks (and cancels) from ordinary code, between polls.
An execution timeout is different again: the runner calls ``on_kill()`` from
its ``except AirflowTaskTimeout`` block, outside any signal handler.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resumable_core import (
    JobNotFound,
    Outcome,
    PollPolicy,
    ResumableError,
    ResumableJob,
    StateStore,
    StoreError,
    SupportsCancel,
    cancel_resumable,
)
from resumable_core.events import EventListener

# How often a pending SIGTERM is looked at while waiting between polls. Airflow
# sends SIGKILL 5 s after the SIGTERM of a user's mark-failed, and the check,
# the state query and the cancel must fit in that.
KILL_CHECK_INTERVAL = 0.2

# The cancel's own budget, short for the same reason.
CANCEL_POLL = PollPolicy(min_interval=0.2, max_interval=1.0, transient_attempts=3, transient_seconds=3.0)

# How long a cancel the record cannot carry (a clear while running) is watched until the
# job reports it ended: what is left of those 5 s after the state query and the cancel.
UNRECORDED_CANCEL_WAIT = 3.0


class KillCause(str, enum.Enum):
    TIMEOUT = "execution_timeout"        # the task ran past its execution_timeout
    USER_ACTION = "user_action"          # marked failed or success (or removed) while running
    USER_CLEAR = "user_clear"            # cleared while running: Airflow runs it again
    WORKER_SHUTDOWN = "worker_shutdown"  # SIGTERM while the task instance is still running

    @property
    def reruns(self) -> bool:
        """Whether Airflow may run the task again on purpose after this stop.

        A timeout is followed by a retry (when retries remain) and a clear by a
        new try; those tries must submit afresh, so the cancelled record is
        left as FAILED. A mark-failed is a decision about the work: the record
        stays CANCELLED, and only a later clear (a new generation) reruns it.
        """
        return self in (KillCause.TIMEOUT, KillCause.USER_CLEAR)


@dataclass(frozen=True, slots=True)
class KillPolicy:
    """Whether stopping the task cancels the external job, per cause.

    The default cancels when somebody meant the work to stop (a timeout, a
    user's mark-failed or clear) and leaves the job running when only the
    worker is going away (deploy, spot reclaim, scale-in), so that the retry
    reattaches instead of starting over.
    """

    cancel_on_timeout: bool = True
    cancel_on_user_action: bool = True  # a mark-failed/-success, or a clear, of the running task
    cancel_on_worker_shutdown: bool = False

    def cancels(self, cause: KillCause) -> bool:
        return {
            KillCause.TIMEOUT: self.cancel_on_timeout,
            KillCause.USER_ACTION: self.cancel_on_user_action,
            KillCause.USER_CLEAR: self.cancel_on_user_action,
            KillCause.WORKER_SHUTDOWN: self.cancel_on_worker_shutdown,
        }[cause]


CANCEL_BY_CAUSE = KillPolicy()
ALWAYS_CANCEL = KillPolicy(cancel_on_timeout=True, cancel_on_user_action=True, cancel_on_worker_shutdown=True)
NEVER_CANCEL = KillPolicy(cancel_on_timeout=False, cancel_on_user_action=False, cancel_on_worker_shutdown=False)


class TaskInterrupted(ResumableError):
    """The task was stopped while its job ran; *cause* says why, *cancelled* what became of the job."""

    def __init__(
        self,
        message: str,
        *,
        cause: KillCause,
        cancelled: bool,
        key: str | None = None,
        job_id: str | None = None,
        status: str | None = None,
    ) -> None:
        super().__init__(message, key=key, job_id=job_id, status=status)
        self.cause = cause
        self.cancelled = cancelled


def cause_from_state(state: str | None) -> KillCause:
    """The cause of a SIGTERM, from the task instance's state as the server sees it.

    ``running``: nobody changed the task instance, so its worker is stopping.
    ``restarting``: a user cleared it while it ran. Anything else (failed,
    success, removed): a user or the API ended it. Unknown (None, the server
    could not be asked) counts as a worker shutdown: wrongly leaving a job
    running costs a reattach or a manual cancel, wrongly cancelling it loses
    its work.
    """
    if state is None or state == "running":
        return KillCause.WORKER_SHUTDOWN
    if state == "restarting":
        return KillCause.USER_CLEAR
    return KillCause.USER_ACTION


def task_instance_state(ti: Any) -> str | None:
    """Ask the server for this task instance's current state (outside a signal handler only)."""
    map_index = ti.map_index if ti.map_index is not None and ti.map_index >= 0 else None
    states = ti.get_task_states(
        dag_id=ti.dag_id,
        task_ids=[ti.task_id],
        run_ids=[ti.run_id],
        map_index=map_index,
    )
    # Shape: {run_id: {task_id: state}}, mapped instances as "<task_id>_<map_index>".
    name = ti.task_id if map_index is None else f"{ti.task_id}_{map_index}"
    state = (states.get(ti.run_id) or {}).get(name)
    return None if state is None else str(getattr(state, "value", state))


class SigtermLatch:
    """A SIGTERM noted by ``on_kill`` inside the signal handler, acted on by the wait between polls.

    The handler only sets it: asking the server for the task's state there can
    deadlock (see the module's docstring).
    """

    def __init__(self) -> None:
        self.pending = False

    def sleep(self, seconds: float, on_sigterm: Callable[[], None]) -> None:
        """Sleep *seconds* in slices, calling *on_sigterm* (which raises to stop the task) once one is pending."""
        deadline = time.monotonic() + seconds
        while True:
            if self.pending:
                self.pending = False
                on_sigterm()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, KILL_CHECK_INTERVAL))


def sigterm_cause(ti: Any, log: Any, safe: Callable[[str], str] = str) -> tuple[str | None, KillCause]:
    """The task instance's state as the server sees it now and the cause it means, both logged.

    *log*: the operator's logger; *safe* masks what the task must not show of an error (its own secrets).
    """
    try:
        state = task_instance_state(ti)
    except Exception as exc:  # the server may be gone with the worker
        log.warning("SIGTERM: could not ask for the task instance's state (%s); "
                    "treating it as a worker shutdown", safe(str(exc)))
        state = None
    cause = cause_from_state(state)
    log.info("SIGTERM received; task instance state %r: %s", state, cause.value)
    return state, cause


def stop_job(job: ResumableJob[Any], store: StateStore, key: str, cause: KillCause, *, job_id: str | None,
             reference: str | None, listener: EventListener, log: Any, safe: Callable[[str], str] = str) -> bool:
    """Cancel the job of a task stopped for *cause* (the kill policy said so); True when it was cancelled.

    The operator's and the bridge's one stop path. Through the record (``cancel_resumable``),
    or, when the record cannot be used, by *job_id*, the id this try kept in memory.
    """
    try:
        record = cancel_resumable(job, store, key=key, poll=CANCEL_POLL, listener=listener, rerun=cause.reruns)
    except StoreError as exc:
        # The record could not be written (the task instance may no longer be allowed
        # to); the user still meant the job to stop.
        return _cancel_unrecorded(job, cause, job_id, reference, safe(str(exc)), log, safe)
    except ResumableError as exc:
        log.error("%s: could not cancel the job: %s", cause.value, safe(str(exc)))
        return False
    if record is None and job_id is None:
        log.info("%s: no job to cancel (none recorded, none submitted by this try)", cause.value)
        return False
    if record is None:
        # The store answers nothing for this try, yet it runs a job: Airflow 3.3 gives a task
        # instance cleared while running a new id, and the task state store then answers
        # this try (by its old id) with "no such key".
        return _cancel_unrecorded(job, cause, job_id, reference, "the task state store has no record for this "
                                  "try (a clear while running gives the task instance a new id)", log, safe)
    cancelled = bool(record.history) and record.history[-1].outcome is Outcome.CANCELLED
    if cancelled and cause.reruns:
        log.info("%s: job cancelled; a new try of this task submits afresh", cause.value)
    return cancelled


def _cancel_unrecorded(job: ResumableJob[Any], cause: KillCause, job_id: str | None, reference: str | None,
                       why: str, log: Any, safe: Callable[[str], str]) -> bool:
    """Cancel the job this try runs, by the id kept in memory, when the record cannot be used."""
    if job_id is None or not isinstance(job, SupportsCancel):
        log.error("%s: could not cancel the job: %s", cause.value, why)
        return False
    try:
        job.cancel_job(job_id)
    except ResumableError as exc:
        log.error("%s: could not cancel job %s: %s", cause.value, job_id, safe(str(exc)))
        return False
    log.warning("%s: cancelled job %s (reference %s) without updating its record: %s",
                cause.value, job_id, reference, why)
    # The next try reads the record this try could not update, which still names the job
    # as running, and decides from the job's own status: it submits afresh only if the job
    # has ended by then. Many systems end a job some time after accepting the cancel (a
    # YARN kill answered 202, a pod terminating): seen still running, it would be
    # reattached to, then end KILLED and fail the try a user's clear meant to rerun.
    ended = _await_end(job, job_id, UNRECORDED_CANCEL_WAIT, log, safe)
    if ended is None:
        log.warning("%s: job %s still reported active %.0f s after the cancel; the next try may "
                    "reattach to it before it ends", cause.value, job_id, UNRECORDED_CANCEL_WAIT)
    else:
        log.info("%s: job %s ended after the cancel (%s); the next try submits afresh",
                 cause.value, job_id, safe(ended))
    return True


def _await_end(job: ResumableJob[Any], job_id: str, seconds: float, log: Any, safe: Callable[[str], str]) -> str | None:
    """The status *job_id* ended in ("not found" when gone), asked for up to *seconds*; None if still active."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            status = job.get_job_status(job_id)
        except JobNotFound:
            return "not found"
        except ResumableError as exc:  # transient or unclear: ask again while time remains
            log.info("job %s: status after the cancel not known yet: %s", job_id, safe(str(exc)))
        else:
            if not job.is_job_active(status):
                return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(KILL_CHECK_INTERVAL)
