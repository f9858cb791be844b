"""The one place that imports Airflow: a clear ImportError without it, version-dependent names."""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version

INSTALL_HINT = "pip install 'resumable-core[airflow]'"

try:
    from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, Context
    from airflow.sdk.exceptions import AirflowTaskTimeout
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without Airflow
    raise ImportError(
        f"resumable_adapters.airflow needs Apache Airflow 3 (its task SDK, apache-airflow-task-sdk): {INSTALL_HINT}. "
        "The core (resumable_core) works without it."
    ) from exc

try:
    from airflow.sdk.execution_time.context import NEVER_EXPIRE
except ImportError:
    # Task SDK < 1.3 (Airflow < 3.3) has no task state store, hence no NEVER_EXPIRE;
    # the operator then needs an explicit StateStore and this value is never sent.
    NEVER_EXPIRE = timedelta.max


def airflow_version() -> str:
    """The installed Airflow (task SDK) version, for error messages."""
    for distribution in ("apache-airflow", "apache-airflow-task-sdk"):
        try:
            return f"{distribution} {version(distribution)}"
        except PackageNotFoundError:
            continue
    return "(unknown version)"


__all__ = ["NEVER_EXPIRE", "AirflowTaskTimeout", "BaseHook", "BaseOperator", "BaseOperatorLink", "Context", "INSTALL_HINT", "airflow_version"]
