"""The job contract over both Databricks jobs: the loopback workspace, the real databricks-sdk client."""

from __future__ import annotations

from typing import Any

import pytest

from resumable_adapters.databricks import DatabricksJobsClient, DatabricksRunNowJob, DatabricksSubmitRunJob
from resumable_core import PollPolicy, ResumableJob
from tests.contracts.job_contract import JobContract
from tests.databricks.conftest import FAST_POLL, task
from tests.services.databricks_api import DatabricksApiServer

OUTCOMES = {"succeed": "SUCCESS", "fail": "FAILED", "long": "HOLD"}


class SubmitHarness:
    poll: PollPolicy = FAST_POLL

    def __init__(self, api: DatabricksApiServer, client: DatabricksJobsClient) -> None:
        self.api, self.client = api, client

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        outcome = OUTCOMES[kind]
        return DatabricksSubmitRunJob(self.client, {"run_name": f"contract-{spec}",
                                                    "tasks": [task("ingest"), task("load", outcome, outcome)]})

    def unknown_job_id(self) -> str:
        return "987654321"

    def count_jobs(self) -> int:
        return self.api.runs_created()


class RunNowHarness(SubmitHarness):
    def __init__(self, api: DatabricksApiServer, client: DatabricksJobsClient) -> None:
        super().__init__(api, client)
        for job_id, outcome in enumerate(OUTCOMES.values(), start=1):
            api.create_job(job_id, [task("ingest"), task("load", outcome, outcome)],
                           parameters={"resumable_reference": "", "day": ""})

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        job_id = list(OUTCOMES).index(kind) + 1
        return DatabricksRunNowJob(self.client, job_id, {"job_parameters": {"day": spec}},
                                   reference_parameter="resumable_reference")


class TestDatabricksSubmitRunContract(JobContract):
    @pytest.fixture
    def harness(self, databricks_api: DatabricksApiServer, databricks_client: DatabricksJobsClient) -> SubmitHarness:
        return SubmitHarness(databricks_api, databricks_client)


class TestDatabricksRunNowContract(JobContract):
    @pytest.fixture
    def harness(self, databricks_api: DatabricksApiServer, databricks_client: DatabricksJobsClient) -> RunNowHarness:
        return RunNowHarness(databricks_api, databricks_client)
