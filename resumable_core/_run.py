"""run_resumable: sequence the pure decision against a job and a store."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Generic, TypeVar, cast

from ._decision import (
    Action,
    Adopt,
    Attach,
    CheckStatus,
    FetchResult,
    FindByReference,
    NotFoundSeen,
    Observation,
    Policy,
    ReferenceLookup,
    Request,
    ReturnRecorded,
    StatusSeen,
    Stop,
    Submit,
    WaitForOwner,
    decide,
    superseded_reason,
)
from ._errors import (
    AmbiguousSubmission,
    ConcurrentUpdate,
    JobCancelled,
    JobFailed,
    JobLost,
    JobNotFound,
    ResultUnavailable,
    StoreError,
    SubmissionRejected,
)
from ._events import (
    EventListener,
    Finished,
    Reattached,
    ResultReused,
    StatusChanged,
    SubmitReason,
    Submitted,
    Superseded,
    WaitingForOwner,
)
from ._polling import Poller, PollPolicy
from ._protocols import (
    ResumableJob,
    StateStore,
    SupportsCancel,
    SupportsFindByReference,
    SupportsFingerprint,
)
from ._record import (
    JobRecord,
    Outcome,
    Phase,
    mark_history,
    new_intent,
    recordable_result,
)
from ._session import Session, new_reference
from ._types import JsonValue

R = TypeVar("R")

_MAX_STEPS = 100  # submissions/adoptions tried per run: only a store that keeps changing under us gets near


@dataclass(frozen=True, slots=True)
class _Retry:
    """The store changed under us: read it again and decide again."""


@dataclass(frozen=True, slots=True)
class _PollJob:
    job_id: str


class _Runner(Session, Generic[R]):
    def __init__(
        self, job: ResumableJob[R], store: StateStore, key: str, *, fresh: bool, generation: str | None, **session: Any
    ) -> None:
        super().__init__(job, store, key, **session)
        self.typed_job = job
        self.fresh = fresh
        self.generation = generation
        self.fingerprint = job.job_fingerprint() if isinstance(job, SupportsFingerprint) else None
        self.attached = False
        self.waiting_for: tuple[str | None, float] | None = None
        self.poller.on_status = self._on_status
        self.polling_job: str | None = None

    def request(self) -> Request:
        return Request(
            fingerprint=self.fingerprint,
            generation=self.generation,
            fresh=self.fresh,
            owner=self.owner,
            now=self.clock(),
            can_find=isinstance(self.job, SupportsFindByReference),
            can_cancel=isinstance(self.job, SupportsCancel),
            policy=self.policy,
        )

    def run(self) -> R:
        self.load()
        observation: Observation | None = None
        steps = 0
        while True:
            if steps > _MAX_STEPS:
                raise ConcurrentUpdate(
                    f"gave up after {_MAX_STEPS} submissions or adoptions: the record keeps changing", key=self.key
                )
            action: Action = decide(self.record, observation, self.request())
            observation = None
            # Looking and waiting are bounded by the lease and the transient budget;
            # what can repeat without end is losing writes to other processes.
            if isinstance(action, (Submit, Adopt)):
                steps += 1
            if isinstance(action, ReturnRecorded):
                assert self.record is not None
                self.emit(ResultReused(self.key, self.record.reference, self.record.job_id, False))
                self.log(logging.INFO, "result reused from the record, nothing submitted")
                # Recorded only when it round-trips through JSON unchanged (is_json).
                return cast(R, self.record.result)
            if isinstance(action, CheckStatus):
                observation = self.observe(action.job_id)
                continue
            if isinstance(action, FindByReference):
                observation = self.find(action.reference)
                continue
            if isinstance(action, WaitForOwner):
                self.wait_for_owner(action.until)
                continue
            if isinstance(action, Adopt):
                self.adopt(action.job_id)
                continue
            if isinstance(action, Stop):
                raise self.stop_error(action)
            if isinstance(action, FetchResult):
                return self.succeed(action.job_id, action.status, reused=True)
            if isinstance(action, Attach):
                self.note_reattached(action.job_id, action.status, via="record")
                outcome: _Retry | _PollJob = _PollJob(action.job_id)
            else:
                outcome = self.submit(action)
            if isinstance(outcome, _Retry):
                self.load()
                continue
            try:
                status = self.typed_job.poll_until_complete(outcome.job_id, self.poller_for(outcome.job_id))
            except JobNotFound:
                # Forgotten while we polled (master restarted without recovery...).
                self.log(logging.WARNING, "job vanished while polling", job_id=outcome.job_id)
                self.load()
                observation = NotFoundSeen(outcome.job_id)
                continue
            return self.finish(outcome.job_id, status)

    # -- the steps -------------------------------------------------------------------------

    def observe(self, job_id: str) -> Observation:
        try:
            status = self.poller.status(self.job, job_id)
        except JobNotFound:
            return NotFoundSeen(job_id)
        return StatusSeen(
            job_id, status, self.job.is_job_active(status), self.job.is_job_succeeded(status)
        )

    def find(self, reference: str) -> ReferenceLookup:
        job = cast(SupportsFindByReference, self.job)
        found = self.poller.retry_transient(
            lambda: job.find_job_by_reference(reference), what=f"lookup of reference {reference!r}"
        )
        return ReferenceLookup(reference, found)

    def wait_for_owner(self, until: float) -> None:
        record = self.record
        assert record is not None
        if self.waiting_for != (record.owner, until):  # once per owner, not once per look
            self.waiting_for = (record.owner, until)
            self.emit(WaitingForOwner(self.key, record.reference, record.owner, until))
            self.log(logging.INFO, "another process is submitting this key; waiting for its job id")
        pause = max(0.0, min(until - self.clock(), self.poll_policy.min_interval or 0.5))
        self.sleep(pause)
        self.load()

    def adopt(self, job_id: str) -> None:
        record = self.record
        assert record is not None
        now = self.clock()
        if self.write(record.with_job_id(now, job_id)):
            self.note_reattached(job_id, None, via="reference")
        else:
            self.load()

    def note_reattached(self, job_id: str, status: str | None, *, via: str) -> None:
        if self.attached:
            return
        self.attached = True
        assert self.record is not None
        self.emit(Reattached(self.key, self.record.reference, job_id, status, via))
        self.log(logging.INFO, "reattached to job %s (found by %s, status %s)", job_id, via, status, job_id=job_id)

    def stop_error(self, action: Stop) -> Exception:
        record = self.record
        reference = record.reference if record is not None else None
        if action.kind == "ambiguous":
            return AmbiguousSubmission(
                f"an earlier attempt recorded submission reference {reference!r} but no job id, and "
                "this job cannot be looked up by reference: check the external system, then forget "
                "the key (to submit again) or rerun with on_ambiguous='resubmit'",
                key=self.key,
            )
        if action.kind == "cancelled":
            return JobCancelled(
                "this key was cancelled; run it fresh (fresh=True, a new generation) or forget the key "
                "to submit again",
                key=self.key,
                job_id=action.job_id,
                status=record.status if record is not None else None,
            )
        if action.kind == "lost":
            return JobLost(
                "the external system does not know the recorded job (policy on_lost='fail')",
                key=self.key,
                job_id=action.job_id,
            )
        return ResultUnavailable(
            "the job succeeded but its result was not recorded and cannot be fetched",
            key=self.key,
            job_id=action.job_id,
        )

    def submit(self, action: Submit) -> _Retry | _PollJob:
        previous = self.record
        now = self.clock()
        lease_until = now + self.policy.intent_lease
        if previous is not None and action.same_reference:
            intent = previous.evolve(now, phase=Phase.INTENT, owner=self.owner, lease_until=lease_until)
        else:
            history_source = previous
            if previous is not None and not previous.phase.terminal:
                ended = {
                    SubmitReason.PREVIOUS_FAILED: Outcome.FAILED,
                    SubmitReason.JOB_LOST: Outcome.LOST,
                }.get(action.reason, Outcome.SUPERSEDED)
                history_source = previous.evolve(
                    now,
                    history=mark_history(
                        previous, previous.reference, outcome=ended, ended_at=now, status=action.previous_status
                    ),
                )
            intent = new_intent(
                self.key,
                new_reference(),
                now,
                previous=history_source,
                fingerprint=self.fingerprint,
                generation=self.generation,
                owner=self.owner,
                lease_until=lease_until,
            )
        if action.supersede_job_id is not None:
            # Before the new intent: that write drops the old id from the record,
            # and a crash right after it would leave the old job running unnamed.
            self.supersede(action)
        if not self.write(intent):
            return _Retry()
        if action.reason is not SubmitReason.NEW:
            level = logging.WARNING if action.reason in (SubmitReason.AMBIGUOUS, SubmitReason.JOB_LOST) else logging.INFO
            self.log(level, "resubmitting because %s", action.reason.value)

        try:
            job_id = self.typed_job.submit_job(intent.reference)
        except SubmissionRejected as exc:
            # Definite: nothing was submitted. Record it so a retry starts clean.
            self.write(intent.ended(self.clock(), Phase.FAILED, Outcome.FAILED, status="REJECTED"))
            exc.key = exc.key or self.key
            raise
        # Anything else (a timeout, a crash) leaves the intent: the submission may
        # exist, and the next attempt looks it up by reference or follows on_ambiguous.

        if not self.write_job_id(intent.with_job_id(self.clock(), job_id), job_id):
            return self.lost_race(intent, job_id)
        previous_job = previous.job_id if previous is not None else None
        self.emit(Submitted(self.key, intent.reference, job_id, action.reason, previous_job))
        self.log(logging.INFO, "submitted job %s (%s)", job_id, action.reason.value, job_id=job_id)
        return _PollJob(job_id)

    def write_job_id(self, recorded: JobRecord, job_id: str) -> bool:
        """Persist the id of the job just submitted, retrying a failing store.

        This write is the one that must not be lost: until it lands, only a
        lookup by reference can find the job. If the store stays down, the error
        names the job id (and so does the log), so a human can find it.
        """
        attempt = 0
        while True:
            try:
                return self.write(recorded)
            except StoreError as exc:
                attempt += 1
                if attempt >= self.poll_policy.transient_attempts:
                    exc.job_id = job_id
                    exc.key = exc.key or self.key
                    self.log(
                        logging.ERROR,
                        "submitted job %s but could not record its id: %s",
                        job_id,
                        exc.message,
                        job_id=job_id,
                    )
                    raise
                self.log(logging.WARNING, "store failed recording job %s; retrying", job_id, job_id=job_id)
                self.sleep(self.poll_policy.interval(attempt - 1, self.rand()))

    def supersede(self, action: Submit) -> None:
        old = action.supersede_job_id
        cancelled = False
        if action.cancel_superseded and old is not None:
            self.cancel_job(old)
            cancelled = True
        assert self.record is not None
        self.emit(Superseded(self.key, self.record.reference, old, action.reason, cancelled))
        self.log(
            logging.WARNING,
            "older job %s %s (%s)",
            old,
            "cancelled" if cancelled else "left running",
            action.reason.value,
            job_id=old,
        )

    def lost_race(self, intent: JobRecord, job_id: str) -> _Retry | _PollJob:
        """Our intent was replaced while we submitted (our lease ran out mid-submit)."""
        current = self.load()
        if current is not None and current.reference == intent.reference and current.phase is Phase.CANCELLED:
            # Cancelled while we were submitting: the job we just made must not run.
            if isinstance(self.job, SupportsCancel):
                self.cancel_job(job_id)
            self.append_foreign_submission(intent, job_id, Outcome.CANCELLED)
            raise JobCancelled("this key was cancelled while the job was being submitted", key=self.key, job_id=job_id)
        if current is not None and current.reference == intent.reference:
            if current.job_id == job_id:
                return _PollJob(job_id)  # another process adopted our job by reference
            if current.job_id is None:  # another process took over the lease, not yet the job
                return _PollJob(job_id) if self.write(current.with_job_id(self.clock(), job_id)) else _Retry()
        # Someone else owns the key now: our job is a duplicate. Stop it when we
        # can, and make sure it appears in the history either way.
        cancelled = isinstance(self.job, SupportsCancel)
        if cancelled:
            self.cancel_job(job_id, what="cancel of duplicate")
        self.log(logging.WARNING, "lost the key to another process; duplicate job %s %s", job_id,
                 "cancelled" if cancelled else "left running", job_id=job_id)
        self.append_foreign_submission(intent, job_id, Outcome.CANCELLED if cancelled else Outcome.SUPERSEDED)
        return _Retry()

    def append_foreign_submission(self, intent: JobRecord, job_id: str, outcome: Outcome) -> None:
        entry = mark_history(intent, intent.reference, job_id=job_id, outcome=outcome, ended_at=self.clock())[-1]
        for _ in range(_MAX_STEPS):
            current = self.load()
            if current is None:
                return
            if any(h.reference == entry.reference and h.job_id == job_id for h in current.history):
                return
            if self.write(current.evolve(self.clock(), history=current.history + (entry,))):
                return
        raise ConcurrentUpdate("could not record a duplicate submission in the history", key=self.key, job_id=job_id)

    def poller_for(self, job_id: str) -> Poller:
        self.polling_job = job_id
        self.poller.last_status = self.record.status if self.record is not None else None
        return self.poller

    def _on_status(self, status: str) -> None:
        record = self.record
        job_id = self.polling_job
        if job_id is None or record is None or record.job_id != job_id:
            return
        self.emit(StatusChanged(self.key, record.reference, job_id, record.status, status))
        self.log(logging.INFO, "status %s", status, job_id=job_id)
        # A terminal status is written once, with the outcome, by finish().
        if record.phase is Phase.SUBMITTED and record.status != status and self.job.is_job_active(status):
            try:
                if not self.write(record.evolve(self.clock(), status=status)):
                    self.load()
            except Exception:  # a status write is informative only; the terminal write is not
                self.log(logging.WARNING, "could not record status %s", status, job_id=job_id)

    def finish(self, job_id: str, status: str) -> R:
        if self.job.is_job_succeeded(status):
            return self.succeed(job_id, status, reused=False)
        assert self.record is not None
        self.emit(Finished(self.key, self.record.reference, job_id, status, False))
        self.record_terminal(job_id, Phase.FAILED, status, False, None)  # JobCancelled if a cancel stands
        self.log(logging.ERROR, "job %s ended %s", job_id, status, job_id=job_id)
        raise JobFailed(f"job {job_id} ended in state {status}", key=self.key, job_id=job_id, status=status)

    def succeed(self, job_id: str, status: str, *, reused: bool) -> R:
        try:
            result = self.poller.retry_transient(
                lambda: self.typed_job.get_job_result(job_id, status),
                what=f"result of job {job_id!r}",
                job_id=job_id,
            )
        except JobNotFound as exc:
            raise ResultUnavailable(
                "the job succeeded but the external system no longer has its result",
                key=self.key,
                job_id=job_id,
                status=status,
            ) from exc
        recorded, value = recordable_result(result)
        assert self.record is not None
        reference = self.record.reference
        if reused:
            self.emit(ResultReused(self.key, reference, job_id, True))
            self.log(logging.INFO, "job %s had already succeeded; result reused", job_id, job_id=job_id)
        else:
            self.emit(Finished(self.key, reference, job_id, status, True))
            self.log(logging.INFO, "job %s succeeded", job_id, job_id=job_id)
        if not recorded:
            self.log(logging.WARNING, "result of job %s is not JSON; not recorded", job_id, job_id=job_id)
        standing: JobRecord | None = self.record
        if standing is None or standing.job_id != job_id or standing.phase is not Phase.SUCCEEDED or (recorded and not standing.has_result):
            standing = self.record_terminal(job_id, Phase.SUCCEEDED, status, recorded, value)
        if (
            standing is not None
            and standing.job_id != job_id
            and standing.phase is Phase.SUCCEEDED
            and standing.has_result
            and superseded_reason(standing, self.request()) is None
        ):
            # Another submission for this key succeeded and was recorded first: one
            # key, one result, so every caller returns the recorded one.
            self.log(logging.WARNING, "job %s succeeded too; returning the recorded result of %s",
                     job_id, standing.job_id, job_id=job_id)
            return cast(R, standing.result)
        return result

    def record_terminal(
        self, job_id: str, phase: Phase, status: str, has_result: bool, result: JsonValue
    ) -> JobRecord | None:
        """Record how *job_id* ended; returns the record that stands afterwards."""
        outcome = {Phase.SUCCEEDED: Outcome.SUCCEEDED, Phase.FAILED: Outcome.FAILED}.get(phase, Outcome.CANCELLED)
        for _ in range(_MAX_STEPS):
            record = self.record
            if record is not None and record.job_id != job_id and phase is Phase.SUCCEEDED:
                final = self.reclaimed(record, job_id, status, has_result, result)
            elif record is None or record.job_id != job_id:
                final = None
            elif record.phase is phase and (record.has_result or not has_result):
                return record  # another process recorded the same outcome
            elif record.phase is Phase.CANCELLED and phase is not Phase.SUCCEEDED:
                # The cancel landed between our read and our write: it stands.
                raise JobCancelled(
                    f"job {job_id} was cancelled (state {status})", key=self.key, job_id=job_id, status=status
                )
            else:
                final = record.ended(self.clock(), phase, outcome, status=status, has_result=has_result, result=result)
            if final is None:
                self.log(logging.WARNING, "record moved on to another job; outcome %s not recorded", status, job_id=job_id)
                return record
            if self.write(final):
                return final
            self.load()
        raise ConcurrentUpdate("could not record the job's outcome", key=self.key, job_id=job_id, status=status)

    def reclaimed(
        self, record: JobRecord, job_id: str, status: str, has_result: bool, result: JsonValue
    ) -> JobRecord | None:
        """A success beats a "lost" verdict on the same job.

        Another process found *job_id* unknown to the system (a completed job the
        cluster forgot) and submitted anew, while we had seen it succeed. The
        success is real: record it, and end the newer submission (cancelled when
        it can be), rather than run the job twice. None when the record moved on
        for another reason (a new spec, a fresh run, a cancel, a success).
        """
        ours = next((h for h in reversed(record.history) if h.job_id == job_id), None)
        if ours is None or ours.outcome is not Outcome.LOST or record.phase.terminal:
            return None
        newer_id = record.job_id
        if newer_id is None and isinstance(self.job, SupportsFindByReference):
            newer_id = self.find(record.reference).job_id  # its submit may be in flight or done
        newer = Outcome.SUPERSEDED  # an intent nobody can name is left alone, as on a new spec
        if newer_id is not None and isinstance(self.job, SupportsCancel):
            self.cancel_job(newer_id, what="cancel of a duplicate")
            newer = Outcome.CANCELLED
        now = self.clock()
        named = {} if newer_id is None else {"job_id": newer_id}
        history = mark_history(record, record.reference, outcome=newer, ended_at=now, **named)
        self.log(logging.WARNING, "job %s succeeded after being declared lost; newer submission %s %s",
                 job_id, newer_id or record.reference, newer.value, job_id=job_id)
        return replace(record, reference=ours.reference, history=history).ended(
            now, Phase.SUCCEEDED, Outcome.SUCCEEDED, status=status, job_id=job_id, has_result=has_result, result=result
        )

def run_resumable(
    job: ResumableJob[R],
    store: StateStore,
    *,
    key: str,
    fresh: bool = False,
    generation: str | None = None,
    policy: Policy = Policy(),
    poll: PollPolicy = PollPolicy(),
    listener: EventListener | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> R:
    """Run *job* to completion at most once per key, surviving the caller's crashes.

    Reads the record under *key*; reuses a recorded success, reattaches to a
    running job, adopts a job found by its reference, or submits (writing the
    intent and reference first, the job id right after) and polls to the end.
    Returns the job's result; raises JobFailed when it fails. *fresh* (or a
    *generation* different from the record's) ignores an old success.
    """
    return _Runner(
        job,
        store,
        key,
        fresh=fresh,
        generation=generation,
        policy=policy,
        poll=poll,
        listener=listener,
        clock=clock,
        sleep=sleep,
        rand=rand,
    ).run()


__all__ = ["run_resumable"]
