"""What the Databricks test DAG file uses: the resumable Databricks operators with SIGKILL points.

Imported by the DAG file inside the Airflow process. A trigger is a file
``<triggers>/<task_id>/<name>`` (tests/airflow/dagkit.py: DyingOperator): a test creates
it, the task consumes it at its point and the process SIGKILLs itself there, as a worker
machine that dies does (``kill-after-submit``: Databricks made the run, the record has no
run id yet; ``kill-while-polling``: the run id is recorded), so each process dies once.
"""

from __future__ import annotations

from resumable_adapters.airflow import ResumableDatabricksRunNowOperator, ResumableDatabricksSubmitRunOperator
from tests.airflow.dagkit import Death, DyingOperator


class KilledDatabricksSubmitRun(DyingOperator, ResumableDatabricksSubmitRunOperator):
    death = Death.KILL


class KilledDatabricksRunNow(DyingOperator, ResumableDatabricksRunNowOperator):
    death = Death.KILL
