"""A reusable polling loop: backoff with jitter, a deadline, a transient-error budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import (
    InvalidArgument,
    PollTimeout,
    TransientBudgetExhausted,
    TransientError,
)

if TYPE_CHECKING:
    from ._protocols import ResumableJob

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How to wait for a job.

    The interval starts at *min_interval*, grows by *multiplier* while nothing
    changes, is capped at *max_interval*, and gets +/- *jitter* (a fraction) so
    that many pollers do not ask in lockstep. A status change resets it.
    *deadline* bounds the whole wait (None: no bound). Transient errors are
    retried while fewer than *transient_attempts* happened in a row and for at
    most *transient_seconds*; then TransientBudgetExhausted is raised.
    A job with progress (``SupportsProgress``) is asked at most once per
    *progress_interval* seconds, and a change is written at most that often
    (None: never asked). A job that can resume from a state (``SupportsResumeState``)
    is asked where it got to at most once per *resume_state_interval* seconds, and a
    change is written (None: asked only when it is seen to fail).
    """

    min_interval: float = 1.0
    max_interval: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1
    deadline: float | None = None
    transient_attempts: int = 10
    transient_seconds: float = 300.0
    progress_interval: float | None = 15.0
    resume_state_interval: float | None = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_interval <= self.max_interval:
            raise InvalidArgument("PollPolicy needs 0 <= min_interval <= max_interval")
        if self.multiplier < 1 or not 0 <= self.jitter < 1:
            raise InvalidArgument("PollPolicy needs multiplier >= 1 and 0 <= jitter < 1")
        if self.transient_attempts < 1 or self.transient_seconds < 0:
            raise InvalidArgument("PollPolicy needs transient_attempts >= 1, transient_seconds >= 0")
        if self.deadline is not None and self.deadline < 0:
            raise InvalidArgument("PollPolicy deadline must be >= 0")
        if self.progress_interval is not None and not self.progress_interval >= 0:
            raise InvalidArgument("PollPolicy progress_interval must be >= 0 seconds (None: never asked)")
        if self.resume_state_interval is not None and not self.resume_state_interval >= 0:
            raise InvalidArgument("PollPolicy resume_state_interval must be >= 0 seconds (None: only on a failure)")

    def pause(self, attempt: int, rand: float, waited: float, *, job_id: str, status: str) -> float:
        """The pause before status check *attempt* + 1 of a job still *status*, *waited* seconds in.

        PollTimeout past the deadline; the pause never runs past it. One home for the
        blocking and the async poller.
        """
        pause = self.interval(attempt, rand)
        if self.deadline is None:
            return pause
        remaining = self.deadline - waited
        if remaining <= 0:
            raise PollTimeout(f"job {job_id!r} still {status} after the {self.deadline}s deadline",
                              job_id=job_id, status=status)
        return min(pause, remaining)

    def budget_spent(self, attempt: int, elapsed: float, exc: TransientError, *, what: str,
                     job_id: str | None) -> TransientBudgetExhausted | None:
        """The error to raise after *attempt* transient failures over *elapsed* seconds, None to retry.

        One home for the blocking and the async poller.
        """
        if attempt < self.transient_attempts and elapsed < self.transient_seconds:
            return None
        return TransientBudgetExhausted(
            f"{what}: still failing after {attempt} attempts over {elapsed:.1f}s: {exc.message}",
            job_id=job_id or exc.job_id, key=exc.key,
        )

    def transient_pause(self, attempt: int, rand: float, exc: TransientError) -> float:
        """The pause after transient failure number *attempt* (1-based): the backoff, or longer
        when the system asked for a longer wait (``TransientError.retry_after``). Both pollers."""
        return max(self.interval(attempt - 1, rand), exc.retry_after or 0.0)

    def interval(self, attempt: int, rand: float) -> float:
        """The pause before poll number *attempt* (0-based), *rand* in [0, 1)."""
        base = min(self.max_interval, self.min_interval * self.multiplier ** min(attempt, 64))
        return max(0.0, base * (1 + self.jitter * (2 * rand - 1)))


class Poller:
    """Runs a PollPolicy with an injectable clock, sleep and randomness.

    *on_status* is called with each status that differs from the previous one
    (the core uses it to write the store on changes only, never on every poll).
    """

    def __init__(
        self,
        policy: PollPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy or PollPolicy()
        self.clock = clock
        self.sleep = sleep
        if rand is None:
            import random  # deferred: only a run that polls draws jitter

            rand = random.random
        self.rand = rand
        self.on_status = on_status
        # Called with each status polled (changed or not): where a run asks for progress.
        self.on_poll: Callable[[str], None] | None = None
        self.last_status: str | None = None

    def retry_transient(self, call: Callable[[], T], *, what: str, job_id: str | None = None) -> T:
        """Call *call*, retrying TransientError within the budget."""
        started = self.clock()
        attempt = 0
        while True:
            try:
                return call()
            except TransientError as exc:
                attempt += 1
                spent = self.policy.budget_spent(attempt, self.clock() - started, exc, what=what, job_id=job_id)
                if spent is not None:
                    raise spent from exc
                self.sleep(self.policy.transient_pause(attempt, self.rand(), exc))

    def status(self, job: ResumableJob[Any], job_id: str) -> str:
        """One status, transient errors retried; JobNotFound passes through."""
        status = self.retry_transient(
            lambda: job.get_job_status(job_id), what=f"status of job {job_id!r}", job_id=job_id
        )
        self._observe(status)
        if self.on_poll is not None:
            self.on_poll(status)
        return status

    def wait(self, job: ResumableJob[Any], job_id: str) -> str:
        """Poll until ``job.is_job_active`` is false; return that terminal status."""
        started = self.clock()
        attempt = 0
        while True:
            previous = self.last_status
            status = self.status(job, job_id)
            if not job.is_job_active(status):
                return status
            if status != previous:
                attempt = 0
            pause = self.policy.pause(attempt, self.rand(), self.clock() - started, job_id=job_id, status=status)
            attempt += 1
            self.sleep(pause)

    def _observe(self, status: str) -> None:
        if status != self.last_status:
            self.last_status = status
            if self.on_status is not None:
                self.on_status(status)
