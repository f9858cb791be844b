"""The job contract suite on each of the three EMR jobs, against moto's server and our layer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from resumable_adapters.aws import EmrServerlessJob
from resumable_core import PollPolicy, ResumableJob
from tests.aws.emrkit import FAIL, FAST, HOLD, job_ids, make_job, new_container, unknown_id
from tests.contracts.job_contract import JobContract, JobHarness
from tests.services.moto_emr import EmrMotoServer


class EmrHarness:
    poll: PollPolicy = FAST

    def __init__(self, server: EmrMotoServer, kind: str) -> None:
        self.server, self.kind = server, kind
        self.container = new_container(server, kind)

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        directives = {"succeed": [], "fail": [FAIL], "long": [HOLD]}[kind]
        return make_job(self.server.endpoint_url, self.kind, self.container, directives, spec=spec)

    def unknown_job_id(self) -> str:
        return unknown_id(self.kind)

    def count_jobs(self) -> int:
        return len(job_ids(self.server.endpoint_url, self.kind, self.container))


class TestEmrStepJobContract(JobContract):
    @pytest.fixture
    def harness(self, emr_moto: EmrMotoServer) -> EmrHarness:
        return EmrHarness(emr_moto, "step")


class TestEmrEksJobContract(JobContract):
    @pytest.fixture
    def harness(self, emr_moto: EmrMotoServer) -> EmrHarness:
        return EmrHarness(emr_moto, "eks")


class TestEmrServerlessJobContract(JobContract):
    @pytest.fixture
    def harness(self, emr_moto: EmrMotoServer) -> EmrHarness:
        return EmrHarness(emr_moto, "serverless")

    def test_find_by_reference(self, harness: JobHarness) -> None:
        """Serverless has no lookup but the token: replaying it finds the run (never None)."""
        job = harness.job("long")
        assert isinstance(job, EmrServerlessJob)
        reference = uuid.uuid4().hex
        job_id = job.submit_job(reference)
        try:
            assert job.find_job_by_reference(reference) == job_id
            assert harness.count_jobs() == 1
        finally:
            job.cancel_job(job_id)
