"""The job contract against the public fake: keeps the contract itself honest."""

from __future__ import annotations

from typing import Any

import pytest

from resumable_core import PollPolicy, ResumableJob
from resumable_core.testing import BatchFakeJob, FakeExternalSystem, FakeJob
from tests.contracts.job_contract import JobContract


class FakeHarness:
    poll = PollPolicy(min_interval=0, max_interval=0)

    def __init__(self) -> None:
        self.system = FakeExternalSystem(running_polls=2)

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        if kind == "fail":
            self.system.outcomes.append("FAILED")
        elif kind == "long":
            self.system.running_polls = 50
        return FakeJob(self.system, spec)

    def unknown_job_id(self) -> str:
        return "job-9999"

    def count_jobs(self) -> int:
        return len(self.system.submissions())


class TestFakeJob(JobContract):
    @pytest.fixture
    def harness(self) -> FakeHarness:
        return FakeHarness()


class BatchFakeHarness(FakeHarness):
    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        super().job(kind, spec)
        return BatchFakeJob(self.system, spec)


class TestBatchFakeJob(JobContract):
    """The contract with batched status on: the listing tests run, and every other one still holds."""

    @pytest.fixture
    def harness(self) -> FakeHarness:
        return BatchFakeHarness()
