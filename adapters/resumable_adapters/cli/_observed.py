"""The job as the core sees it, with each transient failure shown while the core retries it.

The core retries a ``TransientError`` (a refused connection, a 503, a master that is
down) within its ``PollPolicy`` budget and says nothing meanwhile: its retries are
not events. What the command can observe is the job's calls failing and answering
again (status, result, lookup and cancel: the calls the core retries); this wrapper passes each to ``Output.transient`` / ``Output.reached``, so that
the live line and the log say what is retried and until when.

The wrapper has exactly the optional operations the job has (the core looks for them
with ``isinstance`` checks on the protocols), under the job's own class name (which
the core's messages use).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from resumable_core import JsonValue, ResumableJob, TransientError

from ._output import Output

T = TypeVar("T")

# The operations a job may have beyond the required five, and what each is about. A
# capability the core adds needs its line here (tests/cli/test_output.py checks parity).
_OPTIONAL_CALLS: dict[str, Callable[[tuple[Any, ...]], str]] = {
    "find_job_by_reference": lambda args: f"lookup of reference {args[0]}",
    "cancel_job": lambda args: f"cancel of job {args[0]}",
}
# job_progress and resume_state are not observed: their failures are the core's to log and ignore, never a
# retry to announce; submit_job_from is a submission (see submit_job).
_OPTIONAL_PLAIN = ("job_fingerprint", "job_progress", "poll_until_complete", "resume_state", "submit_job_from")


class ObservedJob:
    """Delegates to *job*; reports transient failures and recoveries to *output*."""

    def __init__(self, job: ResumableJob[Any], output: Output) -> None:
        self.job = job
        self.output = output

    def call(self, what: str, operation: Callable[[], T]) -> T:
        started = time.time()
        try:
            value = operation()
        except TransientError as exc:
            self.output.transient(what, started, exc.message)
            raise
        self.output.reached(what)
        return value

    def submit_job(self, reference: str) -> str:
        # Not observed: the core does not retry a submission (a transient failure there
        # keeps the intent and ends the run), so there is no wait to announce.
        return self.job.submit_job(reference)

    def get_job_status(self, job_id: str) -> str:
        return self.call(f"status of job {job_id}", lambda: self.job.get_job_status(job_id))

    def is_job_active(self, status: str) -> bool:
        return self.job.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.job.is_job_succeeded(status)

    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        result: JsonValue = self.call(f"result of job {job_id}", lambda: self.job.get_job_result(job_id, status))
        return result


def observed(job: ResumableJob[Any], output: Output) -> ResumableJob[Any]:
    """*job* wrapped so that *output* sees its transient failures (see the module docstring)."""
    members: dict[str, Any] = {}
    for name, what in _OPTIONAL_CALLS.items():
        if callable(getattr(job, name, None)):
            members[name] = _observing(name, what)
    for name in _OPTIONAL_PLAIN:
        if callable(getattr(job, name, None)):
            members[name] = _delegating(name)
    cls = type(type(job).__name__, (ObservedJob,), members)
    wrapper: ResumableJob[Any] = cls(job, output)
    return wrapper


def _observing(name: str, what: Callable[[tuple[Any, ...]], str]) -> Callable[..., Any]:
    def method(self: ObservedJob, *args: Any) -> Any:
        return self.call(what(args), lambda: getattr(self.job, name)(*args))

    method.__name__ = name
    return method


def _delegating(name: str) -> Callable[..., Any]:
    def method(self: ObservedJob, *args: Any) -> Any:
        return getattr(self.job, name)(*args)

    method.__name__ = name
    return method


__all__ = ["ObservedJob", "observed"]
