"""The bridge: run any operator built on Airflow's ResumableJobMixin through ``run_resumable``.

``resumable(GlueJobOperator)`` is a subclass of the stock operator, taking the
same arguments, whose ``execute`` drives the mixin's six hooks (``submit_job``,
``get_job_status``, ``is_job_active``, ``is_job_succeeded``,
``get_job_result``; ``poll_until_complete`` is replaced by the core's poller)
through the core instead of the mixin's ``execute_resumable``. A subclass
rather than a wrapper operator: the DAG keeps the operator's arguments,
templating, links and ``on_kill``, and only the class name changes.

The hooks become a ResumableJob in ``_hook_job``; external ids (JSON in the
mixin) are kept as canonical JSON text there.
"""

from __future__ import annotations

import functools
import sys
from datetime import timedelta
from typing import Any, TypeVar, cast

from resumable_core import (
    Event,
    InvalidArgument,
    Policy,
    PollPolicy,
    ResumableError,
    StateStore,
    run_resumable,
)
from resumable_core.events import Reattached, StatusChanged, Submitted

from ._compat import NEVER_EXPIRE, AirflowTaskTimeout, BaseOperator, Context
from ._hook_job import MIXIN_HOOKS, _Cancellable, adopt_stock_record, decode_external_id, hook_job
from ._kill import CANCEL_BY_CAUSE, KillCause, KillPolicy, SigtermLatch, TaskInterrupted, sigterm_cause, stop_job
from ._operator import AIRFLOW_POLICY, ActiveRun, StoreSource, clear_generation, key_for, store_for
from ._references import reference_hooks_for
from ._store import AirflowStateStore

OperatorT = TypeVar("OperatorT", bound=type)


# -- the operator side --------------------------------------------------------------------------


class ResumableJobBridge(BaseOperator):
    """Put first in the bases of a mixin operator: ``class G(ResumableJobBridge, GlueJobOperator)``.

    ``resumable(GlueJobOperator)`` builds exactly that. Arguments besides the
    operator's own (keyword-only, all optional):

    - ``state_store``: default this task instance's Airflow task state store,
      written with ``retention`` (default ``NEVER_EXPIRE``); or any StateStore
      (a ``SqliteStateStore`` or ``PostgresStateStore`` gives compare-and-set),
      or ``(context) -> store``.
    - ``state_key``: templated; default ``resumable_core.job`` in the task state
      store, ``airflow/<dag_id>/<run_id>/<task_id>/<map_index>`` elsewhere.
    - ``kill_policy``: what stopping the task does to the job (cancel through
      the operator's own ``on_kill``, or leave it for the retry).
    - ``fresh``: ignore a recorded success. ``policy`` / ``poll``: the core's.
    - ``durable=False`` (the mixin's own switch) runs the stock operator unchanged.
    """

    def __init__(
        self,
        *,
        state_store: StoreSource | None = None,
        state_key: str | None = None,
        retention: timedelta | None = NEVER_EXPIRE,
        kill_policy: KillPolicy = CANCEL_BY_CAUSE,
        fresh: bool = False,
        policy: Policy = AIRFLOW_POLICY,
        poll: PollPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Prefixed names: the operator's own attributes (poll_interval, retry_limit...) stay untouched.
        self.resumable_state_store = state_store
        self.resumable_state_key = state_key
        self.resumable_retention = retention
        self.resumable_kill_policy = kill_policy
        self.resumable_fresh = fresh
        self.resumable_policy = policy
        self.resumable_poll = poll or PollPolicy()
        if getattr(self, "wait_for_completion", True) is False:
            raise InvalidArgument(
                f"{type(self).__name__}(task_id={self.task_id!r}): wait_for_completion=False leaves nothing to "
                "resume (the task ends as soon as the job is submitted); use the stock operator for that"
            )
        self._resumable_active: ActiveRun | None = None
        self._resumable_job_id: str | None = None
        self._resumable_sigterm = SigtermLatch()

    # -- execution ---------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if getattr(self, "durable", True) is False:
            return super().execute(context)
        if getattr(self, "deferrable", False):
            self.log.warning("deferrable=True ignored: the resumable bridge waits in the worker, "
                             "where it can reattach after a crash")
        ti = context["ti"]
        store = store_for(self.resumable_state_store, context, self.resumable_retention)
        key = key_for(self.resumable_state_key, store, ti)
        hooks = reference_hooks_for(type(self))
        job = hook_job(self, context, key=key, hooks=hooks, stock_on_kill=super().on_kill)
        generation = clear_generation(ti)
        self._adopt_stock_id(context, store, key, generation)
        if not hooks.carries_reference:
            self.log.debug("%s has no reference hooks: a crash between submit and record follows "
                           "policy.on_ambiguous", type(self).__name__)
        # Kept after run_resumable returns or raises: a timeout's on_kill() runs in the
        # task runner's except block, after execute() was left with AirflowTaskTimeout.
        self._resumable_active = ActiveRun(job=job, store=store, key=key, ti=ti)
        return run_resumable(
            job,
            store,
            key=key,
            fresh=self.resumable_fresh,
            generation=generation,
            policy=self.resumable_policy,
            poll=self.resumable_poll,
            listener=self._resumable_log,
            sleep=self._resumable_sleep,
        )

    def _adopt_stock_id(self, context: Context, store: StateStore, key: str, generation: str) -> None:
        """A DAG switched from the stock operator mid-run: take over the id its mixin stored."""
        accessor = context.get("task_state_store")
        stock_key = getattr(self, "external_id_key", None)
        if accessor is None or not stock_key:
            return
        try:
            stock_id = accessor.get(stock_key)
        except Exception as exc:  # the stock key is a hint; the core's own record is what matters
            self.log.warning("could not read the stock mixin's %r: %s", stock_key, exc)
            return
        if not stock_id:  # the mixin treats a falsy id as none; so do we
            return
        record = adopt_stock_record(store, key, stock_id, generation=generation)
        if record is not None:
            self.log.info("adopted job %s that the stock mixin stored under %r", record.job_id, stock_key)

    def _mirror_stock_id(self, job_id: str) -> None:
        """Keep the stock mixin's key current, so a DAG switched back to the stock operator reattaches too."""
        active = self._resumable_active
        stock_key = getattr(self, "external_id_key", None)
        if active is None or not stock_key or not isinstance(active.store, AirflowStateStore):
            return
        try:
            active.store.set(stock_key, decode_external_id(job_id))
        except ResumableError as exc:
            self.log.warning("could not mirror job %s under the stock key %r: %s", job_id, stock_key, exc)

    # -- stopping ------------------------------------------------------------------------

    def on_kill(self) -> None:
        """Cancel or keep the job by cause; the cancel itself is the stock ``on_kill``.

        Inside the SIGTERM handler only a flag is set (asking the server for the
        task's state there can deadlock); the wait between polls acts on it. A
        timeout arrives outside any handler and is acted on at once.
        """
        if self._resumable_active is None:
            super().on_kill()  # not running through the bridge (durable=False): the stock behaviour
            return
        if isinstance(sys.exc_info()[1], AirflowTaskTimeout):
            self._resumable_stop(KillCause.TIMEOUT)
            return
        self._resumable_sigterm.pending = True

    def _resumable_sleep(self, seconds: float) -> None:
        self._resumable_sigterm.sleep(seconds, self._resumable_on_sigterm)

    def _resumable_on_sigterm(self) -> None:
        active = self._resumable_active
        assert active is not None  # the sleep only runs inside run_resumable
        _, cause = sigterm_cause(active.ti, self.log)
        cancelled = self._resumable_stop(cause)
        job_id = self._resumable_job_id
        outcome = "cancelled" if cancelled else "left running" + (
            "; the next try reattaches to it" if cause is KillCause.WORKER_SHUTDOWN else "")
        raise TaskInterrupted(f"task stopped ({cause.value}): job {job_id} {outcome}",
                              cause=cause, cancelled=cancelled, key=active.key, job_id=job_id)

    def _resumable_stop(self, cause: KillCause) -> bool:
        """Cancel the job when the kill policy and the operator's own switch both say so."""
        active = self._resumable_active
        if active is None:
            return False
        if not self.resumable_kill_policy.cancels(cause):
            self.log.info("%s: leaving job %s running (kill_policy)", cause.value, self._resumable_job_id)
            return False
        if not isinstance(active.job, _Cancellable):
            self.log.info("%s: leaving job %s running: %s's own on_kill does not cancel (its switch is off)",
                          cause.value, self._resumable_job_id, type(self).__name__)
            return False
        return stop_job(active.job, active.store, active.key, cause, job_id=self._resumable_job_id, reference=None,
                        listener=self._resumable_log, log=self.log)

    # -- logs ----------------------------------------------------------------------------

    def _resumable_log(self, event: Event) -> None:
        if isinstance(event, (Submitted, Reattached, StatusChanged)):
            self._resumable_job_id = event.job_id  # for on_kill, which must not depend on the store
        if isinstance(event, Submitted):
            self._mirror_stock_id(event.job_id)
        # No log line here: the core logs every event itself (logger "resumable_core"),
        # which the task log shows; a second line per event would only repeat it.


@functools.cache
def resumable(operator_class: OperatorT) -> OperatorT:
    """``resumable(GlueJobOperator)``: the operator, run through the core; same arguments, same XCom.

    The class is built once per operator class (``resumable(X) is resumable(X)``).
    """
    missing = [name for name in MIXIN_HOOKS if not callable(getattr(operator_class, name, None))]
    if missing:
        raise InvalidArgument(
            f"{operator_class.__name__} does not implement the ResumableJobMixin hooks {', '.join(missing)}"
        )
    if not issubclass(operator_class, BaseOperator):
        raise InvalidArgument(f"{operator_class.__name__} is not an Airflow operator")
    name = f"Resumable{operator_class.__name__}"
    namespace = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"{operator_class.__name__} run through resumable_core (resumable_adapters.airflow.resumable).",
        "template_fields": (*operator_class.template_fields, "resumable_state_key"),
    }
    return cast(OperatorT, type(name, (ResumableJobBridge, operator_class), namespace))


__all__ = ["ResumableJobBridge", "resumable"]
