"""The real GlueJobOperator and RedshiftDataOperator (amazon provider 9.39.0) through the bridge, against moto.

In this process, with a stand-in task instance and task state store: the
provider code, boto3 and the emulator are real; what Airflow itself adds
(dag runs, retries, clears, SIGTERM) is in test_bridge_moto_in_airflow.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.airflow import AirflowStateStore, KillCause, TaskInterrupted
from resumable_adapters.airflow._bridge import resumable
from resumable_adapters.airflow._hook_job import decode_external_id
from resumable_adapters.airflow._references import GLUE_REFERENCE_ARG
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Phase, Policy, PollPolicy, load_record
from tests.airflow_bridge.toy import Crash, FakeTaskInstance, FakeTaskStateStore, context_for, execute_at_once
from tests.services.moto import MotoServer

pytestmark = pytest.mark.airflow

FAST = PollPolicy(min_interval=0.02, max_interval=0.05)
KEY = "resumable_core.job"
_names = itertools.count(1)

from airflow.providers.amazon.aws.operators.glue import GlueJobOperator  # noqa: E402
from airflow.providers.amazon.aws.operators.redshift_data import RedshiftDataOperator  # noqa: E402

ResumableGlue: Any = resumable(GlueJobOperator)
ResumableRedshiftData: Any = resumable(RedshiftDataOperator)


class CrashingGlue(ResumableGlue):  # type: ignore[misc]  # a class built at run time
    """Dies right after Glue accepted the run, before the bridge could record its id."""

    def submit_job(self, context: Any) -> Any:
        super().submit_job(context)
        raise Crash("worker died between submit and record")


class SigtermDuringPoll(ResumableRedshiftData):  # type: ignore[misc]  # a class built at run time
    """Gets on_kill() on its first status query, as from the task runner's SIGTERM handler."""

    def get_job_status(self, external_id: Any, context: Any) -> str:
        status: str = super().get_job_status(external_id, context)
        if not getattr(self, "_signalled", False):
            self._signalled = True
            self.on_kill()
        return status


@pytest.fixture(autouse=True)
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_server.airflow_connection)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    moto_server.set_transition("glue::job_run", "manual", times=2)
    yield moto_server


def glue_job(moto: MotoServer) -> str:
    name = f"etl-{next(_names)}"
    moto.client("glue").create_job(Name=name, Role="arn:aws:iam::123456789012:role/glue",
                                   Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/etl.py"})
    return name


def glue_runs(moto: MotoServer, name: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = moto.client("glue").get_job_runs(JobName=name)["JobRuns"]
    return runs


def test_glue_returns_the_run_id_as_the_stock_operator_does(aws: MotoServer) -> None:
    name = glue_job(aws)
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    result = ResumableGlue(task_id="g", job_name=name, script_args={"--day": "2026-01-01"}, poll=FAST).execute(
        context_for(ti, store))
    [run] = glue_runs(aws, name)
    assert result == run["Id"] and run["JobRunState"] == "SUCCEEDED"
    assert run["Arguments"]["--day"] == "2026-01-01"  # the operator's own arguments still go
    assert run["Arguments"][GLUE_REFERENCE_ARG] == store.values[KEY]["reference"]
    assert ti.xcoms["glue_job_run_id"] == run["Id"]  # the stock side XCom, pushed by its hooks
    assert store.values["glue_job_run_id"] == run["Id"]  # the stock mixin's key, for a switch back


def test_glue_crash_between_submit_and_record_is_found_by_its_run_argument(aws: MotoServer) -> None:
    name = glue_job(aws)
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    with pytest.raises(Crash):
        CrashingGlue(task_id="g", job_name=name, poll=FAST).execute(context_for(ti, store))
    assert store.values[KEY]["phase"] == "intent"
    ti.try_number = 2
    result = ResumableGlue(task_id="g", job_name=name, poll=FAST, policy=Policy(intent_lease=0.01)).execute(
        context_for(ti, store))
    [run] = glue_runs(aws, name)  # found with GetJobRuns, not submitted again
    assert result == run["Id"]


def test_glue_stock_id_is_adopted(aws: MotoServer) -> None:
    name = glue_job(aws)
    started = aws.client("glue").start_job_run(JobName=name)["JobRunId"]
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    store.values["glue_job_run_id"] = started  # what the stock GlueJobOperator's mixin wrote
    result = ResumableGlue(task_id="g", job_name=name, poll=FAST).execute(context_for(ti, store))
    assert result == started and len(glue_runs(aws, name)) == 1


def test_glue_two_tries_at_once_on_a_sqlite_store_start_one_run(aws: MotoServer, tmp_path: Path) -> None:
    name = glue_job(aws)
    results, errors = execute_at_once(
        lambda: ResumableGlue(task_id="g", job_name=name, poll=FAST, state_store=SqliteStateStore(tmp_path / "state.db")),
        timeout=60)
    assert errors == []
    [run] = glue_runs(aws, name)
    assert results == [run["Id"], run["Id"]]


def test_redshift_data_returns_statement_ids_and_sends_the_reference_as_client_token(aws: MotoServer) -> None:
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    op = ResumableRedshiftData(task_id="r", sql="select 1", database="dev", cluster_identifier="c1", poll=FAST)
    sent: list[bytes] = []
    op.hook.conn.meta.events.register("before-call.redshift-data.ExecuteStatement",
                                      lambda params, **_: sent.append(params["body"]))
    result = op.execute(context_for(ti, store))
    [statement_id] = result  # the stock operator's XCom: the list of statement ids
    assert aws.client("redshift-data").describe_statement(Id=statement_id)["Status"] == "FINISHED"
    assert len(sent) == 1 and f'"ClientToken": "{store.values[KEY]["reference"]}"' in sent[0].decode()


@pytest.mark.parametrize(("state", "cause", "final"), [
    ("failed", KillCause.USER_ACTION, "ABORTED"),
    ("running", KillCause.WORKER_SHUTDOWN, "STARTED"),
])
def test_redshift_data_kill_by_cause_through_its_own_on_kill(aws: MotoServer, state: str, cause: KillCause,
                                                             final: str) -> None:
    ti, store = FakeTaskInstance(state=state), FakeTaskStateStore()
    op = SigtermDuringPoll(task_id="r", sql="select 1 /* hold */", database="dev", cluster_identifier="c1",
                           poll=FAST)
    with pytest.raises(TaskInterrupted) as caught:
        op.execute(context_for(ti, store))
    assert caught.value.cause is cause
    record = load_record(AirflowStateStore(store), KEY)
    assert record is not None and record.job_id is not None
    assert record.phase is (Phase.CANCELLED if final == "ABORTED" else Phase.SUBMITTED)
    statement_id = decode_external_id(record.job_id)
    assert aws.client("redshift-data").describe_statement(Id=statement_id)["Status"] == final


def test_the_two_line_change_in_the_docs_builds_the_same_task() -> None:
    import re

    import resumable_adapters.airflow

    text = (Path(__file__).resolve().parents[2] / "docs" / "airflow-bridge.md").read_text()
    before, after = re.findall(r"```python\n(.*?)```", text, re.S)[0].split("# after")
    if not hasattr(resumable_adapters.airflow, "resumable"):  # until adapters/resumable_adapters/airflow/__init__.py exports it
        after = after.replace("from resumable_adapters.airflow import resumable", "from resumable_adapters.airflow._bridge import resumable")
    stock: dict[str, Any] = {}
    bridged: dict[str, Any] = {}
    exec(before, stock)  # our own docs: the point is that they run
    exec(after, bridged)
    old, new = stock["etl"], bridged["etl"]
    assert isinstance(new, GlueJobOperator) and type(new) is ResumableGlue
    for name in ("task_id", "job_name", "script_args", "stop_job_run_on_kill", "retries"):
        assert getattr(new, name) == getattr(old, name)
    # The change is one import and the class name at the call; the arguments are untouched.
    squeeze = " ".join(after.split()).replace("resumable(GlueJobOperator)(", "GlueJobOperator(")
    assert squeeze.split("etl = ")[1] == " ".join(before.split()).split("etl = ")[1]
