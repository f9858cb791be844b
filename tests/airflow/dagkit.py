"""What the test DAG files use: tasks wired to the file-backed fake and the interruption triggers.

Imported by DAG files inside the Airflow process (PYTHONPATH is the repo root).
"""

from __future__ import annotations

import enum
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from resumable_adapters.airflow import ResumableOperator, ResumableSparkSubmitOperator
from resumable_core import Event, PollPolicy, ResumableJob
from resumable_core.events import Reattached
from tests.airflow.filejob import CRASH_EXIT_CODE, FileJob, FileJobSystem, TriggeredJob

# Polls fast: the jobs here change state on every status query, not with time.
FAST_POLL = PollPolicy(min_interval=0.05, max_interval=0.2)
SPARK_POLL = PollPolicy(min_interval=0.5, max_interval=1.0)


def take(triggers: str, name: str) -> bool:
    """Consume the trigger *name* under the directory *triggers*: True once after a test armed it."""
    try:
        os.unlink(os.path.join(triggers, name))
    except FileNotFoundError:
        return False
    return True


class Death(enum.Enum):
    """How a task process dies at a trigger; the value names its triggers (``<value>-after-submit``).

    CRASH exits at once with CRASH_EXIT_CODE (what the harness's assertions recognise); KILL is
    the SIGKILL of a worker machine that dies: nothing of the process runs after it.
    """

    CRASH = "crash"
    KILL = "kill"

    def die(self) -> NoReturn:
        if self is Death.CRASH:
            os._exit(CRASH_EXIT_CODE)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable: SIGKILL cannot be caught")


def with_death_points(job: ResumableJob[Any], triggers: str, *, die: Death) -> ResumableJob[Any]:
    """*job*, dying as *die* says where a test armed it under *triggers*.

    ``<die>-after-submit``: the system has the job, the record has no id yet;
    ``<die>-while-polling``: at a status query, the id recorded. Each trigger fires once.
    """
    real_submit, real_status = job.submit_job, job.get_job_status

    def submit_job(reference: str) -> str:
        job_id = real_submit(reference)
        if take(triggers, f"{die.value}-after-submit"):
            die.die()
        return job_id

    def get_job_status(job_id: str) -> str:
        if take(triggers, f"{die.value}-while-polling"):
            die.die()
        return real_status(job_id)

    job.submit_job = submit_job  # type: ignore[method-assign]  # the test's death points
    job.get_job_status = get_job_status  # type: ignore[method-assign]  # same
    return job


def time_out_now(after: float = 0.2) -> Callable[[], None]:
    """The task's execution_timeout falling due *after* seconds from now (called at a status query).

    Airflow's timeout is a SIGALRM timer (``TimeoutPosix``: ``setitimer`` around ``execute``)
    whose handler raises AirflowTaskTimeout. A task given a long execution_timeout and this hook
    times out through that same handler, but only once its job is submitted and asked: a short
    execution_timeout instead races the submission (a spark-submit process, a pod create) on a
    busy machine, and the test would see a timeout in the submit window, not while polling.
    """

    def hook() -> None:
        signal.setitimer(signal.ITIMER_REAL, after)

    return hook


def set_state_then_sigterm(dag_id: str, state: str) -> Callable[[], None]:
    """What a user's action does to a running task: the row changes, then SIGTERM arrives.

    Mark-failed (state "failed") and clear (state "restarting") change the task
    instance row through the API; the supervisor's next heartbeat is refused and
    it sends SIGTERM to the task. dag.test() has no heartbeat, so this does both.
    """

    def hook() -> None:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            ti = session.scalars(
                select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.state == "running")
            ).one()
            ti.set_state(state, session=session)
        os.kill(os.getpid(), signal.SIGTERM)

    return hook


def clear_then_sigterm(dag_id: str) -> Callable[[], None]:
    """What a user's Clear of a running task does: the clear itself, then SIGTERM.

    The clear is the code behind ``airflow tasks clear`` and the UI's Clear
    (``SerializedDAG.clear`` -> ``clear_task_instances``): in Airflow 3.3 it gives
    a running task instance a new id and the state ``restarting``. The
    supervisor's next heartbeat is then refused and it sends SIGTERM; dag.test()
    has no heartbeat, so this sends it.
    """

    def hook() -> None:
        from airflow.models.dagbag import DBDagBag
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            ti = session.scalars(
                select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.state == "running")
            ).one()
            dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
            assert dag is not None
            dag.clear(run_id=ti.run_id, task_ids=[ti.task_id], session=session)
        os.kill(os.getpid(), signal.SIGTERM)

    return hook


class FakeJobOperator(ResumableOperator):
    """ResumableOperator on the file-backed fake, its jobs under ``<jobs>/<task_id>``, with the triggers.

    Besides the job's triggers, "crash-after-success" kills the process right
    after the job's success was recorded, before Airflow hears of it.
    """

    def __init__(
        self,
        *,
        jobs: str,
        running_polls: int = 2,
        value: Any = "done",
        hook: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poll", FAST_POLL)
        super().__init__(**kwargs)
        self.system = FileJobSystem(os.path.join(jobs, self.task_id))
        self.running_polls = running_polls
        self.value = value
        self.hook = hook

    def make_job(self, context: Any) -> ResumableJob[Any]:
        inner = FileJob(self.system.root, value=self.value, running_polls=self.running_polls)
        return TriggeredJob(inner, self.system, self.hook)

    def execute(self, context: Any) -> Any:
        result = super().execute(context)
        if self.system.take("crash-after-success"):
            os._exit(CRASH_EXIT_CODE)
        return result


class TriggeredSparkSubmitOperator(ResumableSparkSubmitOperator):
    """The Spark operator with the test triggers around its job."""

    def __init__(self, *, jobs: str, release: str | None = None, hook: Callable[[], None] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("poll", SPARK_POLL)
        super().__init__(**kwargs)
        self.system = FileJobSystem(os.path.join(jobs, self.task_id))
        self.trigger_hook = hook  # called at a status query once armed ("hook")
        # A driver held until this file exists (SleepExit's path argument) is released once a try
        # reattached to it: the retry finds it running however slowly a new process starts.
        self.release = release

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return TriggeredJob(super().make_job(context), self.system, self.trigger_hook)

    def _on_event(self, event: Event) -> None:
        super()._on_event(event)
        if isinstance(event, Reattached) and self.release is not None:
            Path(self.release).touch()


class DyingOperator(ResumableOperator):
    """Put first among the bases of a resumable operator: its job dies at the test's triggers.

    ``class TriggeredX(DyingOperator, ResumableXOperator)``; ``death`` says how. An operator class,
    not a plain mixin: Airflow's operator metaclass wraps each operator class's own __init__, and
    one inherited from a plain mixin fails its check (no __wrapped__); this one is wrapped here,
    and the classes built on it inherit it as it is.
    """

    death: ClassVar[Death] = Death.CRASH

    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST_POLL)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_death_points(super().make_job(context), self.triggers, die=self.death)
