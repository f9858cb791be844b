"""ResumableFlinkOperator for the scenarios in real Airflow: crash and SIGTERM triggers, status asks logged.

Imported by the DAG file of test_flink_in_airflow.py inside the Airflow process. A trigger
is a file ``<jobs>/<task_id>/triggers/<name>`` (tests/airflow/filejob.py's FileJobSystem),
fired once at the next status query, after the job id is recorded: ``crash`` SIGKILLs the
task's process, ``sigterm`` sends it SIGTERM while its task instance still runs (a worker
shutdown), ``hook`` calls the operator's *hook* (a user's action, tests/airflow/dagkit.py).
Every answered status query is logged with the try that made it, so the test
ends the held Flink job only once the try it waits for has seen it running.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from resumable_adapters.airflow import ResumableFlinkOperator
from resumable_core import PollPolicy, ResumableJob
from tests.airflow.filejob import FileJobSystem

POLL = PollPolicy(min_interval=0.3, max_interval=1.0, jitter=0.0)
ASKED_LOG = "asked"


class ObservedFlinkJob:
    """A FlinkJob with the triggers fired at its status queries; everything else passes through
    (its resumption, fingerprint and progress included: the core sees the job's own capabilities)."""

    def __init__(self, inner: ResumableJob[Any], system: FileJobSystem, try_number: int,
                 hook: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.system = system
        self.try_number = try_number
        self.hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_job_status(self, job_id: str) -> str:
        if self.system.take("crash"):
            os.kill(os.getpid(), signal.SIGKILL)  # no handler, no finally, no Airflow bookkeeping
        if self.system.take("sigterm"):
            os.kill(os.getpid(), signal.SIGTERM)
        if self.system.take("hook") and self.hook is not None:
            self.hook()
        status = self.inner.get_job_status(job_id)
        self.system.append(ASKED_LOG, {"try": self.try_number, "job_id": job_id, "status": status,
                                       "pid": os.getpid()})
        return status

    def cancel_job(self, job_id: str) -> None:
        self.inner.cancel_job(job_id)  # type: ignore[attr-defined]  # FlinkJob can cancel
        self.system.append("cancels", {"job_id": job_id, "pid": os.getpid()})


class TriggeredFlinkOperator(ResumableFlinkOperator):
    """ResumableFlinkOperator with the test triggers around its FlinkJob."""

    def __init__(self, *, jobs: str, hook: Callable[[], None] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("poll", POLL)
        super().__init__(**kwargs)
        self.system = FileJobSystem(os.path.join(jobs, self.task_id))
        self.hook = hook

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return ObservedFlinkJob(super().make_job(context), self.system, int(context["ti"].try_number), self.hook)
