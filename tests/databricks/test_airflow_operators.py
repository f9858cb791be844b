"""ResumableDatabricksSubmitRunOperator and ResumableDatabricksRunNowOperator: the stock operators'
arguments (compared with the installed provider 7.23.0), run in this process against the loopback
workspace with a stand-in task instance and task state store (tests/airflow_bridge/toy.py)."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from resumable_adapters.airflow._databricks import (
    ResumableDatabricksRunNowOperator,
    ResumableDatabricksSubmitRunOperator,
)
from resumable_core import InvalidArgument, JobFailed, PollPolicy
from tests.airflow_bridge.toy import Crash, FakeTaskInstance, FakeTaskStateStore
from tests.airflow_bridge.toy import context_for as toy_context
from tests.databricks.conftest import task
from tests.services.databricks_api import DatabricksApiServer

pytestmark = pytest.mark.airflow

stock = pytest.importorskip("airflow.providers.databricks.operators.databricks")
FAST = PollPolicy(min_interval=0.01, max_interval=0.05)
KEY = "resumable_core.job"


def context_for(ti: FakeTaskInstance, store: FakeTaskStateStore) -> Any:
    return toy_context(ti, store)  # what the operators read of a task's context


@pytest.fixture(autouse=True)
def connection(databricks_api: DatabricksApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = databricks_api.url.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps({
        "conn_type": "databricks", "host": host, "port": int(port), "schema": "http",
        "password": databricks_api.token}))


@pytest.mark.parametrize(("ours", "theirs"), [
    (ResumableDatabricksSubmitRunOperator, stock.DatabricksSubmitRunOperator),
    (ResumableDatabricksRunNowOperator, stock.DatabricksRunNowOperator),
])
def test_the_signature_has_every_stock_argument_with_its_default(ours: Any, theirs: Any) -> None:
    mine = inspect.signature(ours.__init__).parameters
    for name, parameter in inspect.signature(theirs.__init__).parameters.items():
        assert name in mine, f"{ours.__name__} lacks {name}"
        assert mine[name].default == parameter.default, name
    assert set(theirs.template_fields) - {"idempotency_token"} <= set(ours.template_fields)


@pytest.mark.parametrize(("cls", "arguments", "named"), [
    (ResumableDatabricksSubmitRunOperator, {"idempotency_token": "fixed"}, "old failed run"),
    (ResumableDatabricksSubmitRunOperator, {"deferrable": True}, "deferrable"),
    (ResumableDatabricksSubmitRunOperator, {"wait_for_termination": False}, "wait_for_termination"),
    (ResumableDatabricksRunNowOperator, {"job_id": "1", "cancel_previous_runs": True}, "cancel_previous_runs"),
    (ResumableDatabricksRunNowOperator, {"job_id": "1", "databricks_retry_args": {"stop": 1}}, "retries are off"),
])
def test_what_cannot_be_honoured_is_refused_when_the_dag_is_parsed(cls: type, arguments: dict[str, Any],
                                                                  named: str) -> None:
    with pytest.raises(InvalidArgument, match=named):
        cls(task_id="t", **arguments)


def test_a_one_time_run_returns_its_result_and_pushes_the_stock_xcoms(databricks_api: DatabricksApiServer) -> None:
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    result = ResumableDatabricksSubmitRunOperator(
        task_id="etl", notebook_task={"notebook_path": "/Jobs/etl"}, existing_cluster_id="0101-loopback",
        poll=FAST).execute(context_for(ti, store))
    (run_id,) = databricks_api.runs
    assert result["run_id"] == run_id and result["status"] == "TERMINATED SUCCESS/SUCCESS"
    assert ti.xcoms["run_id"] == run_id and ti.xcoms["run_page_url"] == result["run_page_url"]
    (body,) = [b for _, path, b in databricks_api.requests if path.endswith("/runs/submit")]
    assert body["tasks"] == [{"task_key": "etl", "notebook_task": {"notebook_path": "/Jobs/etl"},
                              "existing_cluster_id": "0101-loopback"}]  # the single-task form, as a task
    assert body["idempotency_token"] == store.values[KEY]["reference"]


class CrashingSubmitRun(ResumableDatabricksSubmitRunOperator):
    def make_job(self, context: Any) -> Any:
        job = super().make_job(context)
        original = job.submit_job

        def submit_then_die(reference: str) -> str:
            original(reference)
            raise Crash("worker died between submit and record")

        job.submit_job = submit_then_die  # type: ignore[method-assign]  # the one seam a real crash needs
        return job


def test_a_crash_between_submit_and_record_is_found_by_reference(databricks_api: DatabricksApiServer) -> None:
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    arguments: dict[str, Any] = {"task_id": "etl", "tasks": [task("ingest")], "poll": FAST}
    with pytest.raises(Crash):
        CrashingSubmitRun(**arguments).execute(context_for(ti, store))
    ti.try_number = 2
    result = ResumableDatabricksSubmitRunOperator(**arguments).execute(context_for(ti, store))
    assert result["run_id"] == next(iter(databricks_api.runs)) and databricks_api.runs_created() == 1


def test_run_now_by_job_name_with_repair_run_repairs_the_failed_run(databricks_api: DatabricksApiServer) -> None:
    databricks_api.create_job(31, [task("ingest"), task("load", "FAILED", "SUCCESS", depends_on=("ingest",))],
                              parameters={"day": ""}, name="Nightly ETL")
    ti, store = FakeTaskInstance(max_tries=2), FakeTaskStateStore()

    def operator() -> ResumableDatabricksRunNowOperator:
        return ResumableDatabricksRunNowOperator(task_id="nightly", job_name="nightly etl", repair_run=True,
                                                 params={"day": "2026-12-06"}, poll=FAST)

    with pytest.raises(JobFailed):
        operator().execute(context_for(ti, store))
    ti.try_number = 2  # Airflow's retry of the task
    result = operator().execute(context_for(ti, store))
    assert result["status"] == "TERMINATED SUCCESS/SUCCESS" and result["repair_id"] is not None
    assert databricks_api.runs_created() == 1 and databricks_api.calls("/runs/repair") == 1
    (run,) = databricks_api.runs.values()
    assert run.job_parameters == {"day": "2026-12-06"}  # the dag's params, forwarded as the stock one does
