"""AirflowStateStore: the core's StateStore over Airflow 3.3's ``context["task_state_store"]``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from resumable_core import JsonValue, StoreUnavailable
from resumable_core.store import check_store_key, check_store_value

from ._compat import NEVER_EXPIRE, airflow_version


class TaskStateStoreLike(Protocol):
    """What we use of Airflow's ``TaskStateStoreAccessor`` (task-sdk >= 1.3)."""

    def get(self, key: str, default: JsonValue = None) -> JsonValue: ...

    def set(self, key: str, value: JsonValue, *, retention: timedelta | None = None) -> None: ...

    def delete(self, key: str) -> None: ...


class AirflowStateStoreUnavailable(StoreUnavailable):
    """The task context has no ``task_state_store`` (Airflow older than 3.3)."""


class AirflowStateStore:
    """The core's StateStore over one task instance's Airflow task state store.

    Airflow scopes the store to (dag_id, run_id, task_id, map_index): every try
    of a task instance sees what an earlier try wrote, which is what lets a
    retry reattach. Writes carry *retention*; the default, ``NEVER_EXPIRE``,
    makes the record live exactly as long as its dag run (the rows are deleted
    with the run, ``airflow db clean`` included). Airflow's own default expires
    a row 30 days after its last write, and the core writes only on status
    changes: a job quiet for 30 days would lose its record, and the next try
    after a crash would submit a duplicate. Pass ``retention=None`` for
    Airflow's ``[state_store] default_retention_days``, or a ``timedelta``.

    No compare-and-set: the core falls back to read-compare-write, which is
    enough here because Airflow runs one try of a task instance at a time.
    """

    def __init__(self, accessor: TaskStateStoreLike, *, retention: timedelta | None = NEVER_EXPIRE) -> None:
        self._accessor = accessor
        self.retention = retention

    @classmethod
    def from_context(
        cls, context: Mapping[str, Any], *, retention: timedelta | None = NEVER_EXPIRE
    ) -> AirflowStateStore:
        """The store of the task instance that *context* belongs to.

        Raises AirflowStateStoreUnavailable on Airflow < 3.3, which has no task
        state store; any other StateStore can be passed to the operator there.
        """
        accessor = context.get("task_state_store")
        if accessor is None:
            raise AirflowStateStoreUnavailable(
                f"this task's context has no 'task_state_store': Airflow {airflow_version()} predates it "
                "(it needs Airflow >= 3.3 / apache-airflow-task-sdk >= 1.3). Upgrade Airflow, or pass any "
                "other resumable_core StateStore to the operator instead, e.g. "
                "state_store=SqliteStateStore('/shared/resumable.db') from resumable_adapters.sqlite, or a "
                "PostgreSQL store"
            )
        return cls(accessor, retention=retention)

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        try:
            return self._accessor.get(key, default)
        except Exception as exc:  # AirflowRuntimeError and transport errors, mapped at the edge
            raise StoreUnavailable(f"Airflow task state store: get failed: {exc}", key=key) from exc

    def set(self, key: str, value: JsonValue) -> None:
        # Airflow refuses None and non-JSON values with ValueError / a pydantic error;
        # say so in our terms, with the rules every store applies, before the round trip.
        check_store_value(check_store_key(key), value)
        try:
            self._accessor.set(key, value, retention=self.retention)
        except Exception as exc:
            raise StoreUnavailable(f"Airflow task state store: set failed: {exc}", key=key) from exc

    def delete(self, key: str) -> None:
        try:
            self._accessor.delete(key)
        except Exception as exc:
            raise StoreUnavailable(f"Airflow task state store: delete failed: {exc}", key=key) from exc

    def __repr__(self) -> str:
        return f"AirflowStateStore({self._accessor!r}, retention={self.retention!r})"
