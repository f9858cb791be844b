"""What a run tells the world: store writes on changes only, log lines that name the job."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from resumable_core import JobFailed, JsonValue, MemoryStateStore, PollPolicy, run_resumable
from resumable_core.testing import FakeClock, FakeExternalSystem, FakeJob


class CountingStore(MemoryStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[JsonValue] = []

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        ok = super().compare_and_set(key, expected, value)
        if ok:
            self.writes.append(value)
        return ok


def test_a_long_poll_writes_the_store_on_changes_only() -> None:
    system = FakeExternalSystem(running_polls=500)
    store = CountingStore()
    clock = FakeClock()
    polls = 0

    class Counting(FakeJob):
        def get_job_status(self, job_id: str) -> str:
            nonlocal polls
            polls += 1
            return super().get_job_status(job_id)

    run_resumable(Counting(system), store, key="k", clock=clock, sleep=clock.sleep, poll=PollPolicy(min_interval=1, max_interval=1))
    assert polls == 502
    phases = [(w["phase"], w["status"]) for w in store.writes if isinstance(w, dict)]
    # intent, id, QUEUED, RUNNING, end: five writes for 502 polls.
    assert phases == [
        ("intent", None),
        ("submitted", None),
        ("submitted", "QUEUED"),
        ("submitted", "RUNNING"),
        ("succeeded", "SUCCEEDED"),
    ]


def test_every_log_line_names_key_reference_and_job(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="resumable_core")
    system = FakeExternalSystem(running_polls=1, outcomes=["FAILED"])
    store = MemoryStateStore()
    clock = FakeClock()
    kwargs: dict[str, Any] = dict(key="the-key", clock=clock, sleep=clock.sleep)
    with pytest.raises(JobFailed):
        run_resumable(FakeJob(system), store, **kwargs)
    run_resumable(FakeJob(system), store, **kwargs)  # resubmits after the failure
    run_resumable(FakeJob(system), store, **kwargs)  # reuses the success
    lines = [r.getMessage() for r in caplog.records if r.name == "resumable_core"]
    assert len(lines) >= 6
    for line in lines:
        assert "key=the-key" in line and "reference=" in line and "job_id=" in line, line
    assert any("resubmitting because previous_failed" in line for line in lines)
    assert any("result reused" in line for line in lines)
