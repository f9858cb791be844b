"""ResumableOperator: run any ResumableJob from an Airflow task, surviving worker crashes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Union

from resumable_core import (
    Event,
    OnSuperseded,
    Outcome,
    Policy,
    PollPolicy,
    ResumableError,
    ResumableJob,
    StateStore,
    StoreError,
    SupportsCancel,
    cancel_resumable,
    run_resumable,
)
from resumable_core.events import (
    Cancelled,
    Finished,
    Reattached,
    ResultReused,
    StatusChanged,
    Submitted,
    Superseded,
    WaitingForOwner,
)

from ._compat import NEVER_EXPIRE, AirflowTaskTimeout, BaseOperator, Context
from ._kill import CANCEL_BY_CAUSE, KillCause, KillPolicy, TaskInterrupted, cause_from_state, task_instance_state
from ._store import AirflowStateStore

JobSource = Union[ResumableJob[Any], Callable[[Context], ResumableJob[Any]]]
StoreSource = Union[StateStore, Callable[[Context], StateStore]]

# The key under which the record lives in Airflow's task state store; that store
# is already scoped to one task instance, so the key need not repeat its identity.
TASK_STATE_KEY = "resumable_core.job"

# One user clear, or one dag run re-created, changes this; a retry does not (see clear_generation).
GENERATION_PREFIX = "airflow-max-tries:"

# On clear the default cancels a job an older generation left running: one task
# instance, one live job.
AIRFLOW_POLICY = Policy(on_superseded=OnSuperseded.CANCEL)

# How often a pending SIGTERM is looked at while waiting between polls. Airflow
# sends SIGKILL 5 s after the SIGTERM of a user's mark-failed, and the check,
# the state query and the cancel must fit in that.
KILL_CHECK_INTERVAL = 0.2


def clear_generation(ti: Any) -> str:
    """The generation of a task instance: changes when a user clears it, not when it retries.

    Clearing a task instance that is not running sets
    ``max_tries = try_number + retries`` (``clear_task_instances``), so it
    grows with every clear; a retry only increments ``try_number``. A task
    cleared while running goes through RESTARTING, which keeps ``max_tries``:
    the default kill policy cancels its job then, so the next try submits
    afresh all the same.
    """
    return f"{GENERATION_PREFIX}{int(ti.max_tries)}"


def default_state_key(ti: Any) -> str:
    """A key naming the task instance, for stores shared beyond one task instance."""
    map_index = ti.map_index if ti.map_index is not None else -1
    return f"airflow/{ti.dag_id}/{ti.run_id}/{ti.task_id}/{map_index}"


@dataclass(slots=True)
class _ActiveRun:
    """What on_kill needs: it takes no arguments and may run after execute() raised."""

    job: ResumableJob[Any]
    store: StateStore
    key: str
    ti: Any


class ResumableOperator(BaseOperator):
    """Run a ResumableJob through ``run_resumable``; a retry after a crash reattaches.

    - ``job``: the job, or a callable ``(context) -> job`` building it at run
      time (subclasses override :meth:`make_job` instead).
    - ``state_store``: where the record lives. Default: this task instance's
      Airflow task state store (Airflow >= 3.3), written with ``retention``
      (default ``NEVER_EXPIRE``: kept as long as the dag run). On older Airflow
      pass any StateStore, or a callable ``(context) -> store``.
    - ``state_key``: templated; default ``resumable_core.job`` in the task
      state store, ``airflow/<dag_id>/<run_id>/<task_id>/<map_index>`` elsewhere.
    - ``kill_policy``: what stopping the task does to the job (KillPolicy).
    - ``fresh``: ignore any recorded success and submit.
    - ``resume_policy`` / ``poll_policy``: the core's Policy and PollPolicy.

    ``execute()`` returns the job's result (pushed as the XCom return value)
    whether the job was submitted now, reattached to or its result reused.
    """

    template_fields: Sequence[str] = ("state_key",)

    def __init__(
        self,
        *,
        job: JobSource | None = None,
        state_store: StoreSource | None = None,
        state_key: str | None = None,
        retention: timedelta | None = NEVER_EXPIRE,
        kill_policy: KillPolicy = CANCEL_BY_CAUSE,
        fresh: bool = False,
        resume_policy: Policy = AIRFLOW_POLICY,
        poll_policy: PollPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.state_store = state_store
        self.state_key = state_key
        self.retention = retention
        self.kill_policy = kill_policy
        self.fresh = fresh
        self.resume_policy = resume_policy
        self.poll_policy = poll_policy or PollPolicy()
        self._active: _ActiveRun | None = None
        self._job_id: str | None = None
        self._sigterm_pending = False

    # -- what subclasses override -----------------------------------------------------

    def make_job(self, context: Context) -> ResumableJob[Any]:
        """The job to run; by default built from the ``job`` argument."""
        if self.job is None:
            raise TypeError(f"{type(self).__name__}: pass job=... or override make_job()")
        if isinstance(self.job, ResumableJob):
            return self.job
        return self.job(context)

    # -- execution ----------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        ti = context["ti"]
        store = self._store_for(context)
        key = self.state_key or (TASK_STATE_KEY if isinstance(store, AirflowStateStore) else default_state_key(ti))
        job = self.make_job(context)
        self._active = _ActiveRun(job=job, store=store, key=key, ti=ti)
        return run_resumable(
            job,
            store,
            key=key,
            fresh=self.fresh,
            generation=clear_generation(ti),
            policy=self.resume_policy,
            poll=self.poll_policy,
            listener=self._log_event,
            sleep=self._sleep,
        )

    def _store_for(self, context: Context) -> StateStore:
        if self.state_store is None:
            return AirflowStateStore.from_context(context, retention=self.retention)
        if isinstance(self.state_store, StateStore):
            return self.state_store
        return self.state_store(context)

    # -- stopping -------------------------------------------------------------------------

    def on_kill(self) -> None:
        """Cancel or keep the external job according to why the task is stopped.

        Runs either inside the SIGTERM handler (only a flag is set here; see
        _airflow_kill) or in the runner's ``except AirflowTaskTimeout`` block,
        where acting directly is safe.
        """
        if isinstance(sys.exc_info()[1], AirflowTaskTimeout):
            self._stop_job(KillCause.TIMEOUT)
            return
        self._sigterm_pending = True

    def _sleep(self, seconds: float) -> None:
        """The core's sleep between polls, in slices, acting on a pending SIGTERM."""
        deadline = time.monotonic() + seconds
        while True:
            if self._sigterm_pending:
                self._sigterm_pending = False
                self._act_on_sigterm()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, KILL_CHECK_INTERVAL))

    def _act_on_sigterm(self) -> None:
        active = self._active
        assert active is not None  # _sleep only runs inside run_resumable
        try:
            state = task_instance_state(active.ti)
        except Exception as exc:  # the server may be gone with the worker
            self.log.warning("SIGTERM: could not ask for the task instance's state (%s); "
                             "treating it as a worker shutdown", exc)
            state = None
        cause = cause_from_state(state)
        self.log.info("SIGTERM received; task instance state %r: %s", state, cause.value)
        cancelled = self._stop_job(cause)
        job_id = self._job_id
        if cancelled:
            message = f"task stopped ({cause.value}, task instance {state!r}): job {job_id} cancelled"
        elif cause is KillCause.WORKER_SHUTDOWN or cause.reruns:
            message = f"task stopped ({cause.value}): job {job_id} left running; the next try reattaches to it"
        else:
            message = f"task stopped ({cause.value}, task instance {state!r}): job {job_id} left running"
        raise TaskInterrupted(message, cause=cause, cancelled=cancelled, key=active.key, job_id=job_id)

    def _stop_job(self, cause: KillCause) -> bool:
        """Cancel the job when the policy says so for *cause*; True when it was cancelled."""
        active = self._active
        if active is None:
            return False
        if not self.kill_policy.cancels(cause):
            self.log.info("%s: leaving job %s running (kill_policy)", cause.value, self._job_id)
            return False
        try:
            # A short transient budget: after a user's mark-failed SIGKILL follows in 5 s.
            record = cancel_resumable(
                active.job,
                active.store,
                key=active.key,
                poll=PollPolicy(min_interval=0.2, max_interval=1.0, transient_attempts=3, transient_seconds=3.0),
                listener=self._log_event,
                rerun=cause.reruns,
            )
        except StoreError as exc:
            # The record could not be written (the task instance may no longer be
            # allowed to); the user still meant the job to stop.
            return self._cancel_unrecorded(cause, exc)
        except ResumableError as exc:
            self.log.error("%s: could not cancel the job: %s", cause.value, exc)
            return False
        cancelled = record is not None and bool(record.history) and record.history[-1].outcome is Outcome.CANCELLED
        if cancelled and cause.reruns:
            self.log.info("%s: job cancelled; a new try of this task submits afresh", cause.value)
        return cancelled

    def _cancel_unrecorded(self, cause: KillCause, error: StoreError) -> bool:
        active = self._active
        job_id = self._job_id
        if active is None or job_id is None or not isinstance(active.job, SupportsCancel):
            self.log.error("%s: could not cancel the job: %s", cause.value, error)
            return False
        try:
            active.job.cancel_job(job_id)
        except ResumableError as exc:
            self.log.error("%s: could not cancel job %s: %s", cause.value, job_id, exc)
            return False
        self.log.warning("%s: cancelled job %s, but the record could not be updated: %s", cause.value, job_id, error)
        return True

    # -- logs ---------------------------------------------------------------------------

    def _log_event(self, event: Event) -> None:
        """One line per core event, in the words users grep task logs for."""
        if isinstance(event, (Submitted, Reattached, StatusChanged)):
            self._job_id = event.job_id  # for on_kill, which must not depend on the store
        log = self.log
        if isinstance(event, Submitted):
            if event.resubmitted:
                log.info(
                    "resubmitted because %s: job %s (previous job %s, reference %s)",
                    event.reason.value, event.job_id, event.previous_job_id, event.reference,
                )
            else:
                log.info("submitted job %s (reference %s)", event.job_id, event.reference)
        elif isinstance(event, Reattached):
            log.info("reattached to job %s (status %s, found by %s)", event.job_id, event.status, event.via)
        elif isinstance(event, ResultReused):
            log.info("result reused from job %s (external system asked: %s)", event.job_id, event.asked_external)
        elif isinstance(event, StatusChanged):
            log.info("job %s: %s -> %s", event.job_id, event.previous, event.status)
        elif isinstance(event, Superseded):
            log.info("superseded job %s (%s), %s", event.job_id, event.reason.value,
                     "cancelled" if event.cancelled else "left running")
        elif isinstance(event, WaitingForOwner):
            log.info("waiting for another process submitting this task's job (owner %s)", event.owner)
        elif isinstance(event, Finished):
            log.info("job %s finished: %s", event.job_id, event.status)
        elif isinstance(event, Cancelled):
            log.info("cancelled job %s", event.job_id)
