"""The error tree. Every error the library raises is a ``ResumableError``.

::

    ResumableError
    ├── InvalidArgument (ValueError)         bad input from the caller (empty key, ...)
    ├── StoreError                            the state store failed
    │   ├── StoreUnavailable                  could not open / reach the store
    │   ├── RecordCorrupt (ValueError)        the value under the key is not a record of ours
    │   ├── RecordFromNewerVersion            written by a newer schema; never overwritten
    │   └── ConcurrentUpdate                  compare-and-set kept losing
    ├── ExternalSystemError                   raised by job adapters
    │   ├── TransientError                    could not ask right now (refused, timeout, 5xx)
    │   │   ├── MalformedAnswer               an answer that cannot be read at all (an HTML page, cut JSON)
    │   │   └── TransientBudgetExhausted      ... for longer than the caller allowed
    │   ├── JobNotFound (LookupError)         the external system does not know this id
    │   ├── SubmissionRejected                the external system refused the submission
    │   │   └── SubmissionNotSent             ... never reached it (refused connection, TLS, DNS)
    │   └── ProtocolError                     an answer we cannot understand
    ├── JobFailed                             the job ended in a failed state
    │   └── JobCancelled                      ... because it was cancelled
    ├── JobLost                               the recorded job vanished and policy says stop
    ├── NothingToAttach (LookupError)         an attach-only run found no job of its request
    ├── AmbiguousSubmission                   a submission may exist; a human must decide
    ├── ResultUnavailable                     success recorded, result no longer obtainable
    └── PollTimeout (TimeoutError)            the overall deadline passed while polling

Only ``JobNotFound`` and a definite status may lead to a resubmission; a
``TransientError`` never does. Every message passes through ``redact`` when the
error is made: no credential reaches a log line, a ``--json`` error or a traceback.
"""

from __future__ import annotations

from ._redact import redact


class ResumableError(Exception):
    """Root of every error raised by resumable_core and its adapters."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        job_id: str | None = None,
        status: str | None = None,
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.key = key
        self.job_id = job_id
        self.status = status

    def __str__(self) -> str:
        parts = [self.message]
        details = [
            f"{name}={value!r}"
            for name, value in (("key", self.key), ("job_id", self.job_id), ("status", self.status))
            if value is not None
        ]
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)


class InvalidArgument(ResumableError, ValueError):
    """The caller passed something unusable (an empty key, a bad option)."""


class StoreError(ResumableError):
    """The state store failed."""


class StoreUnavailable(StoreError):
    """The store could not be opened or reached."""


class RecordCorrupt(StoreError, ValueError):
    """The value stored under the key is not a record written by this library."""


class RecordFromNewerVersion(StoreError):
    """The record was written by a newer schema version; we refuse to overwrite it."""


class ConcurrentUpdate(StoreError):
    """Compare-and-set lost more times than the retry bound allows."""


class ExternalSystemError(ResumableError):
    """Raised by job adapters when talking to the external system."""


class TransientError(ExternalSystemError):
    """The external system could not be asked right now; try again later.

    Never a reason to resubmit: the job may well be running. *retry_after*: the
    seconds the system itself asked to wait (an HTTP 429's ``Retry-After``), when
    it said; the pollers never ask again sooner.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        job_id: str | None = None,
        status: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, key=key, job_id=job_id, status=status)
        self.retry_after = retry_after


class MalformedAnswer(TransientError):
    """An answer that cannot be read at all: not JSON where JSON is the protocol (a proxy's HTML
    error page), a body cut short. Whatever the system meant was lost on the way, so it is asked
    again within the transient budget; only a well-formed answer that contradicts the protocol
    is a ``ProtocolError``."""


class TransientBudgetExhausted(TransientError):
    """Transient errors went on for longer than the caller's budget."""


class JobNotFound(ExternalSystemError, LookupError):
    """The external system answered, and it does not know this job id."""


class SubmissionRejected(ExternalSystemError):
    """The external system refused the submission (validation error, quota...)."""


class SubmissionNotSent(SubmissionRejected):
    """The submission never reached the external system: provably nothing was submitted.

    Raised when the request failed before its first byte left (a refused connection, a TLS
    handshake the client refused, a name that does not resolve). Like any ``SubmissionRejected``
    it ends the intent cleanly (the next run submits afresh, no ambiguity); unlike a refusal, the
    system never saw it, so a caller reports "could not reach" rather than "refused".
    """


class ProtocolError(ExternalSystemError):
    """The external system answered something we cannot interpret."""


class JobFailed(ResumableError):
    """The job reached a terminal state other than success."""


class JobCancelled(JobFailed):
    """The job was cancelled (by cancel_resumable or outside)."""


class JobLost(ResumableError):
    """The recorded job is unknown to the external system and policy says fail."""


class NothingToAttach(ResumableError, LookupError):
    """An attach-only run found no job of this key's request to follow, where another run would submit.

    Nothing is recorded, the recorded intent was never submitted, or the recorded job
    belongs to another request (a new generation or specification). Nothing was written.
    """


class AmbiguousSubmission(ResumableError):
    """An earlier attempt may have submitted a job that cannot be looked up.

    Raised instead of risking a duplicate when the caller chose
    ``on_ambiguous="fail"``: a human checks the external system, then either
    records the job id or forgets the key.
    """


class ResultUnavailable(ResumableError):
    """The job succeeded but its result was not recorded and can no longer be fetched."""


class PollTimeout(ResumableError, TimeoutError):
    """The overall polling deadline passed; the job may still be running."""
