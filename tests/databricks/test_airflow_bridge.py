"""The stock DatabricksSubmitRunOperator and DatabricksRunNowOperator (provider 7.23.0) through the
bridge, against the loopback workspace: the provider's own hook and HTTP calls are real.

In this process, with a stand-in task instance and task state store (tests/airflow_bridge/toy.py).
The point is the token: the stock operators send one fixed ``idempotency_token`` per task when one
is set, so a retry after a failure gets the failed run back (apache/airflow#64828); through the
bridge every submission sends its own reference instead, even over an explicit fixed token.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from resumable_adapters.airflow._bridge import resumable
from resumable_core import JobFailed, Policy, PollPolicy
from tests.airflow_bridge.toy import Crash, FakeTaskInstance, FakeTaskStateStore, context_for
from tests.databricks.conftest import task
from tests.services.databricks_api import DatabricksApiServer

pytestmark = pytest.mark.airflow

databricks_operators = pytest.importorskip("airflow.providers.databricks.operators.databricks")
ResumableSubmitRun: Any = resumable(databricks_operators.DatabricksSubmitRunOperator)
ResumableRunNow: Any = resumable(databricks_operators.DatabricksRunNowOperator)
FAST = PollPolicy(min_interval=0.01, max_interval=0.05)
KEY = "resumable_core.job"


class CrashingSubmitRun(ResumableSubmitRun):  # type: ignore[misc]  # a class built at run time
    """Dies right after Databricks made the run, before the bridge could record its id."""

    def submit_job(self, context: Any) -> Any:
        super().submit_job(context)
        raise Crash("worker died between submit and record")


@pytest.fixture(autouse=True)
def connection(databricks_api: DatabricksApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = databricks_api.url.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps({
        "conn_type": "databricks", "host": host, "port": int(port), "schema": "http",
        "password": databricks_api.token}))


def tokens(api: DatabricksApiServer, suffix: str) -> list[str | None]:
    return [body.get("idempotency_token") for _, path, body in api.requests if path.endswith(suffix)]


def test_a_retry_after_a_failed_run_gets_a_new_run_despite_a_fixed_token(databricks_api: DatabricksApiServer) -> None:
    ti, store = FakeTaskInstance(max_tries=2), FakeTaskStateStore()

    def operator() -> Any:
        return ResumableSubmitRun(task_id="etl", idempotency_token="fixed-per-task", poll=FAST,
                                  tasks=[task("ingest"), task("load", "FAILED", "FAILED")])

    with pytest.raises(JobFailed):
        operator().execute(context_for(ti, store))
    ti.try_number = 2  # Airflow's retry of the task
    with pytest.raises(JobFailed):
        operator().execute(context_for(ti, store))
    sent = tokens(databricks_api, "/runs/submit")
    assert "fixed-per-task" not in sent and len(set(sent)) == 2  # one token per submission
    assert databricks_api.runs_created() == 2  # the stock operator would get the failed run back: one


def test_a_crash_between_submit_and_record_is_one_run(databricks_api: DatabricksApiServer) -> None:
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    tasks = [task("ingest")]
    # No lookup by reference here (the stock operators have none): the retry waits out the crashed
    # try's intent lease, then submits under the same reference. A short lease keeps that wait short.
    short = Policy(intent_lease=0.3)
    with pytest.raises(Crash):
        CrashingSubmitRun(task_id="etl", tasks=tasks, poll=FAST, policy=short).execute(context_for(ti, store))
    assert store.values[KEY]["phase"] == "intent"
    ti.try_number = 2
    result = ResumableSubmitRun(task_id="etl", tasks=tasks, poll=FAST, policy=short).execute(context_for(ti, store))
    assert result is None  # the stock operator's own result
    sent = tokens(databricks_api, "/runs/submit")
    assert len(sent) == 2 and sent[0] == sent[1] == store.values[KEY]["reference"]  # the same reference, replayed
    assert databricks_api.runs_created() == 1
    assert ti.xcoms["run_id"] == next(iter(databricks_api.runs))  # the stock side XCom, pushed by its hooks


def test_run_now_sends_its_own_reference_as_the_token(databricks_api: DatabricksApiServer) -> None:
    databricks_api.create_job(5, [task("ingest"), task("load")])
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    ResumableRunNow(task_id="nightly", job_id=5, idempotency_token="fixed", poll=FAST).execute(context_for(ti, store))
    assert tokens(databricks_api, "/run-now") == [store.values[KEY]["reference"]]
    assert databricks_api.runs_created() == 1
