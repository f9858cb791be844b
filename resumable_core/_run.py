"""run_resumable: the interpreter around ``decide``.

Each loop asks ``decide`` for one action, performs it (one branch per action
type, closed with ``assert_never``), and feeds what it produced back in. Every
choice is made in ``_decision``; what is left here is I/O and its error mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, cast

from ._decision import (
    CancelJob,
    CheckStatus,
    FetchResult,
    FindByReference,
    NotFoundSeen,
    Observation,
    Poll,
    PollEnded,
    ResultFetched,
    ResultGone,
    Return,
    ReturnRecorded,
    StatusSeen,
    Stop,
    SubmitAnswered,
    SubmitJob,
    SubmitRefused,
    SubmitUnusable,
    WaitForOwner,
    Write,
    decide,
)
from ._errors import (
    JobNotFound,
    SubmissionRejected,
)
from ._events import EventListener
from ._policy import Policy
from ._polling import PollPolicy
from ._progress import ProgressWatch, SupportsProgress
from ._protocols import (
    ResumableJob,
    StateStore,
    SupportsCancel,
    SupportsFindByReference,
    SupportsPollUntilComplete,
    check_job,
)
from ._record import JobRecord
from ._resume import SupportsResumeState
from ._session import WARNING, RunSession
from ._telemetry import Telemetry
from ._types import assert_never

R = TypeVar("R")


class _Runner(RunSession, Generic[R]):
    __slots__ = ("progress_watch", "typed_job")

    def __init__(self, job: ResumableJob[R], store: StateStore, key: str, *, fresh: bool,
                 generation: str | None, policy: Policy, attach_only: bool = False, **session: object) -> None:
        super().__init__(job, store, key, **session)  # type: ignore[arg-type]  # the keywords run_resumable passes
        self.typed_job = job
        self.start_run(fresh=fresh, generation=generation, policy=policy, attach_only=attach_only,
                       can_find=isinstance(job, SupportsFindByReference), can_cancel=isinstance(job, SupportsCancel),
                       can_resume=isinstance(job, SupportsResumeState))
        self.poller.on_status = self._on_status
        self.progress_watch: ProgressWatch | None = None
        interval = self.poll_policy.progress_interval
        if isinstance(job, SupportsProgress) and interval is not None:
            self.progress_watch = ProgressWatch(interval)
            self.poller.on_poll = self._on_poll
        if self.resume_watch is not None and self.resume_watch.interval is not None:
            self.poller.on_poll = self._on_poll

    def run(self, polled: tuple[str, str] | None = None) -> R:
        """Decide and act to the end; a run that ends, by error or not, gives back its intent lease."""
        try:
            result = self.decide_and_act(polled)
        except BaseException as exc:
            self.give_back_lease(exc)
            raise
        self.give_back_lease(None)
        return result

    def give_back_lease(self, ended: BaseException | None) -> None:
        update = self.release_after(ended, self.in_submit)
        if update is not None:
            try:
                landed: bool | BaseException = self.write(update)
            except Exception as exc:  # the run's own end is what the caller must see
                landed = exc
            self.lease_released(landed)

    def decide_and_act(self, polled: tuple[str, str] | None) -> R:
        self.load()
        observation: Observation | None = None
        if polled is not None:
            # A poller elsewhere (a deferrable trigger) saw this job end: the end of this run's polling.
            job_id, status = polled
            observation = PollEnded(job_id, status, self.job.is_job_succeeded(status))
        while True:
            action = decide(self.record, observation, self.request())
            self.count(observation, action)
            if isinstance(action, Write):
                observation = self.perform_write(action)
            elif isinstance(action, SubmitJob):
                observation = self.submit_job(action)
            elif isinstance(action, CheckStatus):
                observation = self.check_status(action)
            elif isinstance(action, FindByReference):
                observation = self.perform_find(action)
            elif isinstance(action, Poll):
                observation = self.poll(action)
            elif isinstance(action, FetchResult):
                observation = self.fetch_result(action)
            elif isinstance(action, CancelJob):
                observation = self.perform_cancel(action)
            elif isinstance(action, WaitForOwner):
                self.perform_wait(action)
                observation = None
            elif isinstance(action, ReturnRecorded):
                self.emit(action.event)
                assert self.record is not None
                return cast(R, self.record.result)  # recorded only when it round-trips through JSON
            elif isinstance(action, Return):
                if action.note is not None:
                    self.log(WARNING, action.note)
                return cast(R, action.value)
            elif isinstance(action, Stop):
                raise self.stop_error(action)
            else:
                assert_never(action)

    # -- the branches that talk to the external system ------------------------------------

    def submit_job(self, action: SubmitJob) -> SubmitAnswered | SubmitRefused | SubmitUnusable:
        self.submitting(action)
        self.in_submit = True  # still set if the call raises: release_after asks
        try:
            if action.resume_from is not None and isinstance(self.job, SupportsResumeState):
                job_id = self.job.submit_job_from(action.reference, action.resume_from)
            else:
                job_id = self.typed_job.submit_job(action.reference)
        except SubmissionRejected as exc:
            self.in_submit = False
            return SubmitRefused(action.reference, exc)
        # Anything else (a timeout, a crash) leaves the intent: the submission may exist,
        # and the next attempt looks it up by reference or follows on_ambiguous.
        self.in_submit = False
        return self.answered(action, job_id)

    def check_status(self, action: CheckStatus) -> StatusSeen | NotFoundSeen:
        wait = self.confirmation_wait(action)
        if wait:
            self.sleep(wait)
        try:
            status = self.poller.status(self.job, action.job_id)
        except JobNotFound:
            return NotFoundSeen(action.job_id, action.not_found_since)
        return self.seen(action.job_id, status, self._final_state(action.job_id, status))

    def poll(self, action: Poll) -> PollEnded | NotFoundSeen:
        self.emit(action.event)
        job_id = action.job_id
        self.polling_job = job_id
        self.poller.last_status = self.record.status if self.record is not None else None
        try:
            if isinstance(self.job, SupportsPollUntilComplete):
                status = self.job.poll_until_complete(job_id, self.poller)
            else:
                status = self.poller.wait(self.job, job_id)
        except JobNotFound:
            # Forgotten while we polled (a master restarted without recovery...).
            self.log(WARNING, "job vanished while polling", job_id=job_id)
            self.load()
            return NotFoundSeen(job_id)
        return self.ended(job_id, status, self._final_state(job_id, status))

    def fetch_result(self, action: FetchResult) -> ResultFetched | ResultGone:
        try:
            value = self.poller.retry_transient(
                lambda: self.typed_job.get_job_result(action.job_id, action.status),
                what=f"result of job {action.job_id!r}",
                job_id=action.job_id,
            )
        except JobNotFound:
            return ResultGone(action.job_id, action.status)
        self.emit(action.event)
        return ResultFetched(action.job_id, action.status, value, action.reused)

    def _ask_resume_state(self, job_id: str) -> str | None:
        try:
            answer: object = cast(SupportsResumeState, self.job).resume_state(job_id)
        except Exception as exc:  # the last recorded state stands
            answer = exc
        return self.resume_state_answered(job_id, answer)

    def _final_state(self, job_id: str, status: str) -> str | None:
        """Where a job seen failed got to: the state its resubmission starts from."""
        return self._ask_resume_state(job_id) if self.wants_final_state(status) else None

    def _on_poll(self, status: str) -> None:
        """After each status polled: progress, and where the job got to, each at its bounded rate."""
        self._progress_poll(status)
        job_id = self.polling_job
        if job_id is None or not self.resume_state_due():
            return
        update = self.resume_state_record(job_id, self._ask_resume_state(job_id))
        if update is None:
            return
        self.resume_state_written(job_id, self._write_informative(update))

    def _progress_poll(self, status: str) -> None:
        """The job's progress, at the bounded rate, recorded on change."""
        watch, job_id = self.progress_watch, self.polling_job
        if watch is None or job_id is None or not watch.ask_now(self.clock(), self.job.is_job_active(status)):
            return
        try:
            seen = cast(SupportsProgress, self.job).job_progress(job_id)
        except Exception as exc:  # progress never decides anything, nor costs a poll
            self.progress_failed(watch, job_id, exc)
            return
        update = self.progress_seen(watch, job_id, seen)
        if update is None:
            return
        self.progress_written(job_id, self._write_informative(update))

    def _write_informative(self, update: JobRecord) -> bool | BaseException:
        """Write a record that only informs (progress, a resume state): a conflict reloads, and a
        failure is handed back to be said, never raised (the job's own writes are what count)."""
        try:
            landed = self.write(update)
        except Exception as exc:
            return exc
        if not landed:
            self.load()
        return landed

    def _on_status(self, status: str) -> None:
        """Each status the poller sees change: an event, and the record written on changes only."""
        update = self.status_changed(status)
        if update is None:
            return
        try:
            if not self.write(update):
                self.load()
        except Exception:  # a status write is informative only; the terminal write is not
            self.log(WARNING, "could not record status %s", status, job_id=update.job_id)


def run_resumable(
    job: ResumableJob[R],
    store: StateStore,
    *,
    key: str,
    fresh: bool = False,
    generation: str | None = None,
    policy: Policy | None = None,
    poll: PollPolicy | None = None,
    listener: EventListener | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    rand: Callable[[], float] | None = None,
    telemetry: Telemetry | None = None,
    polled: tuple[str, str] | None = None,
    attach_only: bool = False,
) -> R:
    """Run *job* to completion at most once per key, surviving the caller's crashes.

    Reads the record under *key*; reuses a recorded success, reattaches to a
    running job, adopts a job found by its reference, or submits (writing the
    intent and reference first, the job id right after) and polls to the end.
    Returns the job's result; raises JobFailed when it fails. *fresh* (or a
    *generation* different from the record's) ignores an old success.

    The job is checked before anything is read or submitted: a job missing one
    of the required operations raises InvalidArgument naming it. *telemetry*
    counts and traces each decision (``resumable_adapters.otel``); without it nothing is computed.

    *polled* is ``(job_id, status)`` when a poller outside this call (a deferrable
    trigger) already followed the job to a status in which it can no longer change:
    the run decides from there as if it had polled it itself (a failure raises
    JobFailed, a success fetches and records the result), without asking again.

    *attach_only* follows what is recorded and never submits (a watcher, a sidecar, a
    dashboard's "follow"): where a run would submit it raises instead, writing
    nothing: JobFailed (the recorded job had failed), JobLost (the system forgot it),
    AmbiguousSubmission, or NothingToAttach (nothing recorded, an intent never
    submitted, a record of another generation or spec). It still records what it
    sees, a success and its result included.
    """
    check_job(job)
    runner = _Runner(
        job,
        store,
        key,
        fresh=fresh,
        generation=generation,
        attach_only=attach_only,
        policy=policy if policy is not None else Policy(),
        poll=poll if poll is not None else PollPolicy(),
        listener=listener,
        clock=clock,
        sleep=sleep,
        rand=rand,
    )
    runner.telemetry = telemetry
    return runner.run(polled)


__all__ = ["run_resumable"]
