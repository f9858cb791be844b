"""cancel_resumable: stop the recorded job and mark the key, so that no retry undoes it."""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable

from ._decision import Policy
from ._errors import ConcurrentUpdate, InvalidArgument
from ._events import Cancelled, EventListener
from ._polling import PollPolicy
from ._protocols import (
    ResumableJob,
    StateStore,
    SupportsCancel,
    SupportsFindByReference,
)
from ._record import JobRecord, Outcome, Phase
from ._session import Session

_MAX_CONFLICTS = 100  # lost writes before giving up: only a store that keeps changing under us gets near


def cancel_resumable(
    job: ResumableJob[Any],
    store: StateStore,
    *,
    key: str,
    poll: PollPolicy = PollPolicy(),
    listener: EventListener | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
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
    run submits afresh (an orchestrator's timeout followed by a retry).

    A record that ended otherwise is returned unchanged; no record returns None.
    An intent without a job id is looked up by reference first.
    """
    session = Session(
        job, store, key, policy=Policy(), poll=poll, listener=listener, clock=clock, sleep=sleep, rand=random.random
    )
    conflicts = 0
    while conflicts < _MAX_CONFLICTS:
        record = session.load()
        if record is None:
            return None
        if record.phase is Phase.CANCELLED:
            if record.job_id is not None:
                session.cancel_job(record.job_id)
            return record
        if record.phase.terminal:
            return record
        job_id = record.job_id
        if job_id is None and isinstance(job, SupportsFindByReference):
            finder = job
            job_id = session.poller.retry_transient(
                lambda: finder.find_job_by_reference(record.reference),
                what=f"lookup of reference {record.reference!r}",
            )
        if job_id is None and record.lease_until is not None and record.lease_until > clock():
            # Another process may be inside submit_job right now: marking the intent
            # cancelled could leave the job it is creating running, named nowhere.
            # Wait for its id (or for its lease to run out), then cancel that.
            session.log(logging.INFO, "a submission is in flight; waiting for its job id before cancelling")
            sleep(max(0.0, min(record.lease_until - clock(), poll.min_interval or 0.5)))
            continue
        if job_id is not None and not isinstance(job, SupportsCancel):
            raise InvalidArgument(f"{type(job).__name__} cannot cancel jobs", key=session.key, job_id=job_id)
        if job_id is None:
            session.log(logging.WARNING, "no job id recorded or found; marking the intent cancelled")
        if rerun and job_id is not None:
            session.cancel_job(job_id)
        now = clock()
        final = record.ended(
            now, Phase.FAILED if rerun else Phase.CANCELLED, Outcome.CANCELLED, status=record.status, job_id=job_id
        )
        if not session.write(final):
            conflicts += 1
            continue
        if not rerun and job_id is not None:
            session.cancel_job(job_id)
        session.emit(Cancelled(session.key, record.reference, job_id))
        session.log(logging.INFO, "cancelled", job_id=job_id)
        return final
    raise ConcurrentUpdate("could not record the cancellation", key=key)


__all__ = ["cancel_resumable"]
