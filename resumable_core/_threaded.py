"""A blocking ``ResumableJob`` as an ``AsyncResumableJob``: each of its calls in a worker thread.

The supervisor drives async jobs on one event loop, and a blocking call there (a job
that reads files, scans ``/proc`` or speaks HTTP with a blocking client) would stall
every other key. Any ``ResumableJob`` works (``resumable watch`` uses it for the local
and the blocking Spark job), and it keeps exactly the optional operations the job has,
because the core looks for them by presence (``find_job_by_reference``,
``cancel_job``, ``job_fingerprint``, ``job_progress``, ``resume_state`` with ``submit_job_from``,
the batched status listing and progress call with their ``batch_key``, and a ``progress_key``), under the job's own class name, which the core's
messages use. ``poll_until_complete`` is left out on purpose: the async runner polls
by itself, and a blocking poll would hold a thread for the job's whole life.

A call in a thread cannot be interrupted: cancelling the awaiting task leaves the
call to finish on its own, bounded by the job's own timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

from ._aio import AsyncResumableJob
from ._batch import SupportsBatchProgress, SupportsBatchStatus
from ._progress import Progress, SupportsProgress
from ._protocols import ResumableJob, SupportsCancel, SupportsFindByReference, SupportsFingerprint
from ._resume import SupportsResumeState
from ._types import JsonValue


class ThreadedJob:
    """Delegates to the blocking *job*, awaiting each I/O call in a worker thread."""

    def __init__(self, job: ResumableJob[Any]) -> None:
        self.job = job

    async def submit_job(self, reference: str) -> str:
        return await asyncio.to_thread(self.job.submit_job, reference)

    async def get_job_status(self, job_id: str) -> str:
        return await asyncio.to_thread(self.job.get_job_status, job_id)

    def is_job_active(self, status: str) -> bool:
        return self.job.is_job_active(status)  # pure: no thread hop

    def is_job_succeeded(self, status: str) -> bool:
        return self.job.is_job_succeeded(status)

    async def get_job_result(self, job_id: str, status: str) -> Any:
        result: JsonValue = await asyncio.to_thread(self.job.get_job_result, job_id, status)
        return result


async def _find_job_by_reference(self: ThreadedJob, reference: str) -> str | None:
    found: str | None = await asyncio.to_thread(cast(SupportsFindByReference, self.job).find_job_by_reference,
                                                reference)
    return found


async def _cancel_job(self: ThreadedJob, job_id: str) -> None:
    await asyncio.to_thread(cast(SupportsCancel, self.job).cancel_job, job_id)


def _job_fingerprint(self: ThreadedJob) -> str:
    return cast(SupportsFingerprint, self.job).job_fingerprint()


async def _get_job_statuses(self: ThreadedJob, job_ids: Sequence[str]) -> Mapping[str, str]:
    statuses: Mapping[str, str] = await asyncio.to_thread(cast(SupportsBatchStatus, self.job).get_job_statuses,
                                                          job_ids)
    return statuses


def _batch_key(self: ThreadedJob) -> str:
    return cast(SupportsBatchStatus, self.job).batch_key


async def _get_job_progresses(self: ThreadedJob, job_ids: Sequence[str]) -> Mapping[str, Progress]:
    seen: Mapping[str, Progress] = await asyncio.to_thread(cast(SupportsBatchProgress, self.job).get_job_progresses,
                                                           job_ids)
    return seen


def _progress_key(self: ThreadedJob) -> str:
    key: str = self.job.progress_key  # type: ignore[attr-defined]  # present: checked in in_threads
    return key


async def _job_progress(self: ThreadedJob, job_id: str) -> Progress | None:
    seen: Progress | None = await asyncio.to_thread(cast(SupportsProgress, self.job).job_progress, job_id)
    return seen


async def _resume_state(self: ThreadedJob, job_id: str) -> str | None:
    state: str | None = await asyncio.to_thread(cast(SupportsResumeState, self.job).resume_state, job_id)
    return state


async def _submit_job_from(self: ThreadedJob, reference: str, state: str | None) -> str:
    job_id: str = await asyncio.to_thread(cast(SupportsResumeState, self.job).submit_job_from, reference, state)
    return job_id


_OPTIONAL = {
    "find_job_by_reference": _find_job_by_reference,
    "cancel_job": _cancel_job,
    "job_fingerprint": _job_fingerprint,
    "job_progress": _job_progress,
    # Both or neither: the core resumes only a job that can say where it got to and start from there.
    "resume_state": _resume_state,
    "submit_job_from": _submit_job_from,
}


def in_threads(job: ResumableJob[Any]) -> AsyncResumableJob[Any]:
    """*job* as an ``AsyncResumableJob`` with the same optional operations (see the module docstring)."""
    members: dict[str, object] = {name: method for name, method in _OPTIONAL.items()
                                  if callable(getattr(job, name, None))}
    if not isinstance(job, SupportsResumeState):
        members.pop("resume_state", None)
        members.pop("submit_job_from", None)
    if isinstance(job, SupportsBatchStatus) and callable(getattr(job, "get_job_statuses", None)):
        members["get_job_statuses"] = _get_job_statuses
        members["batch_key"] = property(_batch_key)
    if isinstance(job, SupportsBatchProgress) and callable(getattr(job, "get_job_progresses", None)):
        members["get_job_progresses"] = _get_job_progresses
        members["batch_key"] = property(_batch_key)
    if hasattr(job, "progress_key"):
        members["progress_key"] = property(_progress_key)
    cls = type(type(job).__name__, (ThreadedJob,), members)
    wrapper: AsyncResumableJob[Any] = cls(job)
    return wrapper


__all__ = ["ThreadedJob", "in_threads"]
