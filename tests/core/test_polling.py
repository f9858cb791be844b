"""The polling loop with an injected clock and sleep."""

from __future__ import annotations

import pytest

from resumable_core import InvalidArgument, JobNotFound, Poller, PollPolicy, TransientError
from resumable_core.errors import PollTimeout, TransientBudgetExhausted
from resumable_core.testing import FakeClock, FakeExternalSystem, FakeJob


def test_backoff_grows_to_the_cap_and_jitter_stays_in_bounds() -> None:
    policy = PollPolicy(min_interval=1, max_interval=8, multiplier=2, jitter=0.25)
    assert [policy.interval(n, 0.5) for n in range(6)] == [1, 2, 4, 8, 8, 8]
    assert policy.interval(0, 0.0) == pytest.approx(0.75)
    assert policy.interval(0, 0.999999) == pytest.approx(1.25, abs=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [dict(min_interval=5, max_interval=1), dict(multiplier=0.5), dict(jitter=1.0), dict(transient_attempts=0), dict(deadline=-1)],
)
def test_bad_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidArgument):
        PollPolicy(**kwargs)  # type: ignore[arg-type]


def test_wait_reports_each_status_change_once_and_returns_the_end() -> None:
    system = FakeExternalSystem(running_polls=3)
    job = FakeJob(system)
    job_id = system.submit("r", "s")
    clock = FakeClock()
    changes: list[str] = []
    poller = Poller(PollPolicy(min_interval=1, max_interval=2, jitter=0), clock=clock, sleep=clock.sleep, on_status=changes.append)
    assert poller.wait(job, job_id) == "SUCCEEDED"
    assert changes == ["QUEUED", "RUNNING", "SUCCEEDED"]
    assert clock.slept == [1, 1, 2, 2]  # reset on change, then doubled, capped


def test_deadline_raises_poll_timeout_naming_job_and_state() -> None:
    system = FakeExternalSystem(running_polls=1000)
    job_id = system.submit("r", "s")
    clock = FakeClock()
    poller = Poller(PollPolicy(min_interval=1, max_interval=1, jitter=0, deadline=10), clock=clock, sleep=clock.sleep)
    with pytest.raises(PollTimeout) as info:
        poller.wait(FakeJob(system), job_id)
    assert (info.value.job_id, info.value.status) == (job_id, "RUNNING")
    assert clock.now - FakeClock().now == pytest.approx(10)


def test_transient_errors_within_budget_are_retried() -> None:
    system = FakeExternalSystem(running_polls=0, transient_failures=3)
    job_id = "job-0001"
    system.transient_failures = 0
    system.submit("r", "s")
    system.transient_failures = 3
    clock = FakeClock()
    poller = Poller(PollPolicy(min_interval=1, transient_attempts=4), clock=clock, sleep=clock.sleep)
    assert poller.status(FakeJob(system), job_id) == "QUEUED"


def test_transient_budget_by_attempts_and_by_time() -> None:
    clock = FakeClock()
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        raise TransientError("connection refused")

    with pytest.raises(TransientBudgetExhausted):
        Poller(PollPolicy(transient_attempts=3), clock=clock, sleep=clock.sleep).retry_transient(flaky, what="x")
    assert calls == 3
    calls = 0
    with pytest.raises(TransientBudgetExhausted):
        Poller(PollPolicy(min_interval=10, max_interval=10, transient_attempts=1000, transient_seconds=35), clock=clock, sleep=clock.sleep).retry_transient(flaky, what="x")
    assert calls == 5  # 0, 10, 20, 30 s then 40 s > 35 s


def test_not_found_is_not_retried() -> None:
    system = FakeExternalSystem()
    with pytest.raises(JobNotFound):
        Poller(PollPolicy()).status(FakeJob(system), "job-0042")
