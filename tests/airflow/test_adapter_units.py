"""The Airflow adapter's pieces that need no DAG run: imports, the store binding, kill causes, Spark arguments."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from resumable_core import InvalidArgument, JsonValue, MemoryStateStore, StoreUnavailable, load_record
from tests.airflow.conftest import REPO
from tests.paths import PYTHONPATH

pytestmark = pytest.mark.airflow


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": PYTHONPATH},
    )


def test_importing_the_core_never_imports_airflow() -> None:
    proc = run_python(
        "import sys, resumable_core, resumable_core.testing, resumable_adapters\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(loaded)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_importing_the_adapter_without_airflow_names_the_extra() -> None:
    # sys.modules[name] = None makes that import fail as if the package were not installed.
    proc = run_python(
        "import sys\n"
        "sys.modules['airflow'] = None\n"
        "try:\n"
        "    import resumable_adapters.airflow\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'resumable-core[airflow]'" in proc.stdout


# --- AirflowStateStore ---------------------------------------------------------------------


class RecordingAccessor:
    """Stands in for TaskStateStoreAccessor, whose methods need a running task's supervisor."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.values: dict[str, JsonValue] = {}
        self.retentions: list[timedelta | None] = []
        self.fail = fail

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        if self.fail:
            raise self.fail
        return self.values.get(key, default)

    def set(self, key: str, value: JsonValue, *, retention: timedelta | None = None) -> None:
        if self.fail:
            raise self.fail
        self.values[key] = value
        self.retentions.append(retention)

    def delete(self, key: str) -> None:
        if self.fail:
            raise self.fail
        self.values.pop(key, None)


def test_the_store_writes_with_never_expire_by_default() -> None:
    from airflow.sdk.execution_time.context import NEVER_EXPIRE

    from resumable_adapters.airflow import AirflowStateStore

    accessor = RecordingAccessor()
    store = AirflowStateStore.from_context({"task_state_store": accessor})
    store.set("k", {"a": [1, 2.5, None, True]})
    assert store.get("k") == {"a": [1, 2.5, None, True]}
    assert store.get("missing", "default") == "default"
    # Airflow compares with `is`: only its own NEVER_EXPIRE object means "never".
    assert accessor.retentions[0] is NEVER_EXPIRE
    store.delete("k")
    assert store.get("k") is None

    AirflowStateStore(accessor, retention=timedelta(days=400)).set("k", 1)
    AirflowStateStore(accessor, retention=None).set("k", 2)
    assert accessor.retentions[1:] == [timedelta(days=400), None]


@pytest.mark.parametrize("value", [None, (1, 2), float("nan"), {1: "int key"}])
def test_the_store_refuses_what_airflow_would_refuse(value: Any) -> None:
    from resumable_adapters.airflow import AirflowStateStore

    accessor = RecordingAccessor()
    with pytest.raises(InvalidArgument) as info:
        AirflowStateStore(accessor).set("k", value)
    assert info.value.key == "k"
    assert accessor.values == {}


def test_store_failures_are_mapped_to_the_core_errors() -> None:
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    from resumable_adapters.airflow import AirflowStateStore

    failure = AirflowRuntimeError(ErrorResponse(error=ErrorType.GENERIC_ERROR, detail={"message": "db down"}))
    store = AirflowStateStore(RecordingAccessor(fail=failure))
    calls: list[Callable[[], object]] = [lambda: store.get("k"), lambda: store.set("k", 1), lambda: store.delete("k")]
    for call in calls:
        with pytest.raises(StoreUnavailable) as info:
            call()
        assert info.value.key == "k"
        assert info.value.__cause__ is failure


def test_without_a_task_state_store_the_error_says_what_to_pass_instead() -> None:
    from resumable_adapters.airflow import AirflowStateStore, AirflowStateStoreUnavailable

    with pytest.raises(AirflowStateStoreUnavailable) as info:
        AirflowStateStore.from_context({"ti": object()})  # what Airflow < 3.3 hands a task
    message = str(info.value)
    assert "Airflow >= 3.3" in message
    assert "SqliteStateStore" in message and "state_store=" in message
    assert isinstance(info.value, StoreUnavailable)


# --- kill causes ---------------------------------------------------------------------------


def test_kill_causes_and_the_default_policy() -> None:
    from resumable_adapters.airflow import ALWAYS_CANCEL, CANCEL_BY_CAUSE, NEVER_CANCEL, KillCause, cause_from_state

    assert cause_from_state("running") is KillCause.WORKER_SHUTDOWN
    assert cause_from_state(None) is KillCause.WORKER_SHUTDOWN  # could not ask: keep the job
    assert cause_from_state("restarting") is KillCause.USER_CLEAR
    for state in ("failed", "success", "removed", "up_for_retry"):
        assert cause_from_state(state) is KillCause.USER_ACTION
    assert [CANCEL_BY_CAUSE.cancels(c) for c in KillCause] == [True, True, True, False]
    assert all(ALWAYS_CANCEL.cancels(c) for c in KillCause)
    assert not any(NEVER_CANCEL.cancels(c) for c in KillCause)
    assert [c.reruns for c in KillCause] == [True, False, True, False]


# --- the Spark operator's arguments ------------------------------------------------------------


def spark_operator(**kwargs: Any) -> Any:
    from resumable_adapters.airflow import ResumableSparkSubmitOperator

    kwargs.setdefault("task_id", "spark")
    kwargs.setdefault("application", "/jobs/etl.jar")
    kwargs.setdefault("java_class", "etl.Main")
    return ResumableSparkSubmitOperator(**kwargs)


def test_spark_submit_operator_arguments_become_the_submission() -> None:
    operator = spark_operator(
        conf={"spark.eventLog.enabled": "true", "spark.executor.memory": "3g"},
        application_args=["--date", 20260101],
        name="etl",
        driver_memory="2g",
        executor_memory="1g",  # conf wins, as with spark-submit --conf after --executor-memory
        total_executor_cores=4,
        jars="file:/jobs/dep.jar",
        packages="org.example:lib:1.0",
        env_vars={"MODE": "prod"},
        deploy_mode="cluster",
        spark_binary="spark-submit",
    )
    submission = operator.submission("spark://master:7077")
    request = submission.create_request()
    assert request["appResource"] == "file:/jobs/etl.jar"
    assert request["mainClass"] == "etl.Main"
    assert request["appArgs"] == ["--date", "20260101"]
    assert request["environmentVariables"] == {"MODE": "prod"}
    props = request["sparkProperties"]
    assert isinstance(props, dict)
    assert props["spark.app.name"] == "etl"
    assert props["spark.driver.memory"] == "2g"
    assert props["spark.executor.memory"] == "3g"
    assert props["spark.cores.max"] == "4"
    assert props["spark.jars"] == "file:/jobs/etl.jar,file:/jobs/dep.jar"
    assert props["spark.jars.packages"] == "org.example:lib:1.0"
    assert props["spark.master"] == "spark://master:7077"
    assert "application_args" in operator.template_fields and "conf" in operator.template_fields


# What each cluster manager refuses, and when: tests/airflow/test_spark_operator_units.py.


def connection(host: str, port: int | None = None, **extra: Any) -> Any:
    from airflow.sdk import Connection

    return Connection(conn_id="spark_default", conn_type="spark", host=host, port=port, extra=json.dumps(extra))


@pytest.mark.parametrize(
    ("host", "port", "extra", "expected"),
    [
        ("spark://master", 7077, {}, ("spark://master:7077", ["http://master:6066"], ["http://master:8080"])),
        ("master", None, {}, ("spark://master:7077", ["http://master:6066"], ["http://master:8080"])),
        (
            "spark://127.0.0.1:7078",
            None,
            {"rest_url": "http://127.0.0.1:16066", "web_ui_url": ""},
            ("spark://127.0.0.1:7078", ["http://127.0.0.1:16066"], []),
        ),
        # Spark's standalone HA form: every master, each with its REST server and web UI.
        (
            "spark://a:6066,b:6066",
            None,
            {},
            ("spark://a:6066,b:6066", ["http://a:6066", "http://b:6066"], ["http://a:8080", "http://b:8080"]),
        ),
        # An entry without a port takes the connection's; a repeated scheme is tolerated, as Spark does.
        ("a, spark://b:7078", 7079, {}, ("spark://a:7079,b:7078", ["http://a:6066", "http://b:6066"],
                                          ["http://a:8080", "http://b:8080"])),
        ("spark://[::1]:7077", None, {}, ("spark://[::1]:7077", ["http://[::1]:6066"], ["http://[::1]:8080"])),
        (
            "spark://a:7077,b:7077",
            None,
            {"rest_url": "http://a:16066,http://b:16066", "web_ui_url": "http://a:18080,http://b:18080"},
            ("spark://a:7077,b:7077", ["http://a:16066,http://b:16066"], ["http://a:18080,http://b:18080"]),
        ),
    ],
)
def test_the_masters_come_from_an_airflow_connection(
    host: str, port: int | None, extra: dict[str, str], expected: tuple[str, list[str], list[str]]
) -> None:
    from resumable_adapters.airflow._spark_connection import spark_endpoints

    assert spark_endpoints(connection(host, port, **extra)) == expected


def test_several_masters_reach_the_rest_client_and_the_driver() -> None:
    """The endpoints go to SparkRestClient as a list, and the HA master string to spark.master."""
    from resumable_adapters.airflow._spark_connection import spark_endpoints
    from resumable_adapters.spark import SparkRestClient

    master, rest_urls, web_uis = spark_endpoints(connection("spark://a:7077,b:7077"))
    client = SparkRestClient(rest_urls, web_ui_urls=web_uis)
    assert client.rest_urls == ("http://a:6066", "http://b:6066")
    assert client.web_ui_urls == ("http://a:8080", "http://b:8080")
    request = spark_operator().submission(master).create_request()
    props = request["sparkProperties"]
    assert isinstance(props, dict) and props["spark.master"] == "spark://a:7077,b:7077"


@pytest.mark.parametrize(
    ("host", "names"),
    [
        ("spark://a:7077,", "''"),                  # a stray comma
        ("spark://a:7077,b:70x7", "'b:70x7'"),       # a port that is no number
        ("spark://a:7077,b:99999", "'b:99999'"),     # out of range
        ("spark://a:7077,b:7077/path", "'b:7077/path'"),
        ("spark://a:7077,:7077", "':7077'"),         # no host
        ("yarn://rm:8032", "yarn://rm:8032"),        # not a standalone master
        ("k8s://https://api:6443", "k8s://https://api:6443"),
    ],
)
def test_a_malformed_master_is_refused_naming_the_bad_part(host: str, names: str) -> None:
    from resumable_adapters.airflow._spark_connection import spark_endpoints

    with pytest.raises(InvalidArgument) as info:
        spark_endpoints(connection(host))
    assert names in str(info.value) and "spark_default" in str(info.value)


def test_a_master_with_credentials_is_refused_without_showing_them() -> None:
    from resumable_adapters.airflow._spark_connection import spark_endpoints

    with pytest.raises(InvalidArgument, match="no credentials") as info:
        spark_endpoints(connection("spark://a:7077,admin:hunter2pw@b:7077"))
    assert "hunter2pw" not in str(info.value) and "***@b:7077" in str(info.value)


# --- on_kill after a timeout, in-process ----------------------------------------------------


class StoreRefusingEnds(MemoryStateStore):
    """Refuses to record an ended job: what a store does when the task may no longer write."""

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        if isinstance(value, dict) and value.get("phase") in ("failed", "cancelled"):
            raise StoreUnavailable("writes refused", key=key)
        return super().compare_and_set(key, expected, value)


@pytest.mark.parametrize("store_kind", ["memory", "refusing"])
def test_a_timeout_cancels_the_job_even_when_the_record_cannot_be_written(tmp_path: Any, store_kind: str) -> None:
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowTaskTimeout

    from resumable_adapters.airflow import ResumableOperator
    from tests.airflow.dagkit import FAST_POLL
    from tests.airflow.filejob import CANCELLED, FileJob, FileJobSystem, TriggeredJob

    system = FileJobSystem(tmp_path / "jobs")
    system.arm("hook")

    def alarm() -> None:  # what SIGALRM does inside the poll: raise from wherever the task is
        raise AirflowTaskTimeout()

    job = TriggeredJob(FileJob(system.root, running_polls=-1), system, alarm)
    store = MemoryStateStore() if store_kind == "memory" else StoreRefusingEnds()
    operator = ResumableOperator(task_id="t", job=job, state_store=store, poll=FAST_POLL)
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0)
    try:
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]  # a stand-in task instance
    except AirflowTaskTimeout:
        operator.on_kill()  # as the task runner does, inside its except block
    [submission] = system.log("submissions")
    assert system.job(submission["job_id"])["status"] == CANCELLED  # type: ignore[index]
    record = load_record(store, "airflow/d/r/t/-1")
    assert record is not None
    assert record.phase.value == ("failed" if store_kind == "memory" else "submitted")


def test_a_mark_failed_cancels_the_job_even_when_the_record_cannot_be_written(tmp_path: Any) -> None:
    from types import SimpleNamespace

    from resumable_adapters.airflow import KillCause, ResumableOperator, TaskInterrupted
    from tests.airflow.dagkit import FAST_POLL
    from tests.airflow.filejob import CANCELLED, FileJob, FileJobSystem, TriggeredJob

    system = FileJobSystem(tmp_path / "jobs")
    system.arm("hook")
    store = StoreRefusingEnds()
    operator = ResumableOperator(task_id="t", state_store=store, poll=FAST_POLL)
    # The task runner's SIGTERM handler does nothing but call on_kill(); so does this hook.
    operator.job = TriggeredJob(FileJob(system.root, running_polls=-1), system, operator.on_kill)
    ti = SimpleNamespace(
        dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0,
        get_task_states=lambda **query: {"r": {"t": "failed"}},  # the server after a mark-failed
    )
    with pytest.raises(TaskInterrupted) as info:
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]  # a stand-in task instance
    assert info.value.cause is KillCause.USER_ACTION and info.value.cancelled
    [submission] = system.log("submissions")
    assert info.value.job_id == submission["job_id"]
    assert system.job(submission["job_id"])["status"] == CANCELLED  # type: ignore[index]


# --- the job check, argument names, log lines, secrets ---------------------------------------


class JobWithoutResult:
    """Everything a job needs but get_job_result (and no poll_until_complete, which is optional)."""

    def submit_job(self, reference: str) -> str:
        raise AssertionError("a refused job must never be submitted")

    def get_job_status(self, job_id: str) -> str:
        return "RUNNING"

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "DONE"


class CompleteJob(JobWithoutResult):
    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        return None


def test_a_job_missing_an_operation_is_refused_when_the_dag_is_parsed() -> None:
    from resumable_adapters.airflow import ResumableOperator

    with pytest.raises(InvalidArgument, match=r"get_job_result\(\)"):
        ResumableOperator(task_id="t", job=JobWithoutResult())  # type: ignore[arg-type]  # what mypy also refuses
    # poll_until_complete is optional; a factory is checked when it runs (by the core), not here.
    assert ResumableOperator(task_id="t", job=CompleteJob()).job is not None
    ResumableOperator(task_id="t", job=lambda context: JobWithoutResult())  # type: ignore[arg-type]  # as above


def test_policy_and_poll_are_named_as_run_resumable_names_them() -> None:
    from resumable_adapters.airflow import AIRFLOW_POLICY, ResumableOperator
    from resumable_core import Policy, PollPolicy

    policy, poll = Policy(), PollPolicy(min_interval=3)
    operator = ResumableOperator(task_id="t", job=CompleteJob(), policy=policy, poll=poll)
    assert operator.policy is policy and operator.poll is poll
    assert ResumableOperator(task_id="t", job=CompleteJob()).policy is AIRFLOW_POLICY
    with pytest.warns(DeprecationWarning, match="resume_policy= is deprecated.*pass policy=") as caught:
        old = ResumableOperator(task_id="t", job=CompleteJob(), resume_policy=policy)
    assert caught[0].filename == __file__  # the DAG file that passed it, not Airflow's wrapper
    with pytest.warns(DeprecationWarning, match="poll_policy= is deprecated.*pass poll="):
        old_poll = ResumableOperator(task_id="t", job=CompleteJob(), poll_policy=poll)
    assert old.policy is policy and old_poll.poll is poll
    with pytest.raises(InvalidArgument, match="pass poll= only"):
        ResumableOperator(task_id="t", job=CompleteJob(), poll=poll, poll_policy=poll)
    with pytest.raises(InvalidArgument, match="pass policy= only"):
        ResumableOperator(task_id="t", job=CompleteJob(), policy=policy, resume_policy=policy)
    # The Spark operator's status_poll_interval default gives way to either name.
    assert spark_operator(poll=poll).poll is poll
    with pytest.warns(DeprecationWarning) as caught:
        assert spark_operator(poll_policy=poll).poll is poll
    assert caught[0].filename == __file__  # spark_operator() here, through two __init__s and wrappers
    assert spark_operator(status_poll_interval=7).poll.min_interval == 7


@contextlib.contextmanager
def task_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger's records into *caplog*, even once Airflow's first import configured logging anew
    (which replaces the root handlers, caplog's among them)."""
    root = logging.getLogger()
    root.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            yield
    finally:
        root.removeHandler(caplog.handler)


def test_the_task_log_says_each_event_once_in_the_cores_words(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from resumable_adapters.airflow import ResumableOperator
    from resumable_core.events import Event, Submitted
    from resumable_core.testing import FakeExternalSystem, FakeJob
    from tests.airflow.dagkit import FAST_POLL

    events: list[Event] = []

    class Recording(ResumableOperator):
        def _on_event(self, event: Event) -> None:
            events.append(event)
            super()._on_event(event)

    operator = Recording(task_id="t", job=FakeJob(FakeExternalSystem()), state_store=MemoryStateStore(), poll=FAST_POLL)
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0)
    with task_log(caplog):
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]  # a stand-in task instance
    assert any(isinstance(e, Submitted) for e in events)
    for event in events:  # every logger of the task: the core's line, and no second one
        saying = [r for r in caplog.records if event.describe() in r.getMessage()]
        assert [r.name for r in saying] == ["resumable_core"], (event, [(r.name, r.getMessage()) for r in saying])


def test_a_secret_only_the_task_knows_is_masked_in_the_cores_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from resumable_adapters.airflow import ResumableOperator
    from resumable_core.testing import FakeExternalSystem, FakeJob
    from tests.airflow.dagkit import FAST_POLL

    class Echoing(FakeJob):
        """A system whose status text echoes a credential (nothing in it looks like one)."""

        def get_job_status(self, job_id: str) -> str:
            status = super().get_job_status(job_id)
            return "RUNNING as pw-5e1d" if status == "RUNNING" else status

        def is_job_active(self, status: str) -> bool:
            return status.startswith("RUNNING") or super().is_job_active(status)

    class Operator(ResumableOperator):
        def known_secrets(self) -> tuple[str, ...]:
            return ("pw-5e1d",)

    operator = Operator(task_id="t", job=Echoing(FakeExternalSystem(running_polls=2)), state_store=MemoryStateStore(),
                        poll=FAST_POLL)
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0)
    with task_log(caplog):
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]  # a stand-in task instance
    core = [r.getMessage() for r in caplog.records if r.name == "resumable_core"]
    assert any("RUNNING as ***" in line for line in core), core
    assert not [line for line in core if "pw-5e1d" in line]
    assert not logging.getLogger("resumable_core").filters  # the mask lasts as long as the task's run


def test_no_connection_secret_in_the_operators_errors_or_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from resumable_adapters.airflow import ResumableSparkSubmitOperator
    from resumable_core import ResumableJob, SubmissionRejected

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_SECRET", json.dumps({
        "conn_type": "spark", "host": "spark://a:7077,b:7077", "password": "pw-4f9a2c",
        "extra": {"api_token": "tk-77e1b0", "web_ui_url": ""},
    }))

    class EchoingJob(CompleteJob):
        """A server that echoes what it was sent, credentials included."""

        def submit_job(self, reference: str) -> str:
            raise SubmissionRejected("refused: sent pw-4f9a2c and tk-77e1b0, which the server echoed")

    class Operator(ResumableSparkSubmitOperator):
        def make_job(self, context: Any) -> ResumableJob[Any]:
            super().make_job(context)  # reads the connection, as in production
            return EchoingJob()

    operator = Operator(task_id="t", conn_id="spark_secret", application="/jobs/etl.jar", java_class="etl.Main",
                        state_store=MemoryStateStore())
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0)
    with pytest.raises(SubmissionRejected) as info:
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]  # a stand-in task instance
    output = capsys.readouterr()
    assert "submitted" not in output.out  # nothing was, and the log says nothing it should not
    shown = [str(info.value), repr(info.value.args), output.out, output.err]
    assert "refused: sent *** and ***" in str(info.value)
    assert not [text for text in shown if "pw-4f9a2c" in text or "tk-77e1b0" in text]
