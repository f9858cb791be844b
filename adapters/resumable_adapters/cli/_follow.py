"""The job a watch follows: its calls shown as they happen, and no way to submit.

A watch is not the key's owner: the command that started the key (and that a
script or cron entry will rerun) decides what runs. The core's ``attach_only`` run
is the rule: where ``run`` would submit (a recorded job found failed or forgotten, an
intent no job carries, an intent that cannot be looked up), it ends the key with
the error that says what it found and writes nothing. ``FollowedJob`` shows each
call and refuses ``submit_job`` too, should a submission ever get past the core.

No fingerprint: the watch does not know the job's specification, so it must not
count as a changed one (which would stop the key as another request's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from resumable_core import ResumableError, TransientError
from resumable_core.aio import (
    AsyncResumableJob,
    AsyncSupportsBatchProgress,
    AsyncSupportsBatchStatus,
    AsyncSupportsCancel,
    AsyncSupportsFindByReference,
)
from resumable_core.progress import AsyncSupportsProgress, Progress

from ._watch_output import WatchOutput

T = TypeVar("T")


class WatchWouldSubmit(ResumableError):
    """The core decided to submit for a followed key; a watch never submits (module docstring)."""


class FollowedJob:
    """One key's recorded job as the supervisor sees it: followed, never submitted.

    Each call the core retries on a transient error is shown as it fails and answers
    again (the core's retries are not events). No ``job_fingerprint``: see the module
    docstring.
    """

    def __init__(self, job: AsyncResumableJob[Any], key: str, output: WatchOutput) -> None:
        self.job = job
        self.key = key
        self.output = output

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await operation()
        except TransientError as exc:
            self.output.transient(self.key, what, exc.message)
            raise
        self.output.reached(self.key, what)
        return value

    async def submit_job(self, reference: str) -> str:
        raise WatchWouldSubmit(f"refused to submit reference {reference}: a watch only follows recorded jobs",
                               key=self.key)

    async def get_job_status(self, job_id: str) -> str:
        return await self.call(f"status of job {job_id}", lambda: self.job.get_job_status(job_id))

    def is_job_active(self, status: str) -> bool:
        return self.job.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.job.is_job_succeeded(status)

    async def get_job_result(self, job_id: str, status: str) -> Any:
        return await self.call(f"result of job {job_id}", lambda: self.job.get_job_result(job_id, status))


async def _find_job_by_reference(self: FollowedJob, reference: str) -> str | None:
    found: str | None = await self.call(f"lookup of reference {reference}",
                                        lambda: cast(AsyncSupportsFindByReference, self.job).find_job_by_reference(reference))
    return found


async def _cancel_job(self: FollowedJob, job_id: str) -> None:
    # The core cancels only a duplicate it finds (a newer submission of a job that succeeded).
    await self.call(f"cancel of job {job_id}", lambda: cast(AsyncSupportsCancel, self.job).cancel_job(job_id))


async def _job_progress(self: FollowedJob, job_id: str) -> Progress | None:
    # Not through call(): a failing progress call is the core's to log and ignore, not a retry to show.
    seen: Progress | None = await cast(AsyncSupportsProgress, self.job).job_progress(job_id)
    return seen


async def _get_job_statuses(self: FollowedJob, job_ids: Sequence[str]) -> Mapping[str, str]:
    # One listing answers for many keys; it is shown on the key whose job made it.
    statuses: Mapping[str, str] = await self.call(
        f"status listing ({len(job_ids)} jobs)",
        lambda: cast(AsyncSupportsBatchStatus, self.job).get_job_statuses(job_ids))
    return statuses


def _batch_key(self: FollowedJob) -> str:
    return cast(AsyncSupportsBatchStatus, self.job).batch_key


async def _get_job_progresses(self: FollowedJob, job_ids: Sequence[str]) -> Mapping[str, Progress]:
    # As _job_progress: a failing call is the core's to log and ignore.
    seen: Mapping[str, Progress] = await cast(AsyncSupportsBatchProgress, self.job).get_job_progresses(job_ids)
    return seen


def _progress_key(self: FollowedJob) -> str:
    key: str = self.job.progress_key  # type: ignore[attr-defined]  # present: checked in followed()
    return key


def followed(job: AsyncResumableJob[Any], key: str, output: WatchOutput) -> AsyncResumableJob[Any]:
    members: dict[str, Any] = {}
    if isinstance(job, AsyncSupportsBatchStatus) and callable(getattr(job, "get_job_statuses", None)):
        # Keys on one cluster are asked in one listing per tick (the core's StatusBatcher).
        members["get_job_statuses"] = _get_job_statuses
        members["batch_key"] = property(_batch_key)
    if callable(getattr(job, "job_progress", None)):
        members["job_progress"] = _job_progress
    if isinstance(job, AsyncSupportsBatchProgress) and callable(getattr(job, "get_job_progresses", None)):
        members["get_job_progresses"] = _get_job_progresses
        members["batch_key"] = property(_batch_key)
    if hasattr(job, "progress_key"):
        members["progress_key"] = property(_progress_key)
    if callable(getattr(job, "find_job_by_reference", None)):
        members["find_job_by_reference"] = _find_job_by_reference
    if callable(getattr(job, "cancel_job", None)):
        members["cancel_job"] = _cancel_job
    cls = type(type(job).__name__, (FollowedJob,), members)
    wrapper: AsyncResumableJob[Any] = cls(job, key, output)
    return wrapper


__all__ = ["FollowedJob", "WatchWouldSubmit", "followed"]
