"""Airflow adapter: resumable operators and the task state store binding (Airflow >= 3.3).

Importing it needs Airflow 3 (``pip install 'resumable-core[airflow]'``);
``import resumable_core`` never imports Airflow. A DAG moves from
SparkSubmitOperator to the resumable one by changing two lines::

    from resumable_adapters.airflow import ResumableSparkSubmitOperator as SparkSubmitOperator

or by importing ``ResumableSparkSubmitOperator`` and renaming the class where
it is used. See docs/airflow.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._bridge import ResumableJobBridge, resumable
from ._compat import INSTALL_HINT, NEVER_EXPIRE
from ._hook_job import decode_external_id, encode_external_id
from ._kill import (
    ALWAYS_CANCEL,
    CANCEL_BY_CAUSE,
    NEVER_CANCEL,
    KillCause,
    KillPolicy,
    TaskInterrupted,
    cause_from_state,
)
from ._operator import (
    AIRFLOW_POLICY,
    TASK_STATE_KEY,
    ResumableOperator,
    clear_generation,
    default_state_key,
)
from ._references import ReferenceHooks, reference_hooks_for, register_reference_hooks
from ._store import AirflowStateStore, AirflowStateStoreUnavailable, TaskStateStoreLike

if TYPE_CHECKING:
    from ._databricks import ResumableDatabricksRunNowOperator, ResumableDatabricksSubmitRunOperator
    from ._emr import (
        ResumableEmrAddStepsOperator,
        ResumableEmrContainerOperator,
        ResumableEmrServerlessStartJobOperator,
    )
    from ._flink import ResumableFlinkOperator
    from ._pod import ResumableKubernetesPodOperator
    from ._spark import ResumableSparkSubmitOperator


def __getattr__(name: str) -> Any:
    # The Spark operator needs the Spark adapter (urllib3, the 'spark' extra):
    # loaded on first use so that the base operator works without it.
    if name == "ResumableSparkSubmitOperator":
        from ._spark import ResumableSparkSubmitOperator

        return ResumableSparkSubmitOperator
    if name == "ResumableKubernetesPodOperator":  # needs the cncf.kubernetes provider
        from ._pod import ResumableKubernetesPodOperator

        return ResumableKubernetesPodOperator
    if name == "ResumableFlinkOperator":  # needs the Flink adapter (urllib3, the 'flink' extra)
        from ._flink import ResumableFlinkOperator

        return ResumableFlinkOperator
    if name in _DATABRICKS_OPERATORS:  # needs the databricks-sdk (the 'databricks' extra)
        from . import _databricks

        return getattr(_databricks, name)
    if name in _EMR_OPERATORS:  # needs boto3 (the 'aws' extra) and the amazon provider's hook at run time
        from . import _emr

        return getattr(_emr, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DATABRICKS_OPERATORS = ("ResumableDatabricksRunNowOperator", "ResumableDatabricksSubmitRunOperator")
_EMR_OPERATORS = ("ResumableEmrAddStepsOperator", "ResumableEmrContainerOperator",
                  "ResumableEmrServerlessStartJobOperator")


__all__ = [
    "AIRFLOW_POLICY",
    "ALWAYS_CANCEL",
    "CANCEL_BY_CAUSE",
    "INSTALL_HINT",
    "NEVER_CANCEL",
    "NEVER_EXPIRE",
    "TASK_STATE_KEY",
    "AirflowStateStore",
    "AirflowStateStoreUnavailable",
    "KillCause",
    "KillPolicy",
    "ReferenceHooks",
    "ResumableDatabricksRunNowOperator",
    "ResumableDatabricksSubmitRunOperator",
    "ResumableEmrAddStepsOperator",
    "ResumableEmrContainerOperator",
    "ResumableEmrServerlessStartJobOperator",
    "ResumableFlinkOperator",
    "ResumableJobBridge",
    "ResumableKubernetesPodOperator",
    "ResumableOperator",
    "ResumableSparkSubmitOperator",
    "TaskInterrupted",
    "TaskStateStoreLike",
    "cause_from_state",
    "clear_generation",
    "decode_external_id",
    "default_state_key",
    "encode_external_id",
    "reference_hooks_for",
    "register_reference_hooks",
    "resumable",
]
