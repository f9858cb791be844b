"""The live line and the plain log, fed the core's real events: what they say while a run waits."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

import resumable_core
from resumable_adapters.cli._observed import observed
from resumable_adapters.cli._output import Output, RetryBudget
from resumable_adapters.local import LocalProcessJob
from resumable_core.events import SubmitReason, Submitted, WaitingForOwner
from resumable_core.resume import SupportsResumeState


def _clock_text(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def test_a_wait_for_another_processs_submission_says_for_what_and_until_when_on_a_terminal() -> None:
    err = io.StringIO()
    output = Output("tty", err=err, clock=lambda: 1000.0)
    lease_until = time.time() + 120
    output.event(WaitingForOwner("k", "ref-1", "owner-1", lease_until))
    shown = err.getvalue()
    # A permanent line (the event's one text) and a live line, although there is no job id yet.
    assert f"resumable: {WaitingForOwner('k', 'ref-1', 'owner-1', lease_until).describe()}\n" in shown
    assert shown.endswith(f"[WAITING] for another process's submission (reference ref-1) until "
                          f"{_clock_text(lease_until)}  waited 0:00")
    output.event(Submitted("k", "ref-2", "job-2", SubmitReason.NOT_SUBMITTED))
    assert "[WAITING]" not in err.getvalue().rsplit("\r\x1b[K", 1)[-1]  # the job's line replaced it


def test_transient_failures_show_on_the_live_line_and_as_json_events() -> None:
    err = io.StringIO()
    output = Output("tty", err=err, retry_budget=RetryBudget(attempts=10, seconds=300.0))
    output.event(Submitted("k", "ref", "job-1", SubmitReason.NEW))
    output.transient("status of job job-1", 2000.0, "connection refused")
    output.transient("status of job job-1", 2000.0, "connection refused")
    live = err.getvalue().rsplit("\r\x1b[K", 1)[-1]
    assert live.startswith("[SUBMITTED] job job-1")
    assert live.endswith(f"retrying status of job job-1 (attempt 2 of 10, until {_clock_text(2300.0)})")
    # The error is said once on a terminal (its live line counts the attempts on).
    assert err.getvalue().count("connection refused") == 1

    out = io.StringIO()
    machine = Output("json", out=out, retry_budget=RetryBudget(attempts=10, seconds=300.0))
    machine.transient("status of job job-1", 2000.0, "Authorization: Bearer abcdef123456 refused")
    line = json.loads(out.getvalue())
    assert line["event"] == "retrying" and line["attempt"] == 1 and line["until"] == 2300.0
    assert "abcdef123456" not in out.getvalue()  # redacted, and still JSON


class _MinimalJob:
    """The five required operations and nothing else."""

    def submit_job(self, reference: str) -> str:
        return reference

    def get_job_status(self, job_id: str) -> str:
        return "DONE"

    def is_job_active(self, status: str) -> bool:
        return False

    def is_job_succeeded(self, status: str) -> bool:
        return True

    def get_job_result(self, job_id: str, status: str) -> None:
        return None


class _ResumingJob(_MinimalJob):
    def resume_state(self, job_id: str) -> str | None:
        return None

    def submit_job_from(self, reference: str, state: str | None) -> str:
        return "job-1"


@pytest.mark.parametrize("job", [LocalProcessJob(["true"], jobs_dir="/nonexistent"), _MinimalJob(), _ResumingJob()],
                         ids=["local", "minimal", "resuming"])
def test_the_observed_job_has_exactly_the_optional_operations_of_the_job(job: Any) -> None:
    # The core picks its path by these isinstance checks: the wrapper must not change one,
    # also for a capability protocol the core adds later (every public Supports* name).
    wrapped = observed(job, Output("plain"))
    protocols = [getattr(resumable_core, name) for name in resumable_core.__all__ if name.startswith("Supports")]
    protocols.append(SupportsResumeState)  # public in resumable_core.resume
    assert protocols
    for protocol in protocols:
        assert isinstance(wrapped, protocol) == isinstance(job, protocol), protocol.__name__
    assert type(wrapped).__name__ == type(job).__name__  # the core's messages name the job's class
