"""A toy operator written only against Airflow's ResumableJobMixin hooks, and its in-memory system.

Nothing here knows the bridge: it is what a provider author writes. The system
scripts each job's statuses (one per status query) so a test decides exactly
what the hooks see, and counts every call so a test can assert what was asked.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.bases.resumablejobmixin import ResumableJobMixin

from resumable_adapters.airflow._references import ReferenceHooks, register_reference_hooks

ACTIVE = ("PENDING", "RUNNING")


class Crash(BaseException):
    """A process dying at a chosen point (BaseException: nothing in the bridge may swallow it)."""


@dataclass
class ToyJob:
    external_id: Any
    statuses: list[str]
    reference: str | None = None
    cancelled: bool = False


@dataclass
class ToySystem:
    """The external system: submitted jobs, their scripted statuses, and call counts."""

    script: list[str] = field(default_factory=lambda: ["RUNNING", "SUCCEEDED"])
    id_shape: str = "str"  # "str", "list" (Snowflake query ids), "dict" (a Kubernetes pod)
    jobs: list[ToyJob] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    status_errors: list[BaseException] = field(default_factory=list)  # raised by the next status queries
    crash_after_submit: bool = False
    pending_reference: str | None = None  # set by the reference hook around a submit
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def submit(self) -> Any:
        self.count("submit")
        n = next(self._counter)
        external_id: Any = {
            "str": f"job-{n}",
            "list": [f"q-{n}a", f"q-{n}b"],
            "dict": {"name": f"pod-{n}", "namespace": "etl"},
        }[self.id_shape]
        self.jobs.append(ToyJob(external_id, list(self.script), self.pending_reference))
        if self.crash_after_submit:
            self.crash_after_submit = False
            raise Crash("process died after the system accepted the job")
        return external_id

    def job(self, external_id: Any) -> ToyJob | None:
        return next((j for j in self.jobs if j.external_id == external_id), None)

    def add(self, external_id: Any, statuses: list[str]) -> None:
        """A job submitted by someone else (the stock mixin, an earlier try)."""
        self.jobs.append(ToyJob(external_id, statuses))

    def status(self, external_id: Any) -> str:
        self.count("status")
        if self.status_errors:
            raise self.status_errors.pop(0)
        job = self.job(external_id)
        if job is None:
            return "NOT_FOUND"
        if job.cancelled:
            return "KILLED"
        return job.statuses.pop(0) if len(job.statuses) > 1 else job.statuses[0]

    def result(self, external_id: Any) -> Any:
        self.count("result")
        return {"rows": 42, "id": external_id}

    def cancel(self, external_id: Any) -> None:
        self.count("cancel")
        job = self.job(external_id)
        if job is not None:
            job.cancelled = True


class ToyOperator(ResumableJobMixin, BaseOperator):
    """A provider-style operator: execute() calls execute_resumable(), the six hooks talk to ToySystem."""

    external_id_key = "toy_job_id"

    def __init__(self, *, system: ToySystem, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.system = system
        self.current: Any = None

    def execute(self, context: Any) -> Any:
        return self.execute_resumable(context)

    def submit_job(self, context: Any) -> Any:
        self.current = self.system.submit()
        return self.current

    def get_job_status(self, external_id: Any, context: Any) -> str:
        self.system.count("hook:get_job_status")
        return self.system.status(external_id)

    def is_job_active(self, status: str) -> bool:
        return status in ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        self.system.count("hook:poll_until_complete")
        while self.is_job_active(self.system.status(external_id)):
            pass

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return self.system.result(external_id)

    def on_kill(self) -> None:
        if self.current is not None:
            self.system.cancel(self.current)


class FindableToyOperator(ToyOperator):
    """The same operator with reference hooks registered: its jobs carry the reference."""


@contextlib.contextmanager
def _attach(operator: Any, context: Any, reference: str) -> Iterator[None]:
    operator.system.pending_reference = reference
    try:
        yield
    finally:
        operator.system.pending_reference = None


def _find(operator: Any, context: Any, reference: str) -> Any:
    operator.system.count("find")
    job = next((j for j in operator.system.jobs if j.reference == reference), None)
    return None if job is None else job.external_id


def _bind(operator: Any, external_id: Any) -> None:
    operator.current = external_id


register_reference_hooks(FindableToyOperator, ReferenceHooks(name="toy", attach=_attach, find=_find, bind=_bind))
register_reference_hooks(ToyOperator, ReferenceHooks(name="toy-no-reference", bind=_bind))


@dataclass
class FakeTaskInstance:
    """What the bridge reads of a task instance; ``state`` is what the server would answer."""

    dag_id: str = "dag"
    run_id: str = "run"
    task_id: str = "task"
    map_index: int = -1
    try_number: int = 1
    max_tries: int = 1
    state: str = "running"
    xcoms: dict[str, Any] = field(default_factory=dict)
    stats_tags: dict[str, str] = field(default_factory=dict)

    def get_task_states(self, **_: Any) -> dict[str, dict[str, str]]:
        return {self.run_id: {self.task_id: self.state}}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class FakeTaskStateStore:
    """Airflow's TaskStateStoreAccessor as the task sees it: JSON by key, no compare-and-set."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.retentions: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("None is not stored")
        self.values[key] = value
        self.retentions[key] = retention

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def context_for(ti: FakeTaskInstance, store: FakeTaskStateStore | None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti, "task_instance": ti}
    if store is not None:
        context["task_state_store"] = store
    return context


def execute_at_once(make_operator: Callable[[], Any], *, timeout: float) -> tuple[list[Any], list[BaseException]]:
    """Two tries of one task at the same moment: each builds its operator in its own thread, then both execute.

    Their context has no task state store (the operators name theirs); returns what they returned and raised.
    """
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def one_try() -> None:
        operator = make_operator()
        start.wait()
        try:
            results.append(operator.execute(context_for(FakeTaskInstance(), None)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one_try) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results, errors
