"""The pure decision: stored record + what the external system said -> what to do next.

No I/O here. ``run_resumable`` feeds observations back in until an action ends
the run; async and deferrable callers can drive ``decide`` themselves.

State machine of the record (one key)::

    (none) --write intent--> INTENT --submit ok, id persisted--> SUBMITTED
    INTENT  --find by reference: found--> SUBMITTED (adopted)
    INTENT  --find: nothing / no lookup + policy resubmit--> INTENT (same reference, new lease)
    SUBMITTED --active--> poll --FINISHED--> SUCCEEDED (result recorded when JSON)
                                --failed--> FAILED
    SUBMITTED --not found + policy resubmit--> INTENT (new reference)
    FAILED --> INTENT (new reference)
    any non-terminal --cancel_resumable--> CANCELLED (stays: JobCancelled until fresh / new generation / forget)
    any non-terminal --cancel_resumable(rerun=True)--> FAILED (the next run submits afresh)
    any --fingerprint changed / fresh run--> INTENT (new reference; old job left or cancelled)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

from ._events import SubmitReason
from ._record import JobRecord, Phase


class OnAmbiguous(str, enum.Enum):
    RESUBMIT = "resubmit"  # submit again with the same reference (logged as a warning)
    FAIL = "fail"          # raise AmbiguousSubmission for a human


class OnLost(str, enum.Enum):
    RESUBMIT = "resubmit"  # the recorded id is unknown to the system: submit again, warn
    FAIL = "fail"          # raise JobLost


class OnSuperseded(str, enum.Enum):
    LEAVE = "leave"    # an old job still running under a changed spec is left alone
    CANCEL = "cancel"  # ... or cancelled before the new submission


@dataclass(frozen=True, slots=True)
class Policy:
    """The caller's choices where no answer is right for everyone."""

    on_ambiguous: OnAmbiguous = OnAmbiguous.RESUBMIT
    on_lost: OnLost = OnLost.RESUBMIT
    on_superseded: OnSuperseded = OnSuperseded.LEAVE
    # How long another process's intent is honoured before it counts as crashed.
    # It must exceed the longest submit call; a retry after a crash waits at
    # most this long when the job cannot be found by reference.
    intent_lease: float = 120.0


@dataclass(frozen=True, slots=True)
class Request:
    """What this run asks for, and what the job can do."""

    fingerprint: str | None
    generation: str | None
    fresh: bool
    owner: str
    now: float
    can_find: bool
    can_cancel: bool
    policy: Policy = Policy()


# --- observations: what the external system said --------------------------------------


@dataclass(frozen=True, slots=True)
class StatusSeen:
    job_id: str
    status: str
    active: bool
    succeeded: bool


@dataclass(frozen=True, slots=True)
class NotFoundSeen:
    job_id: str


@dataclass(frozen=True, slots=True)
class ReferenceLookup:
    reference: str
    job_id: str | None


Observation = Union[StatusSeen, NotFoundSeen, ReferenceLookup]


# --- actions: what to do next ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submit:
    reason: SubmitReason
    same_reference: bool = False
    # The job an older submission may still be running; cancel it first when asked.
    supersede_job_id: str | None = None
    cancel_superseded: bool = False
    # What the recorded job was last seen as, for its history entry.
    previous_status: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnRecorded:
    pass


@dataclass(frozen=True, slots=True)
class CheckStatus:
    job_id: str


@dataclass(frozen=True, slots=True)
class FindByReference:
    reference: str


@dataclass(frozen=True, slots=True)
class Adopt:
    job_id: str


@dataclass(frozen=True, slots=True)
class Attach:
    job_id: str
    status: str


@dataclass(frozen=True, slots=True)
class FetchResult:
    job_id: str
    status: str


@dataclass(frozen=True, slots=True)
class WaitForOwner:
    until: float


@dataclass(frozen=True, slots=True)
class Stop:
    """End the run with an error; *kind* names which one."""

    kind: str  # "ambiguous" | "lost" | "cancelled" | "result_unavailable"
    job_id: str | None = None


Action = Union[
    Submit, ReturnRecorded, CheckStatus, FindByReference, Adopt, Attach, FetchResult, WaitForOwner, Stop
]


def superseded_reason(record: JobRecord, request: Request) -> SubmitReason | None:
    """Why the stored record may not be reused for this request, if it may not."""
    if request.fresh:
        return SubmitReason.FRESH_RUN
    if request.generation is not None and record.generation != request.generation:
        return SubmitReason.FRESH_RUN
    if (
        request.fingerprint is not None
        and record.fingerprint is not None
        and record.fingerprint != request.fingerprint
    ):
        return SubmitReason.FINGERPRINT_CHANGED
    return None


def decide(record: JobRecord | None, observation: Observation | None, request: Request) -> Action:
    if record is None:
        return Submit(SubmitReason.NEW)

    reason = superseded_reason(record, request)
    if reason is not None:
        if record.phase.terminal or record.job_id is None:
            # An intent with no id may have a job behind it that we cannot name:
            # it is left alone (documented), and the new spec is submitted.
            return Submit(reason)
        cancel = request.policy.on_superseded is OnSuperseded.CANCEL and request.can_cancel
        return Submit(reason, supersede_job_id=record.job_id, cancel_superseded=cancel)

    if record.phase is Phase.SUCCEEDED:
        if record.has_result:
            return ReturnRecorded()
        if record.job_id is None or record.status is None:
            return Stop("result_unavailable", record.job_id)
        return FetchResult(record.job_id, record.status)
    if record.phase is Phase.FAILED:
        return Submit(SubmitReason.PREVIOUS_FAILED)
    if record.phase is Phase.CANCELLED:
        # A cancel is a decision about this logical job, not a failure: an
        # automatic retry must not undo it. A fresh run, a new generation, a new
        # spec (above) or forgetting the key starts over.
        return Stop("cancelled", record.job_id)

    if record.phase is Phase.SUBMITTED:
        assert record.job_id is not None  # a SUBMITTED record always names its job
        if isinstance(observation, StatusSeen) and observation.job_id == record.job_id:
            if observation.active:
                return Attach(record.job_id, observation.status)
            if observation.succeeded:
                return FetchResult(record.job_id, observation.status)
            return Submit(SubmitReason.PREVIOUS_FAILED, previous_status=observation.status)
        if isinstance(observation, NotFoundSeen) and observation.job_id == record.job_id:
            if request.policy.on_lost is OnLost.FAIL:
                return Stop("lost", record.job_id)
            return Submit(SubmitReason.JOB_LOST)
        return CheckStatus(record.job_id)

    # INTENT: a reference was persisted, the job id was not (yet).
    if isinstance(observation, ReferenceLookup) and observation.reference == record.reference:
        if observation.job_id is not None:
            return Adopt(observation.job_id)
        if _lease_held_by_other(record, request):
            return WaitForOwner(record.lease_until or request.now)
        return Submit(SubmitReason.NOT_SUBMITTED, same_reference=True)
    if request.can_find:
        return FindByReference(record.reference)
    if _lease_held_by_other(record, request):
        return WaitForOwner(record.lease_until or request.now)
    if request.policy.on_ambiguous is OnAmbiguous.FAIL:
        return Stop("ambiguous")
    return Submit(SubmitReason.AMBIGUOUS, same_reference=True)


def _lease_held_by_other(record: JobRecord, request: Request) -> bool:
    """Another live process wrote this intent and may be submitting right now."""
    return (
        record.owner is not None
        and record.owner != request.owner
        and record.lease_until is not None
        and record.lease_until > request.now
    )
