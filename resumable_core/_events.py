"""Typed events emitted by run_resumable and cancel_resumable to an optional listener."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Union


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


@dataclass(frozen=True, slots=True)
class Reattached:
    """Attached to a job an earlier attempt submitted; *via* is "record" or "reference"."""

    key: str
    reference: str
    job_id: str
    status: str | None
    via: str


@dataclass(frozen=True, slots=True)
class ResultReused:
    """A recorded success was returned; *asked_external* says whether the system was asked."""

    key: str
    reference: str
    job_id: str | None
    asked_external: bool


@dataclass(frozen=True, slots=True)
class StatusChanged:
    key: str
    reference: str
    job_id: str
    previous: str | None
    status: str


@dataclass(frozen=True, slots=True)
class Superseded:
    """An older job was replaced by a new submission (left running or cancelled)."""

    key: str
    reference: str
    job_id: str | None
    reason: SubmitReason
    cancelled: bool


@dataclass(frozen=True, slots=True)
class WaitingForOwner:
    """Another process holds the submission lease for this key; waiting for its job id."""

    key: str
    reference: str
    owner: str | None
    lease_until: float


@dataclass(frozen=True, slots=True)
class Finished:
    key: str
    reference: str
    job_id: str
    status: str
    succeeded: bool


@dataclass(frozen=True, slots=True)
class Cancelled:
    key: str
    reference: str
    job_id: str | None


Event = Union[
    Submitted,
    Reattached,
    ResultReused,
    StatusChanged,
    Superseded,
    WaitingForOwner,
    Finished,
    Cancelled,
]
EventListener = Callable[[Event], None]
