"""What users implement against: a job, a store, and optional capabilities.

A capability is its own small protocol so that a job (or store) declares it
simply by having the method; ``run_resumable`` checks with ``isinstance`` and
uses it when present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from ._errors import InvalidArgument
from ._types import JsonValue

if TYPE_CHECKING:
    from ._polling import Poller

ResultT_co = TypeVar("ResultT_co", covariant=True)


@runtime_checkable
class StateStore(Protocol):
    """JSON values by string key.

    Shaped so that Airflow 3.3's ``context["task_state_store"]`` satisfies it
    structurally (its ``set`` has an extra keyword-only ``retention``).
    ``get`` returns ``default`` only when the key is missing; ``None`` is never
    stored (Airflow refuses it), so a missing key and ``None`` are the same.
    """

    def get(self, key: str, default: JsonValue = None) -> JsonValue: ...

    def set(self, key: str, value: JsonValue) -> None: ...

    def delete(self, key: str) -> None: ...


@runtime_checkable
class CompareAndSetStore(StateStore, Protocol):
    """A store that can replace a value atomically if it still equals what was read."""

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        """Store *value* if the current value equals *expected* (``None``: key absent).

        Returns False, changing nothing, when another writer got there first.
        """
        ...


@runtime_checkable
class ResumableJob(Protocol[ResultT_co]):
    """One long-running job in an external system.

    ``get_job_status`` says one of three things: a status string; ``JobNotFound``
    (the system answered and does not know the id); ``TransientError`` (could
    not ask right now). Only the first two may ever lead to a resubmission.
    """

    def submit_job(self, reference: str) -> str:
        """Submit the job, tagged with *reference*; return the external job id.

        *reference* was chosen and persisted by the core before this call; an
        adapter attaches it to the job (a tag, a name, a property, an
        idempotency token) so that the job can be found again after a crash.
        """
        ...

    def get_job_status(self, job_id: str) -> str: ...

    def is_job_active(self, status: str) -> bool:
        """True while the job may still change state (queued, running, relaunching)."""
        ...

    def is_job_succeeded(self, status: str) -> bool: ...

    def get_job_result(self, job_id: str, status: str) -> ResultT_co:
        """The result of a finished job; recorded (and reused) when it is JSON."""
        ...


@runtime_checkable
class SupportsPollUntilComplete(Protocol):
    """A job that waits for its end its own way (a system that can push, or long-poll).

    Without it the core's ``Poller`` asks ``get_job_status`` with backoff, a deadline
    and the transient budget. An implementation should call ``poller.status`` for each
    look, so that status changes are recorded and transients budgeted as usual.
    """

    def poll_until_complete(self, job_id: str, poller: Poller) -> str:
        """Wait for a status in which the job can no longer change, and return it."""
        ...


@runtime_checkable
class SupportsFindByReference(Protocol):
    """A job that can be found again by the submission reference it was given."""

    def find_job_by_reference(self, reference: str) -> str | None:
        """The job id carrying *reference*, or None when the system has none.

        Raise ``TransientError`` when the answer is not certain yet (for
        instance a job that is queued and not yet visible): None means
        "definitely never submitted", and leads to a submission.
        """
        ...


@runtime_checkable
class SupportsCancel(Protocol):
    """A job that can be cancelled."""

    def cancel_job(self, job_id: str) -> None:
        """Ask the system to stop the job. Cancelling an ended job is not an error."""
        ...


@runtime_checkable
class SupportsFingerprint(Protocol):
    """A job that can fingerprint what it would submit (secrets excluded)."""

    def job_fingerprint(self) -> str: ...


REQUIRED_OPERATIONS = ("submit_job", "get_job_status", "is_job_active", "is_job_succeeded", "get_job_result")


def check_job(job: object) -> None:
    """InvalidArgument naming the first required operation *job* lacks, before anything is submitted."""
    for name in REQUIRED_OPERATIONS:
        if not callable(getattr(job, name, None)):
            raise InvalidArgument(
                f"{type(job).__name__} is not a ResumableJob: it has no {name}() "
                f"(a job needs {', '.join(n + '()' for n in REQUIRED_OPERATIONS)})"
            )


__all__ = [
    "REQUIRED_OPERATIONS",
    "CompareAndSetStore",
    "ResumableJob",
    "StateStore",
    "SupportsCancel",
    "SupportsFindByReference",
    "SupportsFingerprint",
    "SupportsPollUntilComplete",
    "check_job",
]
