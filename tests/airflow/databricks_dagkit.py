"""What the Databricks test DAG file uses: the resumable Databricks operators with SIGKILL points.

Imported by the DAG file inside the Airflow process. A trigger is a file
``<triggers>/<task_id>/<name>`` (tests/airflow/dagkit.py: ``with_death_points``): a test creates
it, the task consumes it at its point and the process SIGKILLs itself there, as a worker
machine that dies does (``kill-after-submit``: Databricks made the run, the record has no
run id yet; ``kill-while-polling``: the run id is recorded), so each process dies once.
"""

from __future__ import annotations

from typing import Any

from resumable_adapters.airflow import ResumableDatabricksRunNowOperator, ResumableDatabricksSubmitRunOperator
from resumable_core import ResumableJob
from tests.airflow.dagkit import FAST_POLL, Death, with_death_points

# Two small classes, not a mixin: Airflow's operator metaclass wraps each operator class's own
# __init__, and one inherited from a plain mixin fails its check (no __wrapped__).


class KilledDatabricksSubmitRun(ResumableDatabricksSubmitRunOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST_POLL)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_death_points(super().make_job(context), self.triggers, die=Death.KILL)


class KilledDatabricksRunNow(ResumableDatabricksRunNowOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST_POLL)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_death_points(super().make_job(context), self.triggers, die=Death.KILL)
