"""What the EMR test DAG files use: the resumable EMR operators with crash triggers.

Imported by DAG files inside the Airflow process. A trigger is a file
``<triggers>/<task_id>/<name>``: a test creates it, the task consumes it at the chosen
point (``crash-after-submit``: EMR has the step or run, the record has no id yet;
``crash-while-polling``: the id is recorded), so each process dies exactly once
(tests/airflow/dagkit.py: ``with_death_points``).
"""

from __future__ import annotations

from typing import Any

from resumable_adapters.airflow import (
    ResumableEmrAddStepsOperator,
    ResumableEmrContainerOperator,
    ResumableEmrServerlessStartJobOperator,
)
from resumable_core import ResumableJob
from tests.airflow.dagkit import FAST_POLL, Death, with_death_points

# Three small classes, not a mixin: Airflow's operator metaclass wraps each operator class's own
# __init__, and one inherited from a plain mixin fails its check (no __wrapped__).


class TriggeredEmrAddSteps(ResumableEmrAddStepsOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST_POLL)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_death_points(super().make_job(context), self.triggers, die=Death.CRASH)


class TriggeredEmrServerless(ResumableEmrServerlessStartJobOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST_POLL)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_death_points(super().make_job(context), self.triggers, die=Death.CRASH)


class TriggeredEmrContainer(ResumableEmrContainerOperator):
    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST_POLL)
        super().__init__(**kwargs)
        self.triggers = triggers

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return with_death_points(super().make_job(context), self.triggers, die=Death.CRASH)
