"""cancel_resumable: the interpreter around ``decide_cancel``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ._decision import (
    CancelJob,
    CancelRequest,
    CancelSent,
    FindByReference,
    Observation,
    ReturnRecord,
    Stop,
    WaitForOwner,
    Write,
    decide_cancel,
)
from ._events import EventListener
from ._polling import PollPolicy
from ._protocols import ResumableJob, StateStore, SupportsCancel, SupportsFindByReference
from ._record import JobRecord
from ._resume import SupportsResumeState, checked_state
from ._session import WARNING, Session
from ._types import assert_never


def cancel_resumable(
    job: ResumableJob[Any],
    store: StateStore,
    *,
    key: str,
    poll: PollPolicy | None = None,
    listener: EventListener | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    rerun: bool = False,
) -> JobRecord | None:
    """Cancel the recorded job under *key* and mark the record.

    By default the record becomes CANCELLED, and later runs raise JobCancelled
    rather than undo the cancel (until ``fresh=True``, a new generation or
    ``forget``). The record is written *before* the job is killed, so that a
    retry starting in between sees the cancel, not a failed job to resubmit.
    Calling it again re-sends the cancel (harmless on an ended job), so a cancel
    that failed half-way can simply be repeated.

    With *rerun* the record becomes FAILED instead, after the kill, so the next
    run submits afresh (an orchestrator's timeout followed by a retry); a job that can
    resume (``SupportsResumeState``) is asked where it got to once stopped, and the next
    run starts from there (a Flink job stopped with a savepoint: that savepoint).

    A record that ended otherwise is returned unchanged; no record returns None.
    An intent without a job id is looked up by reference first, and waited for
    while another process's submission is in flight.
    """
    session = Session(job, store, key, poll=poll if poll is not None else PollPolicy(), listener=listener,
                      clock=clock, sleep=sleep, rand=None)
    can_find = isinstance(job, SupportsFindByReference)
    can_cancel = isinstance(job, SupportsCancel)
    session.load()
    observation: Observation | None = None
    while True:
        request = CancelRequest(owner=session.owner, now=session.clock(), can_find=can_find, can_cancel=can_cancel,
                                rerun=rerun, key=session.key)
        action = decide_cancel(session.record, observation, request)
        if isinstance(action, Write):
            observation = session.perform_write(action)
        elif isinstance(action, FindByReference):
            observation = session.perform_find(action)
        elif isinstance(action, CancelJob):
            observation = session.perform_cancel(action)
            if rerun and isinstance(observation, CancelSent) and isinstance(job, SupportsResumeState):
                # Where the stopped job got to (a stop-with-savepoint's savepoint): the next run starts there.
                observation = replace(observation, resume_state=_stopped_state(session, job, action.job_id))
        elif isinstance(action, WaitForOwner):
            session.perform_wait(action)
            observation = None
        elif isinstance(action, ReturnRecord):
            session.emit(action.event)
            return session.record
        elif isinstance(action, Stop):
            raise session.stop_error(action)  # decide_cancel stops only when the job cannot cancel
        else:
            assert_never(action)


def _stopped_state(session: Session, job: SupportsResumeState, job_id: str) -> str | None:
    try:
        return checked_state(job.resume_state(job_id))
    except Exception as exc:  # the state recorded while it ran stands
        session.log(WARNING, "could not ask where the cancelled job got to: %s: %s", type(exc).__name__, exc,
                    job_id=job_id)
        return None


__all__ = ["cancel_resumable"]
