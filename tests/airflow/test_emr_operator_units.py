"""The resumable EMR operators in-process: the stock arguments, the refusals, execute() against moto + our layer.

No Airflow scheduler here: the AWS connection comes from ``AIRFLOW_CONN_AWS_DEFAULT``
(moto's server, tests/services/moto_emr.py) and ``execute()`` runs with a stand-in task
instance and a MemoryStateStore. The stock operators are the installed amazon provider's.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from resumable_core import InvalidArgument, JobFailed, MemoryStateStore, Phase, load_record
from tests.aws.emrkit import FAST, HOLD, job_ids, new_container
from tests.services.moto import REGION
from tests.services.moto_emr import RELEASE_LABEL, ROLE_ARN, EmrMotoServer, emr_moto

__all__ = ["emr_moto"]

stock = pytest.importorskip("airflow.providers.amazon.aws.operators.emr")
base_aws = pytest.importorskip("airflow.providers.amazon.aws.operators.base_aws")


def ours(name: str) -> Any:
    import resumable_adapters.airflow as airflow_adapter

    return getattr(airflow_adapter, name)


PAIRS = [
    ("ResumableEmrAddStepsOperator", stock.EmrAddStepsOperator),
    ("ResumableEmrServerlessStartJobOperator", stock.EmrServerlessStartJobOperator),
    ("ResumableEmrContainerOperator", stock.EmrContainerOperator),
]


@pytest.mark.parametrize(("name", "stock_class"), PAIRS, ids=[p[0] for p in PAIRS])
def test_the_signature_has_every_stock_argument_with_its_default(name: str, stock_class: Any) -> None:
    """A provider release that adds an argument (or changes a default) fails here."""
    mine = inspect.signature(ours(name).__init__).parameters
    expected = {**inspect.signature(base_aws.AwsBaseOperator.__init__).parameters,
                **inspect.signature(stock_class.__init__).parameters}
    missing = [arg for arg in expected if arg not in mine]
    assert not missing, f"{stock_class.__name__} arguments {name} lacks: {missing}"
    for arg, parameter in expected.items():
        if arg in ("self", "kwargs"):
            continue
        assert mine[arg].kind == parameter.kind, arg
        assert mine[arg].default == parameter.default, arg
    assert set(stock_class.template_fields) <= set(ours(name).template_fields)


def test_a_task_runs_one_step() -> None:
    step = {"Name": "a", "HadoopJarStep": {"Jar": "x"}}
    with pytest.raises(InvalidArgument, match="steps: 2 steps given"):
        ours("ResumableEmrAddStepsOperator")(task_id="t", job_flow_id="j-1", steps=[step, step])
    with pytest.raises(InvalidArgument, match="job_flow_id, job_flow_name: give exactly one"):
        ours("ResumableEmrAddStepsOperator")(task_id="t", job_flow_id="j-1", job_flow_name="c", steps=[step])


@pytest.mark.parametrize("name", ["ResumableEmrServerlessStartJobOperator", "ResumableEmrContainerOperator"])
def test_a_fixed_client_token_is_refused_naming_it_and_why(name: str) -> None:
    args: dict[str, Any] = dict(task_id="t", execution_role_arn=ROLE_ARN, job_driver={"x": {}},
                                client_request_token="fixed")
    if name == "ResumableEmrServerlessStartJobOperator":
        args.update(application_id="app")
    else:
        args.update(name="etl", virtual_cluster_id="vc", release_label=RELEASE_LABEL)
    with pytest.raises(InvalidArgument, match="client_request_token: .*old failed run"):
        ours(name)(**args)


def test_openlineage_injection_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="openlineage_inject_parent_job_info"):
        ours("ResumableEmrAddStepsOperator")(task_id="t", job_flow_id="j-1", openlineage_inject_parent_job_info=True,
                                             steps=[{"Name": "a", "HadoopJarStep": {"Jar": "x"}}])


# --- execute() against moto and our layer ----------------------------------------------------------


class StandInTi(SimpleNamespace):
    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def stand_in_ti(max_tries: int = 0) -> StandInTi:
    return StandInTi(dag_id="d", run_id="r", task_id="emr", map_index=-1, max_tries=max_tries, pushed={})


@pytest.fixture
def aws_connection(emr_moto: EmrMotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmrMotoServer]:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", emr_moto.airflow_connection)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    yield emr_moto


def build(kind: str, container: str, store: MemoryStateStore, *, directives: list[str] | None = None,
          **extra: Any) -> Any:
    args = ["s3://bucket/etl.py", *(directives or [])]
    common: dict[str, Any] = dict(task_id="emr", state_store=store, poll=FAST, **extra)
    if kind == "step":
        return ours("ResumableEmrAddStepsOperator")(
            job_flow_id=container, steps=[{"Name": "etl", "ActionOnFailure": "CONTINUE",
                                           "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args}}], **common)
    driver_key = "sparkSubmit" if kind == "serverless" else "sparkSubmitJobDriver"
    driver = {driver_key: {"entryPoint": args[0], "entryPointArguments": args[1:]}}
    if kind == "serverless":
        return ours("ResumableEmrServerlessStartJobOperator")(application_id=container, execution_role_arn=ROLE_ARN,
                                                              job_driver=driver, **common)
    return ours("ResumableEmrContainerOperator")(name="etl", virtual_cluster_id=container, execution_role_arn=ROLE_ARN,
                                                 release_label=RELEASE_LABEL, job_driver=driver, **common)


@pytest.mark.parametrize("kind", ["step", "serverless", "eks"])
def test_execute_returns_the_stock_xcom_a_retry_reuses_and_a_clear_submits_afresh(
        aws_connection: EmrMotoServer, kind: str) -> None:
    container = new_container(aws_connection, kind)
    store = MemoryStateStore()
    extra: dict[str, Any] = {"wait_for_completion": True} if kind == "step" else {}
    ti = stand_in_ti()
    value = build(kind, container, store, **extra).execute({"ti": ti})
    [job_id] = job_ids(aws_connection.endpoint_url, kind, container)
    assert value == ([job_id] if kind == "step" else job_id)  # the stock operator's XCom
    assert ti.pushed["emr_result"]["state"] in ("COMPLETED", "SUCCESS")
    record = load_record(store, "airflow/d/r/emr/-1")
    assert record is not None and record.phase is Phase.SUCCEEDED and record.job_id == job_id
    assert build(kind, container, store, **extra).execute({"ti": stand_in_ti()}) == value  # a retry: reused
    assert job_ids(aws_connection.endpoint_url, kind, container) == [job_id]
    cleared = build(kind, container, store, **extra).execute({"ti": stand_in_ti(max_tries=1)})  # a clear
    assert cleared != value and len(job_ids(aws_connection.endpoint_url, kind, container)) == 2


def test_add_steps_without_waiting_returns_once_the_step_is_added_and_a_retry_adds_none(
        aws_connection: EmrMotoServer) -> None:
    cluster = new_container(aws_connection, "step")
    store = MemoryStateStore()
    ti = stand_in_ti()
    [step_id] = build("step", cluster, store, directives=[HOLD]).execute({"ti": ti})  # wait_for_completion=False: stock default
    assert ti.pushed["emr_result"]["state"] in ("PENDING", "RUNNING")
    assert build("step", cluster, store, directives=[HOLD]).execute({"ti": stand_in_ti()}) == [step_id]
    assert job_ids(aws_connection.endpoint_url, "step", cluster) == [step_id]
    aws_connection.release(step_id)


@pytest.mark.parametrize("kind", ["step", "serverless", "eks"])
def test_the_trigger_builds_a_job_that_asks_the_status(aws_connection: EmrMotoServer, kind: str) -> None:
    """deferrable=True: what the triggerer polls with is built from JSON (the operator's trigger_job_spec)."""
    from resumable_adapters.airflow._emr import status_job

    container = new_container(aws_connection, kind)
    operator = build(kind, container, MemoryStateStore(), deferrable=True, directives=[HOLD])
    job = operator.make_job({"ti": stand_in_ti()})
    job_id = job.submit_job("ref-deferred")
    factory, kwargs = operator.trigger_job_spec({"ti": stand_in_ti()})
    assert factory == "resumable_adapters.airflow._emr:status_job"
    watcher = status_job(**kwargs)
    status = watcher.get_job_status(job_id)
    assert watcher.is_job_active(status)
    aws_connection.release(job_id)


def _run_until_submitted(operator: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def execute() -> None:
        try:
            outcome["value"] = operator.execute({"ti": stand_in_ti()})
        except Exception as exc:  # reported to the test
            outcome["error"] = exc

    thread = threading.Thread(target=execute)
    thread.start()
    deadline = time.monotonic() + 60
    while operator._job_id is None and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)  # the try's own record of its job id, which on_kill reads
    assert operator._job_id is not None, outcome
    return thread, outcome


def _timed_out(operator: Any) -> None:
    """on_kill as Airflow's runner calls it for an execution timeout: inside ``except AirflowTaskTimeout``."""
    from resumable_adapters.airflow._compat import AirflowTaskTimeout

    try:
        raise AirflowTaskTimeout("execution_timeout")
    except AirflowTaskTimeout:
        operator.on_kill()


@pytest.mark.parametrize("kind", ["step", "eks"])
def test_a_timeout_cancels_the_job(aws_connection: EmrMotoServer, kind: str) -> None:
    container = new_container(aws_connection, kind)
    extra: dict[str, Any] = {"wait_for_completion": True} if kind == "step" else {}
    store = MemoryStateStore()
    operator = build(kind, container, store, directives=[HOLD], **extra)
    thread, outcome = _run_until_submitted(operator)
    _timed_out(operator)
    thread.join(60)
    assert isinstance(outcome.get("error"), JobFailed), outcome  # the try's polling saw the cancel
    [job_id] = job_ids(aws_connection.endpoint_url, kind, container)
    assert operator.make_job({"ti": stand_in_ti()}).get_job_status(job_id) == "CANCELLED"
    record = load_record(store, "airflow/d/r/emr/-1")
    assert record is not None and record.phase is Phase.FAILED  # a timeout reruns: the next try submits afresh


def test_cancel_on_kill_false_leaves_the_run(aws_connection: EmrMotoServer) -> None:
    application = new_container(aws_connection, "serverless")
    operator = build("serverless", application, MemoryStateStore(), directives=[HOLD], cancel_on_kill=False)
    thread, outcome = _run_until_submitted(operator)
    _timed_out(operator)
    job_id = operator._job_id
    assert operator.make_job({"ti": stand_in_ti()}).get_job_status(job_id) == "RUNNING"
    aws_connection.release(job_id)
    thread.join(60)
    assert outcome.get("value") == job_id, outcome
