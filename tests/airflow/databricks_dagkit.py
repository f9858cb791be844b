"""What the Databricks test DAG file uses: the resumable Databricks operators with SIGKILL points.

Imported by the DAG file inside the Airflow process. A trigger is a file
``<triggers>/<task_id>/<name>`` (tests/airflow/emr_dagkit.py's ``take``): a test creates
it, the task consumes it at its point and the process SIGKILLs itself there, as a worker
machine that dies does (``kill-after-submit``: Databricks made the run, the record has no
run id yet; ``kill-while-polling``: the run id is recorded), so each process dies once.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from resumable_adapters.airflow import ResumableDatabricksRunNowOperator, ResumableDatabricksSubmitRunOperator
from resumable_core import ResumableJob
from tests.airflow.emr_dagkit import FAST, take


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: SIGKILL cannot be caught")


def with_kill_points(job: ResumableJob[Any], triggers: str) -> ResumableJob[Any]:
    real_submit, real_status = job.submit_job, job.get_job_status

    def submit_job(reference: str) -> str:
        job_id = real_submit(reference)
        if take(triggers, "kill-after-submit"):
            _die()
        return job_id

    def get_job_status(job_id: str) -> str:
        if take(triggers, "kill-while-polling"):
            _die()
        return real_status(job_id)

    job.submit_job = submit_job  # type: ignore[method-assign]  # the test's kill points
    job.get_job_status = get_job_status  # type: ignore[method-assign]  # same
    return job


# Two small classes, not a mixin: Airflow's operator metaclass wraps each operator class's own
# __init__, and one inherited from a plain mixin fails its check (no __wrapped__).


class KilledDatabricksSubmitRun(ResumableDatabricksSubmitRunOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_kill_points(super().make_job(context), self.triggers)


class KilledDatabricksRunNow(ResumableDatabricksRunNowOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_kill_points(super().make_job(context), self.triggers)
