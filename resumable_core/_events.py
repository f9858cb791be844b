"""Typed events emitted by run_resumable and cancel_resumable to an optional listener.

Each event says itself in one line, ``describe()``: the words the CLI, the Airflow
operator's log, the demo and the core's own log use, written once here.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from ._progress import Progress


class SubmitReason(str, enum.Enum):
    """Why a submission was made; anything but NEW is a resubmission."""

    NEW = "new"                                  # nothing stored under the key
    PREVIOUS_FAILED = "previous_failed"          # the recorded job failed
    JOB_LOST = "job_lost"                        # the external system forgot the recorded id
    NOT_SUBMITTED = "not_submitted"              # intent recorded, lookup found no job
    AMBIGUOUS = "ambiguous"                      # intent recorded, no way to look up: policy resubmit
    FINGERPRINT_CHANGED = "fingerprint_changed"  # the job's specification changed
    FRESH_RUN = "fresh_run"                      # the caller asked for a fresh run


@dataclass(frozen=True, slots=True)
class Submitted:
    key: str
    reference: str
    job_id: str
    reason: SubmitReason
    previous_job_id: str | None = None

    @property
    def resubmitted(self) -> bool:
        return self.reason is not SubmitReason.NEW

    def describe(self) -> str:
        if self.resubmitted:
            previous = f"previous job {self.previous_job_id}, " if self.previous_job_id is not None else ""
            return f"resubmitted because {self.reason.value}: job {self.job_id} ({previous}reference {self.reference})"
        return f"submitted job {self.job_id} (reference {self.reference})"


@dataclass(frozen=True, slots=True)
class Reattached:
    """Attached to a job an earlier attempt submitted; *via* is "record" or "reference"."""

    key: str
    reference: str
    job_id: str
    status: str | None
    via: str

    def describe(self) -> str:
        return f"reattached to job {self.job_id} (found by {self.via}, status {self.status or 'not asked yet'})"


@dataclass(frozen=True, slots=True)
class ResultReused:
    """A recorded success was returned; *asked_external* says whether the system was asked."""

    key: str
    reference: str
    job_id: str | None
    asked_external: bool

    def describe(self) -> str:
        asked = "asked the external system" if self.asked_external else "from the record"
        return f"result reused from job {self.job_id} ({asked}): nothing submitted"


@dataclass(frozen=True, slots=True)
class StatusChanged:
    key: str
    reference: str
    job_id: str
    previous: str | None
    status: str

    def describe(self) -> str:
        return f"job {self.job_id}: {self.previous or 'unknown'} -> {self.status}"


@dataclass(frozen=True, slots=True)
class Superseded:
    """An older job was replaced by a new submission (left running or cancelled)."""

    key: str
    reference: str
    job_id: str | None
    reason: SubmitReason
    cancelled: bool

    def describe(self) -> str:
        what = "cancelled" if self.cancelled else "left running"
        return f"older job {self.job_id or 'with no recorded id'} {what} ({self.reason.value})"


@dataclass(frozen=True, slots=True)
class WaitingForOwner:
    """Another process holds the submission lease for this key; waiting for its job id."""

    key: str
    reference: str
    owner: str | None
    lease_until: float

    def describe(self) -> str:
        until = time.strftime("%H:%M:%S", time.localtime(self.lease_until))
        return (f"another process is submitting this key (reference {self.reference}); "
                f"waiting for its job id until {until}, when its lease runs out")


@dataclass(frozen=True, slots=True)
class ProgressReported:
    """A running job said how far it has got, and it differs from what was recorded (written now)."""

    key: str
    reference: str
    job_id: str
    progress: Progress

    def describe(self) -> str:
        return f"job {self.job_id}: {self.progress.describe()}"


@dataclass(frozen=True, slots=True)
class Finished:
    key: str
    reference: str
    job_id: str
    status: str
    succeeded: bool

    def describe(self) -> str:
        return f"job {self.job_id} ended {self.status}"


@dataclass(frozen=True, slots=True)
class Cancelled:
    key: str
    reference: str
    job_id: str | None

    def describe(self) -> str:
        return f"cancelled job {self.job_id or '(none recorded)'}"


Event = Union[
    Submitted,
    Reattached,
    ResultReused,
    StatusChanged,
    ProgressReported,
    Superseded,
    WaitingForOwner,
    Finished,
    Cancelled,
]
EventListener = Callable[[Event], None]
