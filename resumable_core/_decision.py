"""The pure decision: stored record + what was just observed -> the one thing to do next.

No I/O, no clock, no randomness: what is not in the record or the observation comes
in through the ``Request`` (the time, a fresh reference). ``run_resumable`` and
``cancel_resumable`` are interpreters around ``decide`` and ``decide_cancel``: they
perform the action, and feed what it produced back in as the next observation. An
async driver or a deferrable trigger does the same and needs no other logic.

State machine of the record (one key)::

    (none) --write intent--> INTENT --submit ok, id persisted--> SUBMITTED
    INTENT  --find by reference: found--> SUBMITTED (adopted)
    INTENT  --find: nothing / no lookup + policy resubmit--> INTENT (same reference, new lease)
    INTENT  --submit returned no usable id--> INTENT, accepted (never resubmitted: found or stopped)
    SUBMITTED --active--> poll --FINISHED--> SUCCEEDED (result recorded when JSON)
                                --failed--> FAILED
    SUBMITTED --not found (confirmed) + policy resubmit--> INTENT (new reference)
    FAILED --> INTENT (new reference)
    any non-terminal --cancel_resumable--> CANCELLED (stays: JobCancelled until fresh / new generation / forget)
    any non-terminal --cancel_resumable(rerun=True)--> FAILED (the next run submits afresh)
    any --fingerprint changed / fresh run--> INTENT (new reference; old job left or cancelled)

What each action produces (the observation fed back next):

=================  ==================================================================
action             observation
=================  ==================================================================
Write              ``after`` when the write landed; else ``on_conflict``, with the
                   record that won (the driver reads it again)
SubmitJob          SubmitAnswered, SubmitRefused (the system proved it made nothing), or
                   SubmitUnusable (it returned, with no usable job id: something was accepted)
CheckStatus        StatusSeen, or NotFoundSeen
FindByReference    ReferenceLookup (carrying the action's ``context``)
Poll               PollEnded, or NotFoundSeen (the job vanished while polled)
FetchResult        ResultFetched, or ResultGone
CancelJob          ``after``
WaitForOwner       None (the driver reads the record again)
ReturnRecorded,    end the run (the recorded result, the fetched result, an error,
Return, Stop,      the record as it stands)
ReturnRecord
=================  ==================================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Union

from ._events import (
    Cancelled,
    Event,
    Reattached,
    ResultReused,
    SubmitReason,
    Submitted,
    Superseded,
    WaitingForOwner,
)
from ._policy import OnAmbiguous, OnLost, OnSuperseded, Policy
from ._record import JobRecord, Outcome, Phase, Submission, mark_history, new_intent
from ._types import JsonValue, is_json

# --- what the caller asks, and what the job can do ------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """What this run asks for, what the job can do, and the inputs a pure function cannot make.

    *now* is the caller's clock; *new_reference* is a fresh submission reference, used
    when the decision starts a new submission (draw one per decision: ``new_reference()``);
    *lost_resubmits* counts the resubmissions this run already made because the system
    forgot the job (``Policy.max_lost_resubmits`` bounds them). *attach_only* turns every
    decision to submit into a stop that says what was found (``_attach_only_stop``).
    """

    fingerprint: str | None
    generation: str | None
    fresh: bool
    owner: str
    now: float
    can_find: bool
    can_cancel: bool
    policy: Policy = Policy()
    key: str = ""
    new_reference: str = ""
    lost_resubmits: int = 0
    attach_only: bool = False
    can_resume: bool = False  # SupportsResumeState: a resubmission may start from the recorded state


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """What ``cancel_resumable`` asks: *rerun* marks the key FAILED (the next run submits afresh)."""

    owner: str
    now: float
    can_find: bool
    can_cancel: bool
    rerun: bool = False
    key: str = ""


# --- observations: what the last action produced ---------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusSeen:
    """The system's answer about the recorded job."""

    job_id: str
    status: str
    active: bool
    succeeded: bool
    resume_state: str | None = None  # where a failed job got to (SupportsResumeState), asked when it failed


@dataclass(frozen=True, slots=True)
class NotFoundSeen:
    """The system answered that it does not know *job_id*; *since*: when that was first heard."""

    job_id: str
    since: float | None = None


@dataclass(frozen=True, slots=True)
class ResultFetched:
    """The result of a job that succeeded; *newer* and *newer_cancelled* carry what was
    learnt about a newer submission while settling which success stands."""

    job_id: str
    status: str
    value: object
    reused: bool
    newer: ReferenceLookup | None = None
    newer_cancelled: bool = False


@dataclass(frozen=True, slots=True)
class ReferenceLookup:
    """What ``find_job_by_reference`` answered (None: no job carries the reference)."""

    reference: str
    job_id: str | None
    context: ResultFetched | None = None


@dataclass(frozen=True, slots=True)
class IntentWritten:
    """Our intent is stored: the reference is ours to submit under."""

    reference: str
    reason: SubmitReason
    previous_job_id: str | None = None


@dataclass(frozen=True, slots=True)
class SubmitAnswered:
    """``submit_job`` returned *job_id* for *reference*; it is not recorded yet."""

    reference: str
    job_id: str
    reason: SubmitReason
    intent_at: float
    previous_job_id: str | None = None


@dataclass(frozen=True, slots=True)
class SubmitRefused:
    """The system refused the submission and proved nothing was created."""

    reference: str
    error: Exception


@dataclass(frozen=True, slots=True)
class SubmitUnusable:
    """``submit_job`` returned for *reference* without a usable job id (*problem* says what it
    returned). It returned, so the system accepted something: the intent is marked accepted."""

    reference: str
    problem: str


@dataclass(frozen=True, slots=True)
class JobRecorded:
    """The record names *job_id* now; *via*: "submitted", "reference" (adopted)."""

    job_id: str
    via: str


@dataclass(frozen=True, slots=True)
class PollEnded:
    """Polling saw a status in which the job can no longer change."""

    job_id: str
    status: str
    succeeded: bool
    resume_state: str | None = None  # where a failed job got to (SupportsResumeState), asked when it failed


@dataclass(frozen=True, slots=True)
class ResultGone:
    """The job succeeded, and the system no longer has its result."""

    job_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Orphan:
    """A submission of ours that the record must list before the run goes on (or *stop*s)."""

    entry: Submission
    stop: Stop | None = None


@dataclass(frozen=True, slots=True)
class Ending:
    """The record says what it must: end the run with *stop*."""

    stop: Stop


@dataclass(frozen=True, slots=True)
class OldJobCancelled:
    """The job a new submission supersedes was cancelled first."""

    job_id: str


@dataclass(frozen=True, slots=True)
class CancelSent:
    """``cancel_job`` was sent for *job_id*; *recorded*: after our cancel record landed."""

    job_id: str
    recorded: bool = False
    resume_state: str | None = None  # what the stopped job reports (a stop-with-savepoint's savepoint)


@dataclass(frozen=True, slots=True)
class CancelRecorded:
    """Our cancel record landed; the job (if any) is still to be told."""

    job_id: str | None


Observation = Union[
    StatusSeen,
    NotFoundSeen,
    ReferenceLookup,
    IntentWritten,
    SubmitAnswered,
    SubmitRefused,
    SubmitUnusable,
    JobRecorded,
    PollEnded,
    ResultFetched,
    ResultGone,
    Orphan,
    Ending,
    OldJobCancelled,
    CancelSent,
    CancelRecorded,
]


# --- actions: what to do next -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Write:
    """Replace the record read last with *record* (compare-and-set where the store can).

    *event* is emitted and *note* logged once it landed; *must_land* retries a failing
    store within the transient budget (the id of a job just submitted: until it lands,
    only a lookup by reference can find the job).
    """

    record: JobRecord
    after: Observation | None = None
    on_conflict: Observation | None = None
    event: Event | None = None
    note: str | None = None
    note_level: int = 30  # logging.WARNING; 20 (INFO) for a note that is routine
    must_land: bool = False


@dataclass(frozen=True, slots=True)
class SubmitJob:
    """Submit under *reference*; starting from *resume_from* (SupportsResumeState) when given."""

    reference: str
    reason: SubmitReason
    intent_at: float
    previous_job_id: str | None = None
    resume_from: str | None = None


@dataclass(frozen=True, slots=True)
class CheckStatus:
    """Ask the recorded job's status; not before *not_before* (confirming a "not found")."""

    job_id: str
    not_found_since: float | None = None
    not_before: float | None = None


@dataclass(frozen=True, slots=True)
class FindByReference:
    reference: str
    context: ResultFetched | None = None


@dataclass(frozen=True, slots=True)
class Poll:
    """Poll *job_id* to a status in which it can no longer change."""

    job_id: str
    event: Event | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    job_id: str
    status: str
    reused: bool = True
    event: Event | None = None


@dataclass(frozen=True, slots=True)
class CancelJob:
    job_id: str
    after: Observation | None = None
    event: Event | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class WaitForOwner:
    """Another live process holds the intent's lease; look again, at the latest at *until*."""

    until: float
    event: Event | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnRecorded:
    """End the run with the result recorded under the key."""

    event: Event | None = None


@dataclass(frozen=True, slots=True)
class Return:
    """End the run with *value* (the result just fetched)."""

    value: object
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    """End ``cancel_resumable`` with the record as it stands."""

    event: Event | None = None


class StopKind(str, enum.Enum):
    """Why a run ends with an error; each kind maps to one error class."""

    AMBIGUOUS = "ambiguous"                    # AmbiguousSubmission
    LOST = "lost"                              # JobLost
    CANCELLED = "cancelled"                    # JobCancelled
    FAILED = "failed"                          # JobFailed
    REJECTED = "rejected"                      # the adapter's SubmissionRejected
    RESULT_UNAVAILABLE = "result_unavailable"  # ResultUnavailable
    CANNOT_CANCEL = "cannot_cancel"            # InvalidArgument
    NOTHING_TO_ATTACH = "nothing_to_attach"    # NothingToAttach
    PROTOCOL = "protocol"                      # ProtocolError


@dataclass(frozen=True, slots=True)
class Stop:
    """End the run with the error *kind* names; *detail* says what a human should know."""

    kind: StopKind
    job_id: str | None = None
    status: str | None = None
    detail: str | None = None
    cause: Exception | None = None
    note: str | None = None


# What decide() can answer, and what decide_cancel() can: a driver's loop over one of
# them is closed with assert_never.
RunAction = Union[
    Write, SubmitJob, CheckStatus, FindByReference, Poll, FetchResult, CancelJob, WaitForOwner,
    ReturnRecorded, Return, Stop,
]
CancelAction = Union[Write, FindByReference, CancelJob, WaitForOwner, ReturnRecord, Stop]
Action = Union[RunAction, CancelAction]



# --- run_resumable's decision ---------------------------------------------------------------


def decide(record: JobRecord | None, observation: Observation | None, request: Request) -> RunAction:
    """The next action of a run, given the record as last read and what was just observed."""
    obs = observation
    # This run's own work in flight comes first: it holds facts the record may not (yet).
    if isinstance(obs, IntentWritten):
        return _after_intent(record, obs)
    if isinstance(obs, SubmitAnswered):
        return _after_submit(record, obs, request)
    if isinstance(obs, SubmitRefused):
        return _after_refusal(record, obs, request)
    if isinstance(obs, SubmitUnusable):
        return _after_unusable(record, obs, request)
    if isinstance(obs, JobRecorded):
        return _after_job_recorded(record, obs, request)
    if isinstance(obs, PollEnded):
        return _after_poll(record, obs, request)
    if isinstance(obs, ResultFetched):
        return _after_result(record, obs, request)
    if isinstance(obs, ReferenceLookup) and obs.context is not None:
        return _after_result(record, replace(obs.context, newer=obs), request)
    if isinstance(obs, ResultGone):
        return Stop(StopKind.RESULT_UNAVAILABLE, obs.job_id, obs.status,
                    detail="the job succeeded but the external system no longer has its result")
    if isinstance(obs, Orphan):
        return _list_orphan(record, obs, request)
    if isinstance(obs, Ending):
        return obs.stop
    return _from_record(record, obs, request)


def _from_record(record: JobRecord | None, obs: Observation | None, request: Request) -> RunAction:
    """Rules 1-6 of the README, in order: what the record (and a status or lookup) calls for."""
    if record is None:
        return _submit(None, SubmitReason.NEW, request)

    reason = superseded_reason(record, request)
    if reason is not None:
        return _supersede(record, reason, obs, request)

    if record.phase is Phase.SUCCEEDED:
        if record.has_result:
            return ReturnRecorded(ResultReused(request.key, record.reference, record.job_id, False))
        if record.job_id is None or record.status is None:
            return Stop(StopKind.RESULT_UNAVAILABLE, record.job_id, record.status,
                        detail="the job succeeded but its result was not recorded and cannot be fetched")
        return _fetch_reused(record, record.job_id, record.status, request)
    if record.phase is Phase.FAILED:
        return _submit(record, SubmitReason.PREVIOUS_FAILED, request)
    if record.phase is Phase.CANCELLED:
        # A cancel is a decision about this logical job, not a failure: an automatic
        # retry must not undo it. A fresh run, a new generation, a new spec (above) or
        # forgetting the key starts over.
        return Stop(StopKind.CANCELLED, record.job_id, record.status)
    if record.phase is Phase.SUBMITTED:
        return _submitted(record, obs, request)
    return _intent(record, obs, request)


def _submitted(record: JobRecord, obs: Observation | None, request: Request) -> RunAction:
    job_id = record.job_id
    assert job_id is not None  # a SUBMITTED record always names its job (JobRecord.from_json)
    if isinstance(obs, StatusSeen) and obs.job_id == job_id:
        if obs.active:
            return Poll(job_id, Reattached(request.key, record.reference, job_id, obs.status, "record"))
        if obs.succeeded:
            return _fetch_reused(record, job_id, obs.status, request)
        return _submit(record, SubmitReason.PREVIOUS_FAILED, request, previous_status=obs.status,
                       seen_state=obs.resume_state)
    if isinstance(obs, NotFoundSeen) and obs.job_id == job_id:
        return _not_found(record, job_id, obs, request)
    return CheckStatus(job_id)


def _not_found(record: JobRecord, job_id: str, obs: NotFoundSeen, request: Request) -> RunAction:
    """The system does not know the recorded job: confirm, then follow ``on_lost``, within a bound."""
    since = request.now if obs.since is None else obs.since
    settle = request.policy.lost_settle
    if settle > 0 and request.now < since + settle:
        # One "unknown" is not a verdict: a restarted system may not know the job yet.
        return CheckStatus(job_id, not_found_since=since, not_before=since + settle)
    if request.policy.on_lost is OnLost.FAIL:
        return Stop(StopKind.LOST, job_id,
                    detail="the external system does not know the recorded job (policy on_lost='fail')")
    if request.lost_resubmits >= request.policy.max_lost_resubmits:
        earlier = [h.job_id for h in record.history if h.outcome is Outcome.LOST and h.job_id is not None]
        ids = [*earlier[len(earlier) - request.lost_resubmits:], job_id] if request.lost_resubmits else [job_id]
        return Stop(StopKind.LOST, job_id, detail=(
            f"the external system forgot every job this run submitted or found ({', '.join(ids)}); "
            f"stopped after {request.lost_resubmits} resubmission(s) (Policy.max_lost_resubmits)"))
    return _submit(record, SubmitReason.JOB_LOST, request)


def _intent(record: JobRecord, obs: Observation | None, request: Request) -> RunAction:
    """INTENT: a reference was persisted, the job id was not (yet)."""
    if isinstance(obs, ReferenceLookup) and obs.reference == record.reference:
        if obs.job_id is not None:  # adopt what an earlier attempt submitted
            return Write(record.with_job_id(request.now, obs.job_id), after=JobRecorded(obs.job_id, "reference"))
        if _lease_held_by_other(record, request):
            return _wait_for_owner(record, request)
        if record.accepted:
            return _accepted_stop(record, "no job carries it")
        return _submit(record, SubmitReason.NOT_SUBMITTED, request, same_reference=True)
    if request.can_find:
        return FindByReference(record.reference)
    if _lease_held_by_other(record, request):
        return _wait_for_owner(record, request)
    if record.accepted:  # whatever on_ambiguous says, and in an attach-only run too
        return _accepted_stop(record, "this job cannot be looked up by reference")
    if request.policy.on_ambiguous is OnAmbiguous.FAIL:
        return Stop(StopKind.AMBIGUOUS, detail=(
            f"an earlier attempt recorded submission reference {record.reference!r} but no job id, and "
            "this job cannot be looked up by reference: check the external system, then forget "
            "the key (to submit again) or rerun with on_ambiguous='resubmit'"))
    return _submit(record, SubmitReason.AMBIGUOUS, request, same_reference=True)


def _accepted_stop(record: JobRecord, why: str) -> Stop:
    """An accepted intent (submit_job returned, without a usable id) that no lookup names."""
    return Stop(StopKind.AMBIGUOUS, detail=(
        f"an earlier attempt's submit_job returned for submission reference {record.reference!r} without a usable "
        f"job id, so the external system accepted something, and {why}; it is never resubmitted blind: check the "
        "external system, then forget the key (to submit again) or run it fresh"))


def _supersede(record: JobRecord, reason: SubmitReason, obs: Observation | None, request: Request) -> RunAction:
    """A fresh run, a new generation or a new spec replaces the recorded submission."""
    if request.attach_only:  # before the old job's cancel, not only before the new submit
        return _attach_only_stop(record, reason)
    old = record.job_id
    if record.phase.terminal or old is None:
        # An intent with no id may have a job behind it that we cannot name: it is
        # left alone (documented), and the new spec is submitted.
        return _submit(record, reason, request)
    cancel = request.policy.on_superseded is OnSuperseded.CANCEL and request.can_cancel
    if cancel and obs != OldJobCancelled(old):
        # Before the new intent: that write drops the old id from the record, and a
        # crash right after it would leave the old job running, named nowhere.
        return CancelJob(old, after=OldJobCancelled(old),
                         event=Superseded(request.key, record.reference, old, reason, True))
    event = None if cancel else Superseded(request.key, record.reference, old, reason, False)
    return _submit(record, reason, request, event=event)


def _submit(
    record: JobRecord | None,
    reason: SubmitReason,
    request: Request,
    *,
    same_reference: bool = False,
    previous_status: str | None = None,
    event: Event | None = None,
    seen_state: str | None = None,
) -> Write | Stop:
    """Write the intent (reference, fingerprint, lease) that comes before every submit.

    Every decision to submit comes through here, so an attach-only run stops here.
    """
    if request.attach_only:
        return _attach_only_stop(record, reason, previous_status)
    now = request.now
    lease_until = now + request.policy.intent_lease
    if record is not None and same_reference:
        intent = record.evolve(now, phase=Phase.INTENT, owner=request.owner, lease_until=lease_until)
    else:
        if not request.new_reference:
            raise ValueError("Request.new_reference is needed to start a submission")
        history_source = record if record is None else with_resume_state(record, seen_state)
        if record is not None and history_source is not None and not record.phase.terminal:
            # What became of the submission being replaced, for its history entry.
            ended = {SubmitReason.PREVIOUS_FAILED: Outcome.FAILED, SubmitReason.JOB_LOST: Outcome.LOST}.get(
                reason, Outcome.SUPERSEDED
            )
            history_source = history_source.evolve(now, history=mark_history(
                history_source, record.reference, outcome=ended, ended_at=now, status=previous_status))
        intent = new_intent(
            request.key,
            request.new_reference,
            now,
            previous=history_source,
            fingerprint=request.fingerprint,
            generation=request.generation,
            owner=request.owner,
            lease_until=lease_until,
            started_from=resume_from(history_source, reason, request),
        )
    note = None if reason is SubmitReason.NEW else f"resubmitting because {reason.value}"
    if intent.resume_state is not None and not same_reference:
        note = f"{note}, starting from {intent.resume_state}"
    # A possible duplicate is worth a warning; a failed job or a fresh run is routine.
    level = 30 if reason in (SubmitReason.AMBIGUOUS, SubmitReason.JOB_LOST) else 20
    previous_job_id = record.job_id if record is not None else None
    return Write(intent, after=IntentWritten(intent.reference, reason, previous_job_id), event=event, note=note,
                 note_level=level)


def _attach_only_stop(record: JobRecord | None, reason: SubmitReason, status: str | None = None) -> Stop:
    """What an attach-only run found where another run would submit, as the error that says it.

    The run's own failure types where they fit (a job that had failed, a job the system
    forgot, a submission that cannot be looked up), so a caller's handling of them holds;
    NothingToAttach where no job of this key's current request exists at all.
    """
    not_again = "an attach-only run does not submit"
    if record is None:
        return Stop(StopKind.NOTHING_TO_ATTACH, detail=f"nothing is recorded under this key; {not_again}")
    job_id, status = record.job_id, status or record.status
    if reason is SubmitReason.PREVIOUS_FAILED:
        return Stop(StopKind.FAILED, job_id, status,
                    detail=f"job {job_id} had ended {status} before this run attached; {not_again} again")
    if reason is SubmitReason.JOB_LOST:
        return Stop(StopKind.LOST, job_id,
                    detail=f"the external system does not know the recorded job {job_id}; {not_again} again")
    if reason is SubmitReason.AMBIGUOUS:
        return Stop(StopKind.AMBIGUOUS, detail=(
            f"an earlier attempt recorded submission reference {record.reference!r} but no job id, and this "
            f"job cannot be looked up by reference; {not_again}"))
    if reason is SubmitReason.NOT_SUBMITTED:
        return Stop(StopKind.NOTHING_TO_ATTACH, detail=(
            f"no job carries the recorded submission reference {record.reference}: the process that recorded "
            f"it stopped before submitting; {not_again}"))
    return Stop(StopKind.NOTHING_TO_ATTACH, job_id, status, detail=(
        f"the recorded job {job_id or record.reference} belongs to another request ({reason.value}); {not_again}"))


def _after_intent(record: JobRecord | None, obs: IntentWritten) -> SubmitJob:
    entry = _latest(record, obs.reference) if record is not None else None
    intent_at = entry.intent_at if entry is not None else (record.updated_at if record is not None else 0.0)
    return SubmitJob(obs.reference, obs.reason, intent_at, obs.previous_job_id,
                     resume_from=entry.started_from if entry is not None else None)


def _after_submit(record: JobRecord | None, obs: SubmitAnswered, request: Request) -> RunAction:
    """Record the id of the job just submitted, or settle what becomes of it if the key moved on."""
    ours = record is not None and record.reference == obs.reference
    if record is not None and ours and record.phase is Phase.CANCELLED:
        # Cancelled while we were submitting: the job we just made must not run.
        stop = Stop(StopKind.CANCELLED, obs.job_id, detail="this key was cancelled while the job was being submitted")
        orphan = Orphan(_entry(obs, Outcome.CANCELLED, request.now), stop)
        return CancelJob(obs.job_id, after=orphan) if request.can_cancel else _list_orphan(record, orphan, request)
    if record is not None and ours and record.job_id == obs.job_id:
        return Poll(obs.job_id)  # another process adopted our job by reference
    if record is not None and ours and record.phase is Phase.INTENT and record.job_id is None:
        # Ours, or taken over by a process that has not named the job yet: name it.
        return Write(
            record.with_job_id(request.now, obs.job_id),
            after=JobRecorded(obs.job_id, "submitted"),
            on_conflict=obs,
            event=Submitted(request.key, obs.reference, obs.job_id, obs.reason, obs.previous_job_id),
            must_land=True,
        )
    # Someone else owns the key now: our job is a duplicate. Stop it when we can, and
    # make sure it appears in the history either way.
    cancel = request.can_cancel
    orphan = Orphan(_entry(obs, Outcome.CANCELLED if cancel else Outcome.SUPERSEDED, request.now))
    note = f"lost the key to another process; duplicate job {obs.job_id} {'cancelled' if cancel else 'left running'}"
    if cancel:
        return CancelJob(obs.job_id, after=orphan, note=note)
    return _list_orphan(record, orphan, request, note=note)


def _after_refusal(record: JobRecord | None, obs: SubmitRefused, request: Request) -> RunAction:
    """Definite: nothing was submitted. Record it so a retry starts clean, then say so."""
    stop = Stop(StopKind.REJECTED, cause=obs.error)
    if record is not None and record.reference == obs.reference and record.phase is Phase.INTENT:
        return Write(record.ended(request.now, Phase.FAILED, Outcome.FAILED, status="REJECTED"),
                     after=Ending(stop), on_conflict=obs)
    return stop


def _after_unusable(record: JobRecord | None, obs: SubmitUnusable, request: Request) -> RunAction:
    """Mark the intent accepted (lease released: this run ends), then end with ProtocolError."""
    stop = Stop(StopKind.PROTOCOL, detail=(
        f"{obs.problem}, not a non-empty job id string; the intent for reference {obs.reference!r} is kept "
        "and marked accepted: the next run finds the job by reference or stops for a person"))
    if record is not None and record.reference == obs.reference and record.phase is Phase.INTENT \
            and not record.accepted:
        lease = None if record.owner == request.owner else record.lease_until  # ours to release only
        return Write(record.evolve(request.now, accepted=True, lease_until=lease), after=Ending(stop), on_conflict=obs)
    return stop  # already marked, or the key moved on: nothing of ours to mark


def _after_job_recorded(record: JobRecord | None, obs: JobRecorded, request: Request) -> Poll:
    if obs.via == "reference" and record is not None:
        return Poll(obs.job_id, Reattached(request.key, record.reference, obs.job_id, None, "reference"))
    return Poll(obs.job_id)


def _after_poll(record: JobRecord | None, obs: PollEnded, request: Request) -> RunAction:
    """The status seen at the end of polling: this run's own job ended.

    Unlike the same status seen on a later run (rule 5: resubmit), a failure seen
    here ends the run with JobFailed: the caller's retry policy decides what next.
    """
    if obs.succeeded:
        return FetchResult(obs.job_id, obs.status, reused=False)
    failed = Stop(StopKind.FAILED, obs.job_id, obs.status)
    if record is None or record.job_id != obs.job_id:
        return replace(failed, note=f"record moved on to another job; outcome {obs.status} not recorded")
    if record.phase is Phase.CANCELLED:
        # The cancel landed between our read and our write: it stands.
        return Stop(StopKind.CANCELLED, obs.job_id, obs.status, detail=f"job {obs.job_id} was cancelled")
    if record.phase is Phase.FAILED:
        return failed  # another process recorded the same outcome
    return Write(with_resume_state(record, obs.resume_state).ended(request.now, Phase.FAILED, Outcome.FAILED,
                                                                   status=obs.status),
                 after=Ending(failed), on_conflict=obs)


def _after_result(record: JobRecord | None, obs: ResultFetched, request: Request) -> RunAction:
    """Whether and how a result is recorded, and which success stands for the key."""
    recordable = is_json(obs.value)
    if record is not None and record.job_id == obs.job_id:
        if record.phase is Phase.SUCCEEDED and (record.has_result or not recordable):
            # Recorded only when it round-trips through JSON unchanged (is_json).
            note = None if recordable else f"result of job {obs.job_id} is not JSON; not recorded"
            return Return(obs.value, note=note)
        # Over a cancel too: the job finished before the cancel reached it.
        return Write(_succeeded(record, obs, request.now, recordable), after=obs, on_conflict=obs)
    if record is not None and _declared_lost(record, obs.job_id):
        return _reclaim(record, obs, request, recordable)
    if (
        record is not None
        and record.phase is Phase.SUCCEEDED
        and record.has_result
        and superseded_reason(record, request) is None
    ):
        # Another submission for this key succeeded and was recorded first: one key,
        # one result, so every caller returns the recorded one.
        return Return(record.result,
                      note=f"job {obs.job_id} succeeded too; returning the recorded result of {record.job_id}")
    return Return(obs.value, note=f"record moved on to another job; outcome {obs.status} not recorded")


def _reclaim(record: JobRecord, obs: ResultFetched, request: Request, recordable: bool) -> RunAction:
    """A success beats a "lost" verdict on the same job: record it, end the newer submission.

    Another process found the job unknown (a finished job the system forgot) and
    submitted anew, while this run saw it succeed. The success is real: rather than
    run the job twice, the newer submission is cancelled when it can be (looked up by
    reference when its id is not recorded yet), and left alone when nobody can name it.
    """
    newer_id = record.job_id
    if newer_id is None and request.can_find and obs.newer is None:
        return FindByReference(record.reference, context=obs)  # its submit may be in flight or done
    if newer_id is None and obs.newer is not None:
        newer_id = obs.newer.job_id
    if newer_id is not None and request.can_cancel and not obs.newer_cancelled:
        return CancelJob(newer_id, after=replace(obs, newer_cancelled=True))
    outcome = Outcome.CANCELLED if obs.newer_cancelled else Outcome.SUPERSEDED
    ours = next(h for h in reversed(record.history) if h.job_id == obs.job_id)
    named = {} if newer_id is None else {"job_id": newer_id}
    history = mark_history(record, record.reference, outcome=outcome, ended_at=request.now, **named)
    revived = replace(record, reference=ours.reference, job_id=obs.job_id, history=history)
    note = (f"job {obs.job_id} succeeded after being declared lost; newer submission "
            f"{newer_id or record.reference} {outcome.value}")
    return Write(_succeeded(revived, obs, request.now, recordable), after=obs, on_conflict=obs, note=note)


def _succeeded(record: JobRecord, obs: ResultFetched, now: float, recordable: bool) -> JobRecord:
    stored: JsonValue = obs.value if recordable else None  # type: ignore[assignment]  # is_json checked it
    return record.ended(now, Phase.SUCCEEDED, Outcome.SUCCEEDED, status=obs.status, job_id=obs.job_id,
                        has_result=recordable, result=stored)


def _declared_lost(record: JobRecord, job_id: str) -> bool:
    """Another process found *job_id* unknown to the system and moved on to a newer submission."""
    ours = next((h for h in reversed(record.history) if h.job_id == job_id), None)
    return ours is not None and ours.outcome is Outcome.LOST and not record.phase.terminal


def _list_orphan(record: JobRecord | None, obs: Orphan, request: Request, *, note: str | None = None) -> RunAction:
    """Make sure the record's history lists our submission *obs.entry*, then go on (or stop)."""
    entry = obs.entry
    if record is None or any(h.reference == entry.reference and h.job_id == entry.job_id for h in record.history):
        return obs.stop if obs.stop is not None else _from_record(record, None, request)
    listed = record.evolve(request.now, history=record.history + (entry,))
    after = Ending(obs.stop) if obs.stop is not None else None
    return Write(listed, after=after, on_conflict=obs, note=note)


def _fetch_reused(record: JobRecord, job_id: str, status: str, request: Request) -> FetchResult:
    return FetchResult(job_id, status, reused=True, event=ResultReused(request.key, record.reference, job_id, True))


def _entry(obs: SubmitAnswered, outcome: Outcome, now: float) -> Submission:
    return Submission(reference=obs.reference, job_id=obs.job_id, outcome=outcome, intent_at=obs.intent_at,
                      ended_at=now)


def _latest(record: JobRecord, reference: str) -> Submission | None:
    return next((h for h in reversed(record.history) if h.reference == reference), None)


def _wait_for_owner(record: JobRecord, request: Request) -> WaitForOwner:
    until = record.lease_until if record.lease_until is not None else request.now
    return WaitForOwner(until, WaitingForOwner(request.key, record.reference, record.owner, until))


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


def _lease_held_by_other(record: JobRecord, request: Request) -> bool:
    """Another live process wrote this intent and may be submitting right now."""
    return (
        record.owner is not None
        and record.owner != request.owner
        and record.lease_until is not None
        and record.lease_until > request.now
    )


# --- resumption from a recorded state (SupportsResumeState) ----------------------------------


def resume_from(record: JobRecord | None, reason: SubmitReason, request: Request) -> str | None:
    """The state a new submission for *reason* starts from: the recorded one, or none.

    Only a resubmission of the same request resumes: after a failure or a lost job. A first
    submission, a fresh run, a new generation or a changed spec starts afresh (their state
    belongs to another request), and so does everything under ``Policy(resume=False)``.
    """
    if record is None or not request.can_resume or not request.policy.resume:
        return None
    if reason not in (SubmitReason.PREVIOUS_FAILED, SubmitReason.JOB_LOST):
        return None
    return record.resume_state


def with_resume_state(record: JobRecord, state: str | None) -> JobRecord:
    """*record* with *state* as the current submission's newest state (record and history
    entry); unchanged when there is none or it is the same. Not a write of its own: it goes
    with the write that ends or replaces the submission."""
    if state is None or state == record.resume_state:
        return record
    return replace(record, resume_state=state, history=mark_history(record, record.reference, resume_state=state))


def _cancel_sent(obs: Observation | None, job_id: str) -> bool:
    """The cancel of *job_id* was sent (whatever the stopped job then reported)."""
    return isinstance(obs, CancelSent) and obs.job_id == job_id and not obs.recorded


# --- cancel_resumable's decision ------------------------------------------------------------


def decide_cancel(record: JobRecord | None, observation: Observation | None, request: CancelRequest) -> CancelAction:
    """The next step of a cancel: mark the key so no retry undoes it, and stop the job.

    The record is written *before* the job is killed, so that a retry starting in
    between sees the cancel, not a failed job to resubmit. With ``rerun`` it is the
    other way round: the job is killed first, then the key marked FAILED, so the next
    run submits afresh only once the old job was told to stop.
    """
    obs = observation
    if record is None:
        return ReturnRecord()
    if isinstance(obs, CancelRecorded):
        if obs.job_id is not None and not request.rerun:
            return CancelJob(obs.job_id, after=CancelSent(obs.job_id, recorded=True))
        return ReturnRecord(Cancelled(request.key, record.reference, obs.job_id))
    if isinstance(obs, CancelSent) and obs.recorded:
        return ReturnRecord(Cancelled(request.key, record.reference, obs.job_id))
    if record.phase is Phase.CANCELLED:
        # Repeating a cancel re-sends it: one that failed half-way is simply run again.
        if record.job_id is not None and not _cancel_sent(obs, record.job_id):
            if not request.can_cancel:
                return Stop(StopKind.CANNOT_CANCEL, record.job_id)
            return CancelJob(record.job_id, after=CancelSent(record.job_id))
        return ReturnRecord()
    if record.phase.terminal:
        return ReturnRecord()

    job_id = record.job_id
    if job_id is None and isinstance(obs, ReferenceLookup) and obs.reference == record.reference:
        job_id = obs.job_id
    elif job_id is None and isinstance(obs, CancelSent):
        job_id = obs.job_id
    elif job_id is None and request.can_find:
        return FindByReference(record.reference)
    if job_id is None and record.lease_until is not None and record.lease_until > request.now:
        # Another process may be inside submit_job right now: marking the intent cancelled
        # could leave the job it is creating running, named nowhere. Wait for its id (or
        # for its lease to run out), then cancel that.
        return WaitForOwner(record.lease_until,
                            note="a submission is in flight; waiting for its job id before cancelling")
    if job_id is not None and not request.can_cancel:
        return Stop(StopKind.CANNOT_CANCEL, job_id)
    if request.rerun and job_id is not None and not _cancel_sent(obs, job_id):
        return CancelJob(job_id, after=CancelSent(job_id))
    stopped = with_resume_state(record, obs.resume_state if isinstance(obs, CancelSent) else None)
    final = stopped.ended(request.now, Phase.FAILED if request.rerun else Phase.CANCELLED, Outcome.CANCELLED,
                          status=record.status, job_id=job_id)
    note = None if job_id is not None else "no job id recorded or found; marking the intent cancelled"
    return Write(final, after=CancelRecorded(job_id), on_conflict=obs, note=note)


def released(record: JobRecord | None, owner: str, now: float, *, submit_interrupted: bool = False) -> JobRecord | None:
    """The record to write when a run of *owner* ends holding its intent's lease: the same
    intent and reference, the lease gone, so the next run does not wait for a dead owner.

    A lease is a bound for owners that cannot say they are gone. Kept only when the run
    was interrupted (a signal, a cancelled task) inside submit_job: that call may still be
    at work (a worker thread, a request the server is still taking), and the lease is
    what bounds it.
    """
    if record is None or record.phase is not Phase.INTENT or record.owner != owner:
        return None
    if record.lease_until is None or record.lease_until <= now or submit_interrupted:
        return None
    return record.evolve(now, lease_until=None)


def status_update(record: JobRecord | None, job_id: str, status: str, active: bool, now: float) -> JobRecord | None:
    """The record to write when polling sees *status*: changes of an active job only.

    The store is written on state changes, never on every poll; a terminal status is
    written once, with the outcome, by the decision that follows the poll.
    """
    if record is None or record.job_id != job_id or record.phase is not Phase.SUBMITTED:
        return None
    if record.status == status or not active:
        return None
    return record.evolve(now, status=status)
