"""Where a job got to, kept so that its next submission starts there: the ``SupportsResumeState`` capability.

A streaming job that fails after hours should not start over: a system that writes
checkpoints (Flink) can start a new job from the last one. A job that can say where it
got to (``resume_state``: a checkpoint or savepoint location, any non-empty string) and
start a submission from such a state (``submit_job_from``) gets this from the core:

- while it polls, the driver asks ``resume_state`` at most once per
  ``PollPolicy.resume_state_interval`` (and once more when it sees the job fail), and
  records a change only: in the record (``JobRecord.resume_state``) and in the
  submission's history entry (``Submission.resume_state``);
- a resubmission after a failure or a lost job hands the recorded state to
  ``submit_job_from`` (the pure ``resume_from`` in ``_decision`` chooses it), and the
  new history entry says which state it started from (``Submission.started_from``);
  ``Policy(resume=False)``, a fresh run, a new generation or a changed spec start afresh;
- a cancel with ``rerun=True`` records what the job says after it was stopped (a job that
  stops with a savepoint reports that savepoint), so the next run starts there.

A failing ``resume_state`` call is logged and ignored: the last recorded state stands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._record import JobRecord


@runtime_checkable
class SupportsResumeState(Protocol):
    """A job whose progress survives it: a state a later submission can start from."""

    def resume_state(self, job_id: str) -> str | None:
        """Where *job_id* got to (its newest retained checkpoint...); None when nothing (yet).

        Quick (one or two requests), and it must not change the job.
        """
        ...

    def submit_job_from(self, reference: str, state: str | None) -> str:
        """``submit_job``, starting from *state* (None: from the beginning)."""
        ...


@runtime_checkable
class AsyncSupportsResumeState(Protocol):
    """``SupportsResumeState`` for an ``AsyncResumableJob``: the same contract, awaited."""

    async def resume_state(self, job_id: str) -> str | None: ...

    async def submit_job_from(self, reference: str, state: str | None) -> str: ...


def resume_state_due(last_asked_at: float | None, now: float, interval: float | None) -> bool:
    """Whether to ask a polled job where it got to now (pure): never asked, or *interval* passed."""
    if interval is None:
        return False
    return last_asked_at is None or now - last_asked_at >= interval


def checked_state(seen: object) -> str | None:
    """*seen* when it is a state worth recording (a non-empty string), else None: a job's bug
    (a wrong type) must not reach the record, and "nothing" never erases what was recorded."""
    return seen if isinstance(seen, str) and seen else None


def resume_state_update(record: JobRecord | None, job_id: str, seen: str | None, now: float) -> JobRecord | None:
    """The record to write when the running job *job_id* reports state *seen* (pure); None when
    nothing is worth a write: no state, no change, or a record another process moved on."""
    from ._record import Phase, mark_history

    if seen is None or record is None or record.job_id != job_id or record.phase is not Phase.SUBMITTED:
        return None
    if record.resume_state == seen:
        return None
    return record.evolve(now, resume_state=seen,
                         history=mark_history(record, record.reference, resume_state=seen))


class ResumeWatch:
    """One run's asking: when it last asked, how many asks failed (a warning once, then debug)."""

    __slots__ = ("asked_at", "failures", "interval")

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self.asked_at: float | None = None
        self.failures = 0

    def ask_now(self, now: float) -> bool:
        if not resume_state_due(self.asked_at, now, self.interval):
            return False
        self.asked_at = now
        return True

    def failed(self, exc: BaseException) -> tuple[int, str]:
        self.failures += 1
        level = 30 if self.failures == 1 else 10  # logging.WARNING, then logging.DEBUG
        return level, f"could not ask where the job got to (the last recorded state stands): {type(exc).__name__}: {exc}"


__all__ = [
    "AsyncSupportsResumeState",
    "ResumeWatch",
    "SupportsResumeState",
    "checked_state",
    "resume_state_due",
    "resume_state_update",
]
