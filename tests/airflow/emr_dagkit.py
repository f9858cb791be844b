"""What the EMR test DAG files use: the resumable EMR operators with crash triggers.

Imported by DAG files inside the Airflow process. A trigger is a file
``<triggers>/<task_id>/<name>``: a test creates it, the task consumes it at the chosen
point (``crash-after-submit``: EMR has the step or run, the record has no id yet;
``crash-while-polling``: the id is recorded), so each process dies exactly once.
"""

from __future__ import annotations

import os
from typing import Any

from resumable_adapters.airflow import (
    ResumableEmrAddStepsOperator,
    ResumableEmrContainerOperator,
    ResumableEmrServerlessStartJobOperator,
)
from resumable_core import PollPolicy, ResumableJob
from tests.airflow.filejob import CRASH_EXIT_CODE

FAST = PollPolicy(min_interval=0.05, max_interval=0.2)


def take(triggers: str, name: str) -> bool:
    """Consume the trigger *name*: True once after a test armed it."""
    try:
        os.unlink(os.path.join(triggers, name))
    except FileNotFoundError:
        return False
    return True


def with_crash_points(job: ResumableJob[Any], triggers: str) -> ResumableJob[Any]:
    real_submit, real_status = job.submit_job, job.get_job_status

    def submit_job(reference: str) -> str:
        job_id = real_submit(reference)
        if take(triggers, "crash-after-submit"):
            os._exit(CRASH_EXIT_CODE)
        return job_id

    def get_job_status(job_id: str) -> str:
        if take(triggers, "crash-while-polling"):
            os._exit(CRASH_EXIT_CODE)
        return real_status(job_id)

    job.submit_job = submit_job  # type: ignore[method-assign]  # the test's crash points
    job.get_job_status = get_job_status  # type: ignore[method-assign]  # same
    return job


# Three small classes, not a mixin: Airflow's operator metaclass wraps each operator class's own
# __init__, and one inherited from a plain mixin fails its check (no __wrapped__).


class TriggeredEmrAddSteps(ResumableEmrAddStepsOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_crash_points(super().make_job(context), self.triggers)


class TriggeredEmrServerless(ResumableEmrServerlessStartJobOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_crash_points(super().make_job(context), self.triggers)


class TriggeredEmrContainer(ResumableEmrContainerOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_crash_points(super().make_job(context), self.triggers)
