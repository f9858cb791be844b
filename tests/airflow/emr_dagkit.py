"""What the EMR test DAG files use: the resumable EMR operators with crash triggers.

Imported by DAG files inside the Airflow process. A trigger is a file
``<triggers>/<task_id>/<name>``: a test creates it, the task consumes it at the chosen
point (``crash-after-submit``: EMR has the step or run, the record has no id yet;
``crash-while-polling``: the id is recorded), so each process dies exactly once
(tests/airflow/dagkit.py: DyingOperator, ``Death.CRASH``).
"""

from __future__ import annotations

from resumable_adapters.airflow import (
    ResumableEmrAddStepsOperator,
    ResumableEmrContainerOperator,
    ResumableEmrServerlessStartJobOperator,
)
from tests.airflow.dagkit import DyingOperator


class TriggeredEmrAddSteps(DyingOperator, ResumableEmrAddStepsOperator):
    pass


class TriggeredEmrServerless(DyingOperator, ResumableEmrServerlessStartJobOperator):
    pass


class TriggeredEmrContainer(DyingOperator, ResumableEmrContainerOperator):
    pass
