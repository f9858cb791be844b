"""The rule of ``resumable watch``: follow what is recorded, never submit.

A watch is not the key's owner: the command that started the key (and that a
script or cron entry will rerun) decides what runs. So:

- ``Policy(on_lost=FAIL, on_ambiguous=FAIL)`` (``watch_policy``): a recorded job the
  system does not know ends the key with ``JobLost``, and an intent that cannot be
  looked up with ``AmbiguousSubmission``, where ``run`` would resubmit (by default).
- The remaining paths to a submission have no policy switch: a recorded job found
  already failed (``run`` resubmits it), and an intent whose reference no job carries
  (``run`` submits it under the same reference). Every submission starts with an
  intent written to the store (the core writes the reference before it submits), so
  the watch's store refuses that one write (``FollowOnlyStore``): nothing is written,
  and the key ends with an error saying what was found. The followed job's own
  ``submit_job`` refuses too, should a submission ever get past the store.
- No fingerprint: the watch does not know the job's specification, so it must not
  count as a changed one (which would supersede the recorded job).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from resumable_core import (
    CompareAndSetStore,
    JobFailed,
    JobRecord,
    JsonValue,
    OnAmbiguous,
    OnLost,
    Outcome,
    Phase,
    Policy,
    ResumableError,
    TransientError,
)
from resumable_core.aio import AsyncResumableJob, AsyncSupportsCancel, AsyncSupportsFindByReference
from resumable_core.errors import JobLost

from ._watch_output import WatchOutput

T = TypeVar("T")


class WatchWouldSubmit(ResumableError):
    """The core decided to submit for a followed key; a watch never submits (module docstring)."""


class EndedBeforeWatch(JobFailed):
    """The recorded job had failed before the watch reattached; ``run`` would resubmit it."""


class NeverSubmitted(JobLost):
    """An intent was recorded, and no job carries its reference: the submission never happened."""


class FollowOnlyStore:
    """The state store as a watch writes it: every write of the core passes, except an intent.

    The core writes an intent (phase INTENT: a reference, a lease) before each
    submission, so refusing that write is refusing the submission before anything is
    written or submitted. The error raised says what the core had found.
    """

    def __init__(self, store: CompareAndSetStore) -> None:
        self.store = store

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        return self.store.get(key, default)

    def set(self, key: str, value: JsonValue) -> None:
        self._check(key, self.store.get(key), value)
        self.store.set(key, value)

    def delete(self, key: str) -> None:
        self.store.delete(key)

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        self._check(key, expected, value)
        return self.store.compare_and_set(key, expected, value)

    def _check(self, key: str, expected: JsonValue, value: JsonValue) -> None:
        if JobRecord.from_json(key, value).phase is Phase.INTENT:
            raise refusal(key, None if expected is None else JobRecord.from_json(key, expected),
                          JobRecord.from_json(key, value))


def refusal(key: str, old: JobRecord | None, new: JobRecord) -> ResumableError:
    """The error that ends a followed key whose next step would have been a submission."""
    rerun = "a watch does not submit: the key's next run does"
    if old is None:
        return WatchWouldSubmit(f"the record was forgotten while watched; {rerun}", key=key)
    if old.phase is Phase.INTENT:
        return NeverSubmitted(
            f"no job carries the recorded submission reference {old.reference}: the client that recorded it "
            f"stopped before submitting; {rerun}", key=key)
    closed = next((h for h in reversed(new.history) if h.reference == old.reference), None)
    status = closed.status if closed is not None and closed.status else old.status
    # No fingerprint, fresh run or generation is ever asked for, and a lost job stops
    # by policy: a recorded job is replaced only because it was found failed.
    if closed is not None and closed.outcome is Outcome.LOST:
        return JobLost(f"the external system does not know job {old.job_id}; {rerun}",
                       key=key, job_id=old.job_id, status=status)
    if old.phase in (Phase.SUBMITTED, Phase.FAILED) and (closed is None or closed.outcome is Outcome.FAILED):
        return EndedBeforeWatch(f"job {old.job_id} had ended {status} before the watch reattached; {rerun}",
                         key=key, job_id=old.job_id, status=status)
    return WatchWouldSubmit(f"job {old.job_id} would be replaced by a new submission; {rerun}",
                            key=key, job_id=old.job_id, status=status)


def watch_policy(policy: Policy) -> Policy:
    """*policy* with every choice that would submit turned into a stop (module docstring)."""
    return dataclasses.replace(policy, on_lost=OnLost.FAIL, on_ambiguous=OnAmbiguous.FAIL)


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


def followed(job: AsyncResumableJob[Any], key: str, output: WatchOutput) -> AsyncResumableJob[Any]:
    members: dict[str, Any] = {}
    if callable(getattr(job, "find_job_by_reference", None)):
        members["find_job_by_reference"] = _find_job_by_reference
    if callable(getattr(job, "cancel_job", None)):
        members["cancel_job"] = _cancel_job
    cls = type(type(job).__name__, (FollowedJob,), members)
    wrapper: AsyncResumableJob[Any] = cls(job, key, output)
    return wrapper


__all__ = [
    "EndedBeforeWatch",
    "FollowOnlyStore",
    "FollowedJob",
    "NeverSubmitted",
    "WatchWouldSubmit",
    "followed",
    "refusal",
    "watch_policy",
]
