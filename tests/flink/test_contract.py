"""The job contract suite over FlinkJob, against the real session cluster."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from resumable_adapters.flink import FlinkJob
from resumable_core import PollPolicy
from tests.contracts.job_contract import JobContract
from tests.flink.conftest import FAST_POLL, FlinkKit
from tests.services.flink import Control

pytestmark = pytest.mark.flink


class _Harness:
    poll: PollPolicy = FAST_POLL

    def __init__(self, kit: FlinkKit) -> None:
        self.kit = kit
        self.controls: dict[tuple[str, str], Control] = {}

    def job(self, kind: str, spec: str = "a") -> FlinkJob:
        # One control directory per (kind, spec): the same spec is the same job (fingerprint).
        control = self.controls.get((kind, spec))
        if control is None:
            control = self.controls[kind, spec] = self.kit.control()
        if kind == "fail":
            control.fail()  # it throws on its first tick: FAILED (no restarts)
        # "succeed": a bounded count finishes by itself; "long": held running until cancelled.
        return self.kit.job(control, bound=20 if kind == "succeed" else 0, extra=(spec,))

    def unknown_job_id(self) -> str:
        return uuid.uuid4().hex

    def count_jobs(self) -> int:
        return len(self.kit.cluster.jobs())


class TestFlinkJobContract(JobContract):
    @pytest.fixture
    def harness(self, kit: FlinkKit) -> Any:
        return _Harness(kit)
