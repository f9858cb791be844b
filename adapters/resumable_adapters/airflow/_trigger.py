"""ResumableJobTrigger: the polling of a deferred resumable task, in Airflow's triggerer.

The task records the intent and the job id as always (the core's record), then defers
here. The trigger holds nothing that is not in that record or in the DAG: the job id
(recorded), how to build a job that can ask its status (an import path and JSON
arguments, as the DAG gives them) and the poll policy. So a triggerer restart
rebuilds it from its serialized arguments and polls on; a task killed while deferred
loses nothing (its next try reads the record and reattaches) and submits nothing
(the trigger never submits). Whatever the trigger sees is only reported: the task,
back on a worker, decides and records through ``run_resumable`` (``polled=``).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import random
import time
from collections.abc import AsyncIterator
from typing import Any

# The triggerer's classes come with Airflow itself (not the task SDK); imported only by a deferring task.
from airflow.triggers.base import BaseTrigger, TriggerEvent

from resumable_core import JobNotFound, PollPolicy, TransientError


def build_job(factory: str, kwargs: dict[str, Any]) -> Any:
    """The job *factory* ("module:callable") makes from *kwargs*: what a trigger polls with."""
    module, _, name = factory.partition(":")
    if not module or not name:
        raise ValueError(f"job factory must be 'module:callable', got {factory!r}")
    return getattr(importlib.import_module(module), name)(**kwargs)


class ResumableJobTrigger(BaseTrigger):
    """Polls one recorded job until it can no longer change, then wakes the task.

    The event says ``{"job_id", "status"}`` (``status`` None when the system does not
    know the job: the task decides what that means, as for any run). A transient error
    is retried with the poll policy's backoff for as long as its budget allows, then the
    task is woken with ``{"job_id", "status": None, "transient": message}``: the task's
    own run then asks again and applies the usual rules.
    """

    def __init__(self, *, job_factory: str, job_kwargs: dict[str, Any], job_id: str, key: str,
                 poll: dict[str, Any] | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger.__init__ is unannotated
        self.job_factory = job_factory
        self.job_kwargs = job_kwargs
        self.job_id = job_id
        self.key = key
        self.poll = poll or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"job_factory": self.job_factory, "job_kwargs": self.job_kwargs, "job_id": self.job_id,
                 "key": self.key, "poll": self.poll})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        policy = PollPolicy(**self.poll)
        job = build_job(self.job_factory, self.job_kwargs)
        attempt = failures = 0
        first_failure: float | None = None
        previous: str | None = None
        while True:
            try:
                status = await _status(job, self.job_id)
            except JobNotFound:
                yield _event({"job_id": self.job_id, "status": None})
                return
            except TransientError as exc:
                failures += 1
                first_failure = first_failure if first_failure is not None else time.monotonic()
                if policy.budget_spent(failures, time.monotonic() - first_failure, exc, what="status",
                                       job_id=self.job_id) is not None:
                    yield _event({"job_id": self.job_id, "status": None, "transient": exc.message})
                    return
                await asyncio.sleep(policy.interval(failures - 1, random.random()))
                continue
            failures, first_failure = 0, None
            if not job.is_job_active(status):
                yield _event({"job_id": self.job_id, "status": status})
                return
            if status != previous:
                attempt, previous = 0, status
            await asyncio.sleep(policy.interval(attempt, random.random()))
            attempt += 1


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]  # Airflow's TriggerEvent.__init__ is unannotated


async def _status(job: Any, job_id: str) -> str:
    """The status, awaited from an async job or asked in a worker thread from a blocking one."""
    if inspect.iscoroutinefunction(job.get_job_status):
        status: str = await job.get_job_status(job_id)
    else:
        status = await asyncio.to_thread(job.get_job_status, job_id)
    return status


__all__ = ["ResumableJobTrigger", "build_job"]
