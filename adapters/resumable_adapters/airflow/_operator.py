"""ResumableOperator: run any ResumableJob from an Airflow task, surviving worker crashes."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Any, NoReturn, Union

from resumable_core import (
    Event,
    InvalidArgument,
    OnSuperseded,
    Policy,
    PollPolicy,
    ResumableError,
    ResumableJob,
    StateStore,
    check_job,
    run_resumable,
)
from resumable_core.events import ProgressReported, Reattached, StatusChanged, Submitted
from resumable_core.redaction import redact

from ._compat import NEVER_EXPIRE, AirflowTaskTimeout, BaseOperator, Context
from ._kill import (
    CANCEL_BY_CAUSE,
    KillCause,
    KillPolicy,
    SigtermLatch,
    TaskInterrupted,
    sigterm_cause,
    stop_job,
)
from ._progress import PROGRESS_STATE_KEY, JobUiLink, ProgressReporter
from ._store import AirflowStateStore
from ._telemetry import AirflowTelemetry

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


def store_for(source: StoreSource | None, context: Context, retention: timedelta | None) -> StateStore:
    """The store a task's ``state_store`` argument names; None: its Airflow task state store."""
    if source is None:
        return AirflowStateStore.from_context(context, retention=retention)
    if isinstance(source, StateStore):
        return source
    return source(context)


def key_for(state_key: str | None, store: StateStore, ti: Any) -> str:
    """The record's key: *state_key*, else TASK_STATE_KEY in the task state store, else the task instance's."""
    return state_key or (TASK_STATE_KEY if isinstance(store, AirflowStateStore) else default_state_key(ti))


class _MaskSecrets(logging.Filter):
    """Masks exact secret values in every record of the logger it filters (``_core_log_masked``)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


@dataclass(slots=True)
class ActiveRun:
    """What on_kill needs: it takes no arguments and may run after execute() raised."""

    job: ResumableJob[Any]
    store: StateStore
    key: str
    ti: Any


def _team_name(ti: Any) -> str | None:
    """The team tag Airflow puts on a task's own metrics (multi-team deployments), if any."""
    tags = getattr(ti, "stats_tags", None)
    return tags.get("team_name") if isinstance(tags, dict) else None


class _DeferredPolling:
    """A job whose polling is handed to the triggerer: every other operation, and exactly
    the optional capabilities the job has, pass through (runtime protocols see the same)."""

    def __init__(self, job: ResumableJob[Any], defer: Callable[[str], NoReturn]) -> None:
        self._job = job
        self._defer = defer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def poll_until_complete(self, job_id: str, poller: Any) -> str:
        self._defer(job_id)  # raises TaskDeferred (a BaseException: nothing in the core catches it)


def _deprecated_name(old: str, new: str, old_value: Any, new_value: Any, owner: str) -> Any:
    """The value of a renamed argument: the new name, or the old one with a DeprecationWarning."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise InvalidArgument(f"{owner}: pass {new}= only ({old}= is its old name, deprecated)")
    warn_deprecated(f"{owner}: {old}= is deprecated and will be removed in the next release; pass {new}= "
                    "(the name run_resumable uses)")
    return old_value


def warn_deprecated(message: str) -> None:
    """A DeprecationWarning attributed to the DAG file that passed a deprecated argument.

    Airflow's operator wrappers make the number of frames in between vary, so
    stacklevel cannot say it.
    """
    caller = _first_frame_outside(_INTERNAL_DIRS)
    warnings.warn_explicit(
        message,
        DeprecationWarning,
        caller.f_code.co_filename,
        caller.f_lineno,
        module=caller.f_globals.get("__name__"),
        registry=caller.f_globals.setdefault("__warningregistry__", {}),
    )


# Frames a warning should not point at: this package (subclasses' __init__ included) and
# Airflow's operator wrappers; the DAG file that passed the old name comes after them.
_INTERNAL_DIRS = (os.path.dirname(__file__), os.path.dirname(sys.modules[BaseOperator.__module__].__file__ or "/-"))


def _first_frame_outside(directories: tuple[str, ...]) -> FrameType:
    """The innermost caller whose file is outside *directories*."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(directories):
        frame = frame.f_back
    return frame


class ResumableOperator(BaseOperator):
    """Run a ResumableJob through ``run_resumable``; a retry after a crash reattaches.

    - ``job``: the job, or a callable ``(context) -> job`` building it at run
      time (subclasses override :meth:`make_job` instead). A job object is
      checked here: one missing a required operation is refused when the DAG
      is parsed, with InvalidArgument naming it.
    - ``state_store``: where the record lives. Default: this task instance's
      Airflow task state store (Airflow >= 3.3), written with ``retention``
      (default ``NEVER_EXPIRE``: kept as long as the dag run). On older Airflow
      pass any StateStore, or a callable ``(context) -> store``.
    - ``state_key``: templated; default ``resumable_core.job`` in the task
      state store, ``airflow/<dag_id>/<run_id>/<task_id>/<map_index>`` elsewhere.
    - ``kill_policy``: what stopping the task does to the job (KillPolicy).
    - ``fresh``: ignore any recorded success and submit.
    - ``policy`` / ``poll``: the core's Policy and PollPolicy, named as
      ``run_resumable`` names them (``resume_policy`` / ``poll_policy`` still
      work for one release, with a DeprecationWarning).

    ``execute()`` returns the job's result (pushed as the XCom return value)
    whether the job was submitted now, reattached to or its result reused.
    """

    template_fields: Sequence[str] = ("state_key",)
    # "Job UI": the job's own UI, once the job reports it (docs/progress.md).
    operator_extra_links = (JobUiLink(),)

    def __init__(
        self,
        *,
        job: JobSource | None = None,
        state_store: StoreSource | None = None,
        state_key: str | None = None,
        retention: timedelta | None = NEVER_EXPIRE,
        kill_policy: KillPolicy = CANCEL_BY_CAUSE,
        fresh: bool = False,
        policy: Policy | None = None,
        poll: PollPolicy | None = None,
        resume_policy: Policy | None = None,
        poll_policy: PollPolicy | None = None,
        deferrable: bool = False,
        trigger_job: tuple[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.deferrable = deferrable
        self.trigger_job = trigger_job
        if deferrable and trigger_job is None and type(self).trigger_job_spec is ResumableOperator.trigger_job_spec:
            raise InvalidArgument(
                f"{owner}: deferrable=True needs trigger_job=('module:factory', {{...}}): how the triggerer "
                "builds a job that can ask the status (JSON arguments only; the job id comes from the record)"
            )
        if job is not None and not _is_job_factory(job):
            # Refused when the DAG is parsed, by the rule run_resumable applies before it reads or submits.
            check_job(job)
        self.job = job
        self.state_store = state_store
        self.state_key = state_key
        self.retention = retention
        self.kill_policy = kill_policy
        self.fresh = fresh
        self.policy: Policy = _deprecated_name("resume_policy", "policy", resume_policy, policy, owner) or AIRFLOW_POLICY
        self.poll: PollPolicy = _deprecated_name("poll_policy", "poll", poll_policy, poll, owner) or PollPolicy()
        self._active: ActiveRun | None = None
        # The job this try runs, kept in memory for on_kill: the store may no longer
        # answer for this try (a clear while running gives the task instance a new id).
        self._job_id: str | None = None
        self._reference: str | None = None
        self._sigterm = SigtermLatch()
        self._progress: ProgressReporter | None = None
        self.job_ui_url: str | None = None  # what JobUiLink shows

    # -- what subclasses override -----------------------------------------------------

    def make_job(self, context: Context) -> ResumableJob[Any]:
        """The job to run; by default built from the ``job`` argument."""
        if self.job is None:
            raise InvalidArgument(f"{type(self).__name__}: pass job=... or override make_job()")
        if _is_job_factory(self.job):
            return self.job(context)  # type: ignore[operator]  # _is_job_factory: a callable
        return self.job  # type: ignore[return-value]  # checked at construction, and again by run_resumable

    def trigger_job_spec(self, context: Context) -> tuple[str, dict[str, Any]]:
        """How the triggerer builds a job that asks the status: ("module:factory", JSON kwargs)."""
        if self.trigger_job is None:
            raise InvalidArgument(f"{type(self).__name__}: deferrable=True needs trigger_job=")
        return self.trigger_job

    def known_secrets(self) -> tuple[str, ...]:
        """Exact secret values this task holds (a connection's password), masked in its texts."""
        return ()

    # -- execution ----------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        return self._run(context, polled=None)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Back from the trigger: decide and record from what it saw, as if this try had polled.

        A status the trigger saw end is the end of this try's polling (a failure raises
        JobFailed, as without deferral). No status (the system did not know the job, or
        its transient budget ran out) runs the usual rules: the run asks again.
        """
        status, job_id = event.get("status"), event.get("job_id")
        if event.get("transient"):
            self.log.warning("the trigger could not ask the status of job %s: %s; asking again", job_id,
                             self._safe(str(event["transient"])))
        polled = (str(job_id), str(status)) if status is not None and job_id is not None else None
        return self._run(context, polled=polled)

    def _run(self, context: Context, *, polled: tuple[str, str] | None) -> Any:
        ti = context["ti"]
        store = store_for(self.state_store, context, self.retention)
        key = key_for(self.state_key, store, ti)
        self._job_id = self._reference = None
        job = self.make_job(context)
        self._active = ActiveRun(job=job, store=store, key=key, ti=ti)
        # Progress goes beside the record in the task state store, under its own key (the panel shows it).
        self._progress = ProgressReporter(store, ti, state_key=PROGRESS_STATE_KEY
                                          if isinstance(store, AirflowStateStore) and key != PROGRESS_STATE_KEY
                                          else None)
        if self.deferrable:
            # Polling becomes a deferral: the record names the job, the trigger follows it.
            job = _DeferredPolling(job, lambda job_id: self._defer_to_trigger(context, key, job_id))
        try:
            with self._core_log_masked():
                return run_resumable(
                    job,
                    store,
                    key=key,
                    fresh=self.fresh,
                    generation=clear_generation(ti),
                    policy=self.policy,
                    poll=self.poll,
                    listener=self._on_event,
                    sleep=self._sleep,
                    polled=polled,
                    telemetry=AirflowTelemetry(type(self).__name__, team_name=_team_name(ti)),
                )
        except ResumableError as exc:
            self._scrub(exc)
            raise

    def _defer_to_trigger(self, context: Context, key: str, job_id: str) -> NoReturn:
        from ._trigger import ResumableJobTrigger  # the triggerer's classes: only a deferring task needs them

        factory, kwargs = self.trigger_job_spec(context)
        poll = {f.name: getattr(self.poll, f.name) for f in dataclasses.fields(self.poll)}
        self.log.info("deferring: the triggerer follows job %s until it ends", job_id)
        self.defer(trigger=ResumableJobTrigger(job_factory=factory, job_kwargs=kwargs, job_id=job_id, key=key,
                                               poll=poll), method_name="execute_complete")
        raise AssertionError("defer() returns only by raising TaskDeferred")  # pragma: no cover

    # -- stopping -------------------------------------------------------------------------

    def on_kill(self) -> None:
        """Cancel or keep the external job according to why the task is stopped.

        Runs either inside the SIGTERM handler (only a flag is set here; see
        _kill) or in the runner's ``except AirflowTaskTimeout`` block,
        where acting directly is safe.
        """
        if isinstance(sys.exc_info()[1], AirflowTaskTimeout):
            self._stop_job(KillCause.TIMEOUT)
            return
        self._sigterm.pending = True

    def _sleep(self, seconds: float) -> None:
        """The core's sleep between polls, in slices, acting on a pending SIGTERM."""
        self._sigterm.sleep(seconds, self._act_on_sigterm)

    def _act_on_sigterm(self) -> None:
        active = self._active
        assert active is not None  # _sleep only runs inside run_resumable
        state, cause = sigterm_cause(active.ti, self.log, self._safe)
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
        with self._core_log_masked():
            return stop_job(active.job, active.store, active.key, cause, job_id=self._job_id,
                            reference=self._reference, listener=self._on_event, log=self.log, safe=self._safe)

    # -- texts ----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        # No log line here: the core logs every event itself, in its words (logger
        # "resumable_core", which Airflow writes to the task log); a second line said it twice.
        if isinstance(event, (Submitted, Reattached, StatusChanged)):
            # For on_kill, which must not depend on the store.
            self._job_id, self._reference = event.job_id, event.reference
        if isinstance(event, Reattached) and self._progress is not None and self._active is not None:
            self._progress.reattached(self._active.key)
            self.job_ui_url = self._progress.ui_url
        elif isinstance(event, ProgressReported) and self._progress is not None:
            self._progress.reported(event, time.time())
            self.job_ui_url = self._progress.ui_url

    @contextlib.contextmanager
    def _core_log_masked(self) -> Iterator[None]:
        """The core's log lines in this task, with the exact secrets it holds masked too.

        The core redacts what looks like a credential; a connection's password echoed by a
        server looks like anything, and only this task knows it.
        """
        secrets = self.known_secrets()
        if not secrets:
            yield
            return
        core_log = logging.getLogger("resumable_core")
        mask = _MaskSecrets(secrets)
        core_log.addFilter(mask)
        try:
            yield
        finally:
            core_log.removeFilter(mask)

    def _safe(self, text: str) -> str:
        """*text* without a credential: the core's redaction, plus the exact secrets this task holds."""
        return redact(text, self.known_secrets())

    def _scrub(self, error: ResumableError) -> None:
        # Core errors are redacted by pattern; a secret only this task knows (a
        # connection password echoed by a server) is masked here, in place, so the
        # error keeps its type, fields and traceback for Airflow.
        known = self.known_secrets()
        if any(secret and secret in error.message for secret in known):
            error.message = redact(error.message, known)
            error.args = (error.message, *error.args[1:])


def _is_job_factory(job: object) -> bool:
    """A ``(context) -> job`` callable rather than a job: a function, or a class to instantiate.

    A job object is told apart by having any of the job's operations, so that one
    missing some of them is refused (naming them) rather than called with a context.
    """
    if isinstance(job, type):
        return True
    return callable(job) and not any(callable(getattr(job, name, None)) for name in _JOB_MARKERS)


# Any one of them marks an object as meant to be a job (the core checks for all of them).
_JOB_MARKERS = ("submit_job", "get_job_status", "get_job_result")
