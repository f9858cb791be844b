"""ResumableFlinkOperator in-process: refusals, the connection, clear versus retry, cancel by cause.

No scheduler: ``execute()`` runs with a stand-in task instance and a MemoryStateStore,
against the loopback JobManager (tests/flink/jobmanager.py, on the wall clock here); a
SIGTERM is ``on_kill()`` called from the job's status query, as the task runner's handler
calls it. The real cluster in real Airflow: test_flink_in_airflow.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from resumable_core import InvalidArgument, MemoryStateStore, Phase, PollPolicy, load_record
from tests.flink.jobmanager import FlinkJobManager

FAST = PollPolicy(min_interval=0.02, max_interval=0.05, jitter=0.0)
PASSWORD = "flink-unit-password-9b2e"
KEY = "airflow/d/r/flink/-1"


def operator(**kwargs: Any) -> Any:
    from resumable_adapters.airflow import ResumableFlinkOperator

    kwargs.setdefault("task_id", "flink")
    kwargs.setdefault("jar", "/jobs/etl.jar")
    return ResumableFlinkOperator(**kwargs)


def ti(max_tries: int = 1, state: str = "running") -> Any:
    """A stand-in task instance; *state* is what the server answers for it after a SIGTERM."""
    return SimpleNamespace(dag_id="d", run_id="r", task_id="flink", map_index=-1, max_tries=max_tries,
                           try_number=1, get_task_states=lambda **query: {"r": {"flink": state}})


@pytest.fixture
def jar(tmp_path: Path) -> Path:
    path = tmp_path / "etl.jar"
    path.write_bytes(b"PK\x03\x04 a jar's bytes")
    return path


@pytest.fixture
def jobmanager() -> Iterator[FlinkJobManager]:
    server = FlinkJobManager(plan_for=lambda request: [(0.0, "RUNNING"), (0.15, "FINISHED")]).start()
    try:
        yield server
    finally:
        server.stop()


# -- construction -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"application_file": "deployment.yaml"}, "application_file: this operator runs a jar on a session cluster"),
    ({"namespace": "flink", "kubernetes_conn_id": "k8s"}, "kubernetes_conn_id: "),
    ({"deferrable": True}, "deferrable=True: polling stays in the task"),
    ({"job": object()}, "job: the operator builds its FlinkJob"),
    ({"rest_url": "http://jm:8081", "flink_conn_id": "flink_prod"}, "rest_url, flink_conn_id: give one"),
    ({"savepoint_directory": "file:///sp"}, "savepoint_directory: it is where stop_with_savepoint=True writes"),
])
def test_arguments_it_cannot_honour_are_refused_when_the_dag_is_parsed(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        operator(**kwargs)


def test_every_refused_argument_is_named_at_once() -> None:
    with pytest.raises(InvalidArgument) as refused:
        operator(namespace="flink", deferrable=True, savepoint_directory="file:///sp")
    assert all(name in str(refused.value) for name in ("namespace", "deferrable=True", "savepoint_directory"))


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"entry_class": "not a class"}, "entry_class is not a Java class name"),
    ({"parallelism": 0}, "parallelism must be a positive integer"),
    ({"restore_mode": "SOMETIMES"}, "restore_mode must be one of"),
    ({"args": "--day 2026-01-01"}, "args= is a list of strings"),
    ({"rest_url": "jobmanager:8081"}, "Flink REST URL"),
    ({"jar": ""}, "jar= is required"),
])
def test_what_flink_job_would_refuse_is_refused_at_parse_time(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        operator(**kwargs)


def test_templated_values_are_checked_when_the_task_runs_not_when_parsed() -> None:
    built = operator(entry_class="{{ params.entry }}", args=["{{ ds }}"])
    assert built.entry_class == "{{ params.entry }}"
    assert {"jar", "entry_class", "args", "configuration", "rest_url", "state_key"} <= set(built.template_fields)


def test_the_defaults_poll_and_policy() -> None:
    from resumable_adapters.airflow import AIRFLOW_POLICY

    built = operator()
    assert built.flink_conn_id == "flink_default" and built.rest_url is None
    assert built.policy == AIRFLOW_POLICY and built.policy.resume  # a failed job's retry resumes
    assert (built.poll.min_interval, built.poll.max_interval) == (1.0, 15.0)
    assert operator(rest_url="http://jm:8081").flink_conn_id is None


# -- the connection -------------------------------------------------------------------------------


@pytest.mark.parametrize(("conn", "url"), [
    ({"host": "jobmanager"}, "http://jobmanager:8081"),
    ({"host": "jobmanager", "port": 18081}, "http://jobmanager:18081"),
    ({"host": "jobmanager", "port": 443, "schema": "https"}, "https://jobmanager:443"),
    ({"host": "https://flink.example/", "port": 8443}, "https://flink.example:8443"),
    ({"host": "http://jobmanager:9000"}, "http://jobmanager:9000"),
])
def test_the_rest_address_from_a_connection(conn: dict[str, Any], url: str) -> None:
    from resumable_adapters.airflow._flink import rest_address

    values = {"conn_id": "flink_default", "host": None, "port": None, "schema": None, "login": None,
              "password": None, **conn}
    assert rest_address(SimpleNamespace(**values)) == (url, {}, ())


def test_a_connection_login_is_http_basic_and_its_password_a_known_secret(
    monkeypatch: pytest.MonkeyPatch, jobmanager: FlinkJobManager, jar: Path
) -> None:
    port = int(jobmanager.url.rsplit(":", 1)[1])
    monkeypatch.setenv("AIRFLOW_CONN_FLINK_PROXY", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": port, "login": "airflow", "password": PASSWORD}))
    built = operator(jar=str(jar), flink_conn_id="flink_proxy", state_store=MemoryStateStore(), poll=FAST,
                     configuration={"s3.secret-key": "conf-secret-1234"})
    job = built.make_job({"ti": ti()})
    assert job.client.url == jobmanager.url
    assert job.client._headers == {"Authorization": "Basic " + base64.b64encode(
        f"airflow:{PASSWORD}".encode()).decode()}
    assert set(built.known_secrets()) == {PASSWORD, "conf-secret-1234"}


def test_a_connection_without_a_host_is_refused_naming_it() -> None:
    from resumable_adapters.airflow._flink import rest_address

    conn = SimpleNamespace(conn_id="flink_default", host="", port=None, schema=None, login=None, password=None)
    with pytest.raises(InvalidArgument, match="'flink_default' has no host"):
        rest_address(conn)


# -- execution: the result, retry versus clear ----------------------------------------------------


def test_the_result_is_the_return_value_a_retry_reuses_it_and_a_clear_submits_afresh(
    jobmanager: FlinkJobManager, jar: Path
) -> None:
    store = MemoryStateStore()
    built = operator(jar=str(jar), entry_class="etl.Main", args=["2026-01-01"], rest_url=jobmanager.url,
                     state_store=store, poll=FAST)
    first = built.execute({"ti": ti(max_tries=1)})
    [job] = jobmanager.all_jobs()
    assert first["job_id"] == job.job_id and first["state"] == "FINISHED"
    assert job.request["entryClass"] == "etl.Main" and job.request["programArgsList"] == ["2026-01-01"]
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.SUCCEEDED and record.reference == job.job_id

    assert built.execute({"ti": ti(max_tries=1)}) == first  # a retry: the recorded result, nothing run
    assert len(jobmanager.all_jobs()) == 1

    cleared = built.execute({"ti": ti(max_tries=2)})  # a clear raises max_tries: a new generation
    assert cleared["job_id"] != first["job_id"] and len(jobmanager.all_jobs()) == 2
    assert jobmanager.uploads == 1  # the jar, once per content


# -- stopping: cancel by cause --------------------------------------------------------------------


def held(jobmanager: FlinkJobManager) -> None:
    jobmanager.plan_for = lambda request: [(0.0, "RUNNING")]  # runs until cancelled


def stopped_by(jobmanager: FlinkJobManager, jar: Path, tmp_path: Path, state: str, **kwargs: Any) -> Any:
    """Run the operator until its first status query calls on_kill (a SIGTERM), the server
    answering *state* for the task instance; what it raised."""
    from tests.airflow.flinkkit import TriggeredFlinkOperator

    built = TriggeredFlinkOperator(task_id="flink", jobs=str(tmp_path / "jobs"), jar=str(jar),
                                   rest_url=jobmanager.url, state_store=MemoryStateStore(), poll=FAST, **kwargs)
    built.hook = built.on_kill  # the task runner's SIGTERM handler calls on_kill(), and nothing else
    built.system.arm("hook")
    with pytest.raises(BaseException) as raised:
        built.execute({"ti": ti(state=state)})
    return raised.value


def test_a_worker_shutdown_leaves_the_job_running_for_the_retry(
    jobmanager: FlinkJobManager, jar: Path, tmp_path: Path
) -> None:
    from resumable_adapters.airflow import KillCause, TaskInterrupted

    held(jobmanager)
    error = stopped_by(jobmanager, jar, tmp_path, "running")
    assert isinstance(error, TaskInterrupted) and error.cause is KillCause.WORKER_SHUTDOWN and not error.cancelled
    [job] = jobmanager.all_jobs()
    assert job.state == "RUNNING" and ("PATCH", f"/jobs/{job.job_id}") not in jobmanager.requests


@pytest.mark.parametrize("state", ["failed", "restarting"])  # a user's mark-failed, a user's clear
def test_a_users_mark_failed_or_clear_cancels_the_job_on_the_cluster(
    jobmanager: FlinkJobManager, jar: Path, tmp_path: Path, state: str
) -> None:
    from resumable_adapters.airflow import TaskInterrupted

    held(jobmanager)
    error = stopped_by(jobmanager, jar, tmp_path, state)
    assert isinstance(error, TaskInterrupted) and error.cancelled
    [job] = jobmanager.all_jobs()
    assert ("PATCH", f"/jobs/{job.job_id}") in jobmanager.requests and job.cancel_at is not None
    assert error.job_id == job.job_id


def test_an_execution_timeout_cancels_the_job(jobmanager: FlinkJobManager, jar: Path, tmp_path: Path) -> None:
    from resumable_adapters.airflow._compat import AirflowTaskTimeout
    from tests.airflow.flinkkit import TriggeredFlinkOperator

    held(jobmanager)
    built = TriggeredFlinkOperator(task_id="flink", jobs=str(tmp_path / "jobs"), jar=str(jar),
                                   rest_url=jobmanager.url, state_store=MemoryStateStore(), poll=FAST)

    def time_out() -> None:
        raise AirflowTaskTimeout("execution_timeout")

    built.hook = time_out
    built.system.arm("hook")
    try:
        built.execute({"ti": ti()})
    except AirflowTaskTimeout:
        built.on_kill()  # as the task runner does, inside its except block
    [job] = jobmanager.all_jobs()
    assert ("PATCH", f"/jobs/{job.job_id}") in jobmanager.requests and job.cancel_at is not None
