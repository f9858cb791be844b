"""Type-checked only (mypy): Airflow's task state store accessor is a StateStore as it is.

The core's StateStore protocol was shaped after ``TaskStateStoreAccessor``;
this assignment fails to type-check the day either side drifts (a JsonValue
that differs, a required argument added to ``set``).
"""

from __future__ import annotations

from airflow.sdk.execution_time.context import TaskStateStoreAccessor

from resumable_adapters.airflow import AirflowStateStore, TaskStateStoreLike
from resumable_core import StateStore


def accessor_is_a_state_store(accessor: TaskStateStoreAccessor) -> StateStore:
    store: StateStore = accessor
    return store


def accessor_fits_the_binding(accessor: TaskStateStoreAccessor) -> AirflowStateStore:
    like: TaskStateStoreLike = accessor
    return AirflowStateStore(like)


def binding_is_a_state_store(binding: AirflowStateStore) -> StateStore:
    store: StateStore = binding
    return store
