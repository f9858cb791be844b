"""What the ``resumable`` command needs to know about each kind of job it can run.

A kind builds the job, chooses the polling and lease policy that suit it, and
turns its records into human lines. Its ``meta`` is stored beside the record so
that ``status`` and ``cancel`` can rebuild a job that can watch and cancel. The
kinds themselves live with their systems (``resumable_adapters.<system>._cli``):
this package knows none of them by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from resumable_core import ResumableError

if TYPE_CHECKING:
    from resumable_core import JsonValue, Policy, PollPolicy, ResumableJob


class JobKind(Protocol):
    def meta(self) -> dict[str, JsonValue]:
        """What rebuilds this kind later; a ``"kind"`` entry names it. Never a secret."""
        ...

    def policy(self) -> Policy: ...

    def poll_policy(self) -> PollPolicy: ...

    def watcher(self) -> ResumableJob[Any]:
        """A job object that can report status and cancel (it need not be able to submit)."""
        ...

    def started_at(self, job_id: str) -> float | None: ...

    def live_status(self, job_id: str) -> str: ...

    def failure_details(self, job_id: str) -> str | None: ...

    def exit_status(self, job_id: str) -> int | None:
        """The job's own exit status as a shell reports it (0-255), None when it has none."""
        ...

    def replay_output(self, job_id: str | None) -> None: ...

    def success_summary(self, result: object) -> str: ...


def ask_status(job: ResumableJob[Any], job_id: str) -> str:
    """The job's status now, or why it cannot be had (status is informative, never fatal)."""
    try:
        return job.get_job_status(job_id)
    except ResumableError as exc:
        return f"unknown ({exc})"


__all__ = ["JobKind", "ask_status"]
