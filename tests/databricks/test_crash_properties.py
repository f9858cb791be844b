"""The crash-injection properties over DatabricksSubmitRunJob, against the loopback workspace.

Bodies and checks: tests/contracts/crash_properties.py; the machinery: tests/core/_crash.py.
One loopback workspace serves the module, reset for each example onto its virtual clock;
the jobs talk to it through the real databricks-sdk. Each submission's outcome is drawn;
FORGET deletes the recorded run (Databricks forgets runs after their retention; a deleted
run answers 404, and its token can never be used again). The proof that no second run was
made is the workspace's own list of runs, each with the token it was made under.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from resumable_adapters.databricks import DatabricksJobsClient, DatabricksSubmitRunJob
from resumable_core import JsonValue
from resumable_core.testing import FakeClock
from tests.contracts.crash_properties import Adapter, AdapterCluster, crash_properties
from tests.core._crash import (
    ACTIVE_STATE,
    ANY_FAULT,
    CANCELLED_STATE,
    FAILED_STATE,
    SUCCEEDED_STATE,
    SystemJob,
    quiet_logs,
)
from tests.databricks.conftest import task
from tests.services.databricks_api import DatabricksApiServer


class DatabricksCluster(AdapterCluster):
    """The loopback workspace, reset for one example onto its virtual clock."""

    def __init__(self, server: DatabricksApiServer, clock: FakeClock, outcomes: Sequence[str]) -> None:
        super().__init__(outcomes)
        self.server = server
        server.reset(clock)
        server.outcome_for = self.plan

    def plan(self, tasks: list[dict[str, Any]]) -> str:
        return "SUCCESS" if self.next_succeeds() else "FAILED"

    def jobs(self) -> list[SystemJob]:
        found = []
        with self.server.lock:
            runs = list(self.server.runs.values())
        for run in runs:
            job_id = str(run.run_id)
            if job_id in self.forgotten:
                found.append(self.forgotten[job_id])
                continue
            assert run.token is not None, run  # every run here is a submission of the adapter
            found.append(SystemJob(job_id, run.token, self._state(run)))
        return found

    def forget(self, job_id: str) -> None:
        held = next((j for j in self.jobs() if j.job_id == job_id and not j.forgotten), None)
        if held is not None:
            self.remember_forgotten(held)
            with self.server.lock:
                self.server.runs[int(job_id)].deleted = True

    def replace(self, job_id: str) -> None:
        raise AssertionError("Databricks names a run by its id only: REPLACE is for Kubernetes")

    def result_job_id(self, result: JsonValue) -> str:
        assert isinstance(result, dict), result
        assert result["status"] == "TERMINATED SUCCESS/SUCCESS", result
        return str(result["run_id"])

    @staticmethod
    def _state(run: Any) -> str:
        if run.state != "TERMINATED":
            return CANCELLED_STATE if run.cancel_requested else ACTIVE_STATE
        if run.code == "SUCCESS":
            return SUCCEEDED_STATE
        return CANCELLED_STATE if run.code == "USER_CANCELED" else FAILED_STATE


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    with quiet_logs():
        yield


@pytest.fixture(scope="module")
def workspace() -> Iterator[Adapter]:
    """One workspace for the module (a new one per example would cost more than the example)."""
    server = DatabricksApiServer().start()
    client = DatabricksJobsClient(server.url, token=server.token, timeout=5.0)
    clocks: list[FakeClock] = []

    def cluster(clock: FakeClock, outcomes: Sequence[str]) -> DatabricksCluster:
        clocks[:] = [clock]  # the jobs search runs.list on the example's clock
        return DatabricksCluster(server, clock, outcomes)

    def make_job() -> DatabricksSubmitRunJob:
        return DatabricksSubmitRunJob(client, {"run_name": "crash", "tasks": [task("etl")]},
                                      clock=lambda: clocks[0]())

    job_factory: Callable[[], Any] = make_job  # the harness's union names the Spark and pod jobs
    try:
        yield Adapter(cluster, job_factory)
    finally:
        server.stop()


# Two counts, the first two properties: this module has no operator-cancel property.
test_one_caller_crashing_never_makes_two_runs, test_two_callers_on_one_key_make_one_run_at_a_time = crash_properties(
    "workspace", ANY_FAULT, examples=(40, 20), last_steps=(60, 60))
