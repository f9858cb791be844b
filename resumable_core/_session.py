"""What the two drivers (run_resumable, cancel_resumable) share: store I/O, the shared
action branches, events and logs. Nothing here decides anything: _decision does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._checks import check_key, check_run_options
from ._decision import (
    Action,
    CancelJob,
    CheckStatus,
    FindByReference,
    Observation,
    PollEnded,
    ReferenceLookup,
    Request,
    StatusSeen,
    Stop,
    StopKind,
    SubmitAnswered,
    SubmitJob,
    SubmitUnusable,
    WaitForOwner,
    Write,
    released,
    status_update,
)
from ._errors import (
    AmbiguousSubmission,
    ConcurrentUpdate,
    InvalidArgument,
    JobCancelled,
    JobFailed,
    JobLost,
    NothingToAttach,
    ProtocolError,
    ResultUnavailable,
    ResumableError,
    StoreError,
    SubmissionRejected,
)
from ._events import Event, EventListener, Finished, ProgressReported, StatusChanged, SubmitReason, Superseded
from ._ids import new_owner, new_reference
from ._policy import Policy
from ._polling import Poller, PollPolicy
from ._protocols import CompareAndSetStore, StateStore, SupportsCancel, SupportsFindByReference, SupportsFingerprint
from ._record import JobRecord
from ._redact import redact
from ._resume import ResumeWatch, checked_state, resume_state_update
from ._telemetry import Telemetry, decision_attributes, decision_name
from ._types import JsonValue, assert_never

if TYPE_CHECKING:
    import logging

    from ._progress import ProgressWatch

# logging's levels, without importing logging for a process that never logs.
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
MAX_CONFLICTS = 100  # lost writes per call: only a store that keeps changing under us gets near


def load_record(store: StateStore, key: str) -> JobRecord | None:
    """The record stored under *key*, or None; RecordCorrupt when it is not ours."""
    raw = store.get(check_key(key))
    return None if raw is None else JobRecord.from_json(key, raw)


def forget(store: StateStore, key: str) -> None:
    """Delete the record: the next run submits afresh. The job itself is not touched."""
    store.delete(check_key(key))


def logger() -> logging.Logger:
    import logging

    return logging.getLogger("resumable_core")


class Session:
    """One call's store I/O, events and logs, and the action branches both drivers share."""

    # Slots: an async supervisor keeps one of these per waiting job, ten thousand of them.
    __slots__ = ("_poller", "clock", "conflicts", "job", "key", "listener", "owner", "poll_policy", "rand", "raw",
                 "record", "sleep", "store", "telemetry", "waiting_for")

    def __init__(
        self,
        job: Any,
        store: StateStore,
        key: str,
        *,
        poll: PollPolicy,
        listener: EventListener | None,
        clock: Callable[[], float] | None,
        sleep: Callable[[float], None] | None,
        rand: Callable[[], float] | None,
        blocking: bool = True,
    ) -> None:
        self.job = job
        self.store = store
        self.key = check_key(key)
        self.poll_policy = poll
        self.listener = listener
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        if rand is None:
            import random  # deferred: only a run that polls draws jitter

            rand = random.random
        self.rand = rand
        # The blocking poller; an async driver brings its own (one object less per waiting job).
        self._poller = Poller(poll, clock=self.clock, sleep=self.sleep, rand=rand) if blocking else None
        self.owner = new_owner()
        self.raw: JsonValue = None
        self.record: JobRecord | None = None
        self.conflicts = 0
        self.waiting_for: tuple[str | None, float] | None = None
        self.telemetry: Telemetry | None = None

    @property
    def poller(self) -> Poller:
        """The blocking poller (the blocking drivers' only)."""
        assert self._poller is not None, "an async driver has no blocking poller"
        return self._poller

    # -- store ---------------------------------------------------------------------------

    def load(self) -> JobRecord | None:
        raw = self.store.get(self.key)
        record = None if raw is None else JobRecord.from_json(self.key, raw)
        self.raw, self.record = raw, record
        return record

    def write(self, new: JobRecord) -> bool:
        """Replace the record we last read; False when somebody else changed it first."""
        value = new.to_json()
        if isinstance(self.store, CompareAndSetStore):
            ok = self.store.compare_and_set(self.key, self.raw, value)
        else:
            # Not atomic: two writers can still interleave between get and set. It
            # narrows the window; the README says what remains (no CAS, no guarantee).
            ok = self.store.get(self.key) == self.raw
            if ok:
                self.store.set(self.key, value)
        if ok:
            self.raw, self.record = value, new
        return ok

    def write_landing(self, new: JobRecord) -> bool:
        """``write``, retrying a failing store: for the id of a job just submitted.

        That write is the one that must not be lost: until it lands, only a lookup by
        reference can find the job. If the store stays down, the error names the job id
        (and so does the log), so a human can find it.
        """
        attempt = 0
        while True:
            try:
                return self.write(new)
            except StoreError as exc:
                attempt += 1
                self.sleep(self.landing_failed(exc, new.job_id, attempt))

    def landing_failed(self, exc: StoreError, job_id: str | None, attempt: int) -> float:
        """The pause before writing a just-submitted job's id again after *attempt* store
        failures; *exc* raised, naming the job, once the budget is spent (both drivers)."""
        if attempt >= self.poll_policy.transient_attempts:
            exc.job_id = job_id
            exc.key = exc.key or self.key
            self.log(ERROR, "submitted job %s but could not record its id: %s", job_id, exc.message, job_id=job_id)
            raise exc
        self.log(WARNING, "store failed recording job %s; retrying", job_id, job_id=job_id)
        return self.poll_policy.interval(attempt - 1, self.rand())

    # -- the action branches both drivers have ---------------------------------------------

    def perform_write(self, action: Write) -> Observation | None:
        landed = self.write_landing(action.record) if action.must_land else self.write(action.record)
        observation = self.write_answered(action, landed)
        if not landed:
            self.load()
        return observation

    def write_answered(self, action: Write, landed: bool) -> Observation | None:
        """What a write's outcome means (both drivers): landed, ``action.after``; lost to
        another writer, ``action.on_conflict``, decided once the caller read the record again."""
        if landed:
            if action.note is not None:
                self.log(action.note_level, action.note, job_id=action.record.job_id)
            self.emit(action.event)
            return action.after
        self.conflicts += 1
        if self.conflicts > MAX_CONFLICTS:
            raise ConcurrentUpdate(
                f"gave up after {MAX_CONFLICTS} lost writes: the record keeps changing under us",
                key=self.key, job_id=action.record.job_id,
            )
        return action.on_conflict

    def perform_cancel(self, action: CancelJob) -> Observation | None:
        self.cancel_job(action.job_id)
        return self.cancelled(action)

    def cancelled(self, action: CancelJob) -> Observation | None:
        """After a CancelJob (both drivers): its note, its event, what to decide next."""
        if action.note is not None:
            self.log(WARNING, action.note, job_id=action.job_id)
        self.emit(action.event)
        return action.after

    def perform_find(self, action: FindByReference) -> ReferenceLookup:
        job = self.job
        if not isinstance(job, SupportsFindByReference):  # decide() asks only when Request.can_find
            raise InvalidArgument(f"{type(job).__name__} cannot find jobs by reference", key=self.key)
        found = self.poller.retry_transient(
            lambda: job.find_job_by_reference(action.reference), what=f"lookup of reference {action.reference!r}"
        )
        return ReferenceLookup(action.reference, found, action.context)

    def perform_wait(self, action: WaitForOwner) -> None:
        """Wait for another process's submission: at most until its lease runs out, then look again."""
        self.sleep(self.owner_wait(action))
        self.load()

    def owner_wait(self, action: WaitForOwner) -> float:
        """Seconds to sleep before looking at another process's submission again (both drivers);
        the wait is said once per owner and lease, not once per look."""
        record = self.record
        owner = record.owner if record is not None else None
        if self.waiting_for != (owner, action.until):
            self.waiting_for = (owner, action.until)
            if action.note is not None:
                self.log(INFO, action.note)
            self.emit(action.event)
        return max(0.0, min(action.until - self.clock(), self.poll_policy.min_interval or 0.5))

    def cancel_job(self, job_id: str) -> None:
        """Cancel *job_id*, transient errors retried; InvalidArgument when the job cannot cancel."""
        job = self.job
        if not isinstance(job, SupportsCancel):
            raise self.cannot_cancel(job_id)
        self.poller.retry_transient(lambda: job.cancel_job(job_id), what=f"cancel of job {job_id!r}", job_id=job_id)

    def cannot_cancel(self, job_id: str | None) -> InvalidArgument:
        return InvalidArgument(f"{type(self.job).__name__} cannot cancel jobs", key=self.key, job_id=job_id)

    # -- the end of a run ---------------------------------------------------------------------

    def stop_error(self, action: Stop) -> Exception:
        """The error each StopKind ends a run with: its one message, here."""
        if action.note is not None:
            self.log(WARNING, action.note, job_id=action.job_id)
        kind = action.kind
        where = {"key": self.key, "job_id": action.job_id}
        error: ResumableError
        if kind is StopKind.FAILED:
            error = JobFailed(action.detail or f"job {action.job_id} ended in state {action.status}", **where,
                              status=action.status)
        elif kind is StopKind.CANCELLED:
            error = JobCancelled(
                action.detail or "this key was cancelled; run it fresh (fresh=True, a new generation) or forget "
                "the key to submit again", **where, status=action.status)
        elif kind is StopKind.LOST:
            error = JobLost(action.detail or "the external system does not know the recorded job", **where)
        elif kind is StopKind.AMBIGUOUS:
            error = AmbiguousSubmission(action.detail or "a submission may exist that cannot be looked up",
                                        key=self.key)
        elif kind is StopKind.RESULT_UNAVAILABLE:
            error = ResultUnavailable(action.detail or "the job's result is unavailable", **where,
                                      status=action.status)
        elif kind is StopKind.REJECTED:
            if isinstance(action.cause, ResumableError):
                action.cause.key = action.cause.key or self.key
                return action.cause
            error = SubmissionRejected("the external system refused the submission", key=self.key)
        elif kind is StopKind.CANNOT_CANCEL:
            error = self.cannot_cancel(action.job_id)
        elif kind is StopKind.NOTHING_TO_ATTACH:
            error = NothingToAttach(action.detail or "no job to attach to", **where, status=action.status)
        elif kind is StopKind.PROTOCOL:
            error = ProtocolError(action.detail or "the job answered against its protocol", **where)
        else:
            assert_never(kind)
        return error

    # -- events, metrics and logs ------------------------------------------------------------

    def count(self, observation: Observation | None, action: Action) -> None:
        """Hand the decision *action* stands for to the telemetry, if any (a no-op without)."""
        if self.telemetry is None:
            return
        name = decision_name(self.record, observation, action)
        if name is None:
            return
        try:
            self.telemetry.record_decision(name, decision_attributes(self.key, self.record))
        except Exception:  # metrics must not break the job's bookkeeping
            logger().exception("telemetry failed on decision %s [key=%s]", name, self.key)

    def emit(self, event: Event | None) -> None:
        """Say *event* in the log (its one text) and give it to the listener."""
        if event is None:
            return
        level = WARNING if isinstance(event, Superseded) else INFO
        if isinstance(event, Finished) and not event.succeeded:
            level = ERROR
        self.log(level, event.describe(), job_id=getattr(event, "job_id", None))
        if self.listener is None:
            return
        try:
            self.listener(event)
        except Exception:  # a listener's bug must not break the job's bookkeeping
            logger().exception("event listener failed on %s [key=%s]", type(event).__name__, self.key)

    def log(self, level: int, message: str, *args: object, job_id: str | None = None) -> None:
        log = logger()
        if not log.isEnabledFor(level):
            return
        reference = self.record.reference if self.record is not None else None
        if job_id is None and self.record is not None:
            job_id = self.record.job_id
        text = message % args if args else message
        # The whole line, ids included: an adapter may echo a secret into a job id or status.
        log.log(level, "%s", redact(f"{text} [key={self.key} reference={reference} job_id={job_id}]"))


class RunSession(Session):
    """What ``run_resumable`` and ``run_resumable_async`` share beyond the store: the request
    each decision gets, and what each I/O answer becomes as an observation. The drivers
    differ only in how they wait (a blocking call, an await)."""

    __slots__ = ("attach_only", "can_cancel", "can_find", "can_resume", "fingerprint", "fresh", "generation", "in_submit",
                 "resume_watch",
                 "lost_resubmits", "policy", "polling_job")

    def start_run(self, *, fresh: bool, generation: str | None, policy: Policy, can_find: bool,
                  can_cancel: bool, attach_only: bool = False, can_resume: bool = False) -> None:
        check_run_options(self.key, fresh=fresh, attach_only=attach_only)
        self.can_resume = can_resume
        # Asked between polls at a bounded rate (SupportsResumeState); None: never between polls.
        self.resume_watch = ResumeWatch(self.poll_policy.resume_state_interval) if can_resume else None
        self.fresh = fresh
        self.attach_only = attach_only
        self.generation = generation
        self.policy = policy
        self.fingerprint = self.job.job_fingerprint() if isinstance(self.job, SupportsFingerprint) else None
        self.can_find = can_find
        self.can_cancel = can_cancel
        self.lost_resubmits = 0
        self.polling_job: str | None = None
        self.in_submit = False  # inside submit_job: an interruption there keeps the lease

    def request(self) -> Request:
        return Request(
            fingerprint=self.fingerprint, generation=self.generation, fresh=self.fresh, owner=self.owner,
            now=self.clock(), can_find=self.can_find, can_cancel=self.can_cancel, policy=self.policy, key=self.key,
            new_reference=new_reference(), lost_resubmits=self.lost_resubmits, attach_only=self.attach_only,
            can_resume=self.can_resume,
        )

    def submitting(self, action: SubmitJob) -> None:
        if action.reason is SubmitReason.JOB_LOST:
            self.lost_resubmits += 1  # what Policy.max_lost_resubmits bounds

    def answered(self, action: SubmitJob, job_id: object) -> SubmitAnswered | SubmitUnusable:
        """``submit_job``'s answer; anything but a non-empty string is unusable: the decision keeps
        the intent, marked accepted (it returned: something was accepted), and ends with ProtocolError."""
        if not isinstance(job_id, str) or not job_id:
            return SubmitUnusable(action.reference, f"{type(self.job).__name__}.submit_job returned {job_id!r:.80}")
        return SubmitAnswered(action.reference, job_id, action.reason, action.intent_at, action.previous_job_id)

    def release_after(self, ended: BaseException | None, in_submit: bool) -> JobRecord | None:
        """The record that gives back this run's intent lease as it ends (None: nothing held).

        *ended*: what ended the run (None: it returned); *in_submit*: it ended inside
        submit_job. Only an interruption there (a signal, a cancelled task: not an
        Exception) keeps the lease, since that call may still be at work.
        """
        interrupted = in_submit and ended is not None and not isinstance(ended, Exception)
        return released(self.record, self.owner, self.clock(), submit_interrupted=interrupted)

    def lease_released(self, landed: bool | BaseException) -> None:
        """Say what became of the lease release (both drivers); it never hides the run's own end."""
        if landed is True:
            self.log(INFO, "this run ended holding the intent's lease; released it (the reference is kept)")
        elif landed is not False:
            self.log(WARNING, "could not release the intent's lease as this run ended: %s; the next run waits "
                     "for it to run out", redact(str(landed)))

    def confirmation_wait(self, action: CheckStatus) -> float:
        """Seconds to wait before asking again about a job the system did not know (0: ask now)."""
        if action.not_before is None:
            return 0.0
        self.log(WARNING, "the external system does not know job %s; asking again at %s before declaring it lost",
                 action.job_id, _clock_text(action.not_before), job_id=action.job_id)
        return max(0.0, action.not_before - self.clock())

    def seen(self, job_id: str, status: str, resume_state: str | None = None) -> StatusSeen:
        return StatusSeen(job_id, status, self.job.is_job_active(status), self.job.is_job_succeeded(status),
                          resume_state)

    def ended(self, job_id: str, status: str, resume_state: str | None = None) -> PollEnded:
        """The status this run's polling ended on, said as a Finished event."""
        succeeded = self.job.is_job_succeeded(status)
        reference = self.record.reference if self.record is not None else ""
        self.emit(Finished(self.key, reference, job_id, status, succeeded))
        return PollEnded(job_id, status, succeeded, resume_state)

    # -- where a job got to (SupportsResumeState): a failed ask leaves the recorded state standing --

    def wants_final_state(self, status: str) -> bool:
        """Whether to ask a job seen in *status* where it got to: it failed, and it can resume."""
        return self.can_resume and not self.job.is_job_active(status) and not self.job.is_job_succeeded(status)

    def resume_state_due(self) -> bool:
        watch = self.resume_watch
        return watch is not None and self.polling_job is not None and watch.ask_now(self.clock())

    def resume_state_answered(self, job_id: str, answer: object) -> str | None:
        """What ``resume_state`` gave (or raised): a state worth recording, or None (logged)."""
        if isinstance(answer, BaseException) or (answer is not None and checked_state(answer) is None):
            watch = self.resume_watch if self.resume_watch is not None else ResumeWatch(None)
            shown = answer if isinstance(answer, BaseException) else TypeError(
                f"resume_state returned {type(answer).__name__}, not a non-empty string or None")
            level, text = watch.failed(shown)
            self.log(level, text, job_id=job_id)
            return None
        return checked_state(answer)

    def resume_state_record(self, job_id: str, state: str | None) -> JobRecord | None:
        return resume_state_update(self.record, job_id, state, self.clock())

    def resume_state_written(self, job_id: str, landed: bool | BaseException) -> None:
        record = self.record
        if landed is True and record is not None:
            self.log(INFO, "recorded where the job got to: %s", record.resume_state, job_id=job_id)
        elif landed is not False:
            self.log(WARNING, "could not record where the job got to: %s", redact(str(landed)), job_id=job_id)

    def status_changed(self, status: str) -> JobRecord | None:
        """A status the poller saw change: its event, and the record to write if it is worth one."""
        record, job_id = self.record, self.polling_job
        if job_id is None or record is None or record.job_id != job_id:
            return None
        self.emit(StatusChanged(self.key, record.reference, job_id, record.status, status))
        return status_update(record, job_id, status, self.job.is_job_active(status), self.clock())


    # -- progress: for people only, so every failure here is logged and dropped -----------------

    def progress_seen(self, watch: ProgressWatch, job_id: str, seen: object) -> JobRecord | None:
        """What the job said of its progress: the record to write, None when nothing is worth one."""
        try:
            return watch.update(self.record, job_id, seen, self.clock())  # type: ignore[arg-type]  # checked there
        except TypeError as exc:
            self.progress_failed(watch, job_id, exc)
            return None

    def progress_failed(self, watch: ProgressWatch, job_id: str, exc: BaseException) -> None:
        level, text = watch.failed(exc)
        self.log(level, text, job_id=job_id)

    def progress_written(self, job_id: str, landed: bool | BaseException) -> None:
        """Say a progress write: the event when it landed, a log line when it failed (a conflict is silent)."""
        record = self.record
        if landed is True and record is not None and record.progress is not None:
            self.emit(ProgressReported(self.key, record.reference, job_id, record.progress))
        elif landed is not False:
            self.log(DEBUG, "could not record progress: %s", redact(str(landed)), job_id=job_id)


def _clock_text(at: float) -> str:
    import time as _time

    return _time.strftime("%H:%M:%S", _time.localtime(at))


__all__ = ["ERROR", "INFO", "WARNING", "RunSession", "Session", "forget", "load_record", "logger"]
