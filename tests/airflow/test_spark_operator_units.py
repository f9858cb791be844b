"""ResumableSparkSubmitOperator in-process: SparkSubmitOperator's arguments, the connection, the job it picks.

No Airflow scheduler here: connections come from ``AIRFLOW_CONN_*`` variables, and
``execute()`` runs with a stand-in task instance and a MemoryStateStore where a test
runs it at all. The stock operator is the installed apache-airflow-providers-apache-spark.
"""

from __future__ import annotations

import base64
import inspect
import json
import stat
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from resumable_core import InvalidArgument, MemoryStateStore, PollPolicy, load_record

FAST = PollPolicy(min_interval=0.01, max_interval=0.02)
stock_module = pytest.importorskip("airflow.providers.apache.spark.operators.spark_submit")
StockOperator = stock_module.SparkSubmitOperator


def operator(**kwargs: Any) -> Any:
    from resumable_adapters.airflow import ResumableSparkSubmitOperator

    kwargs.setdefault("task_id", "spark")
    kwargs.setdefault("application", "/jobs/etl.jar")
    kwargs.setdefault("java_class", "etl.Main")
    return ResumableSparkSubmitOperator(**kwargs)


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def stand_in_ti() -> Any:
    return SimpleNamespace(dag_id="d", run_id="r", task_id="spark", map_index=-1, max_tries=0)


# --- the signature: every stock argument, with its default ------------------------------------------


def test_the_signature_has_every_argument_of_the_installed_spark_submit_operator_with_its_default() -> None:
    """A provider release that adds an argument (or changes a default) fails here."""
    from resumable_adapters.airflow import ResumableSparkSubmitOperator

    ours = inspect.signature(ResumableSparkSubmitOperator.__init__).parameters
    stock = inspect.signature(StockOperator.__init__).parameters
    missing = [name for name in stock if name not in ours]
    assert not missing, f"SparkSubmitOperator arguments this operator lacks: {missing}"
    for name, parameter in stock.items():
        if name in ("self", "kwargs"):
            continue
        assert ours[name].kind == parameter.kind, name
        assert ours[name].default == parameter.default, name
    assert set(StockOperator.template_fields) <= set(ResumableSparkSubmitOperator.template_fields)


def test_every_stock_argument_is_accepted_and_kept() -> None:
    values: dict[str, Any] = dict(
        application="hdfs:///jobs/etl.py", conf={"spark.a": "1"}, conn_id="spark_yarn", files="f1,f2",
        py_files="deps.zip", archives="env.tgz#env", driver_class_path="/cp", jars="a.jar", java_class=None,
        packages="g:a:1", exclude_packages="g:b", repositories="https://repo", total_executor_cores=8,
        executor_cores=2, executor_memory="2g", driver_memory="1g", keytab="/etc/me.keytab",
        principal="me@REALM", proxy_user="etl", name="etl", num_executors=3, status_poll_interval=5,
        application_args=["{{ ds }}"], env_vars={"A": "1"}, verbose=True, spark_binary="spark3-submit",
        properties_file="/etc/spark.conf", yarn_queue="prod", deploy_mode="cluster", use_krb5ccache=True,
        post_submit_commands=["true"], track_driver_via_k8s_api=True, yarn_track_via_rm_api=True,
        yarn_rm_auth=lambda request: request, openlineage_inject_parent_job_info=True,
        openlineage_inject_transport_info=True, durable=True,
    )
    built = operator(task_id="t", **values)
    for name, value in values.items():
        assert getattr(built, name) == value, name


def test_reconnect_on_retry_is_the_deprecated_name_of_durable() -> None:
    with pytest.warns(DeprecationWarning, match="reconnect_on_retry= is deprecated") as caught:
        built = operator(reconnect_on_retry=False)
    assert built.durable is False
    assert caught[0].filename == __file__  # pointed at the DAG file that passed it
    with pytest.warns(DeprecationWarning):
        assert operator(reconnect_on_retry=False, durable=True).durable is True  # durable wins, as in the stock
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert operator().durable is True


def test_durable_false_keeps_nothing_between_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    from resumable_adapters.airflow import ResumableSparkSubmitOperator
    from resumable_core.testing import FakeExternalSystem, FakeJob

    set_connection(monkeypatch, "spark_default", conn_type="spark", host="spark://m:7077")
    system = FakeExternalSystem()

    class Operator(ResumableSparkSubmitOperator):
        def make_job(self, context: Any) -> Any:
            return FakeJob(system)

    built = Operator(task_id="t", application="/jobs/etl.jar", java_class="etl.Main", durable=False, poll=FAST)
    first = built.execute({"ti": stand_in_ti()})
    second = built.execute({"ti": stand_in_ti()})  # the retry: nothing recorded, so it submits again
    assert first["status"] == second["status"] == "SUCCEEDED" and first["job_id"] != second["job_id"]
    assert len(system.submissions()) == 2
    with pytest.raises(InvalidArgument, match="durable=False keeps no record"):
        operator(durable=False, state_store=MemoryStateStore())


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"deploy_mode": "yarn-cluster"}, "deploy_mode must be 'cluster' or 'client'"),
        ({"deploy_mode": "client", "track_driver_via_k8s_api": True}, "track_driver_via_k8s_api=True requires"),
        ({"deploy_mode": "client", "yarn_track_via_rm_api": True}, "yarn_track_via_rm_api=True requires"),
        ({"conf": {"spark.yarn.submit.waitAppCompletion": "true"}}, "waitAppCompletion=true keeps spark-submit"),
        ({"conf": {"spark.kubernetes.submission.waitAppCompletion": "True"}}, "waitAppCompletion=true"),
        ({"yarn_rm_auth": "user:pw"}, "yarn_rm_auth must be a requests.auth.AuthBase"),
        ({"yarn_rm_auth": ("user", "user:pw", "x")}, r"or a \(user, password\) tuple, as requests takes it, not a tuple of 3"),
    ],
)
def test_arguments_that_cannot_work_are_refused_when_the_dag_is_parsed(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidArgument, match=says) as info:
        operator(**kwargs)
    assert "user:pw" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"java_class": None}, "java_class is required"),
        ({"application": "/jobs/etl.py", "java_class": None}, "Python and R applications cannot run in cluster mode"),
        ({"py_files": "deps.zip"}, "py_files is not supported on a standalone master"),
        ({"principal": "me@REALM"}, "Kerberos"),
        ({"proxy_user": "etl"}, "cannot impersonate"),
    ],
)
def test_what_a_standalone_master_cannot_run_is_refused_before_anything_is_submitted(
    kwargs: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidArgument, match=says):
        operator(**kwargs).submission("spark://m:7077")


# --- the connection, as SparkSubmitHook reads it ---------------------------------------------------


def conn(conn_type: str, host: str, port: int | None = None, extra: dict[str, Any] | None = None) -> Any:
    from airflow.sdk import Connection

    return Connection(conn_id="spark_default", conn_type=conn_type, host=host, port=port,
                      extra=json.dumps(extra or {}))


@pytest.mark.parametrize(
    ("connection", "master", "manager"),
    [
        (("spark", "spark://m", 7077), "spark://m:7077", "standalone"),
        (("spark", "spark://a:7077,b:7077", None), "spark://a:7077,b:7077", "standalone"),
        (("spark", "m", None), "m", "standalone"),  # a bare host: a standalone master, as before
        (("spark", "yarn", None), "yarn", "yarn"),
        (("yarn", "", None), "yarn://", "yarn"),
        (("spark", "k8s://https://api.example:6443", None), "k8s://https://api.example:6443", "kubernetes"),
        (("k8s", "https://api.example", 6443), "k8s://https://api.example:6443", "kubernetes"),
        (("spark", "local[2]", None), "local[2]", "other"),
        (("spark", "mesos://m:5050", None), "mesos://m:5050", "other"),
    ],
)
def test_the_master_and_its_cluster_manager_as_the_stock_hook_reads_them(
    connection: tuple[str, str, int | None], master: str, manager: str
) -> None:
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    from resumable_adapters.airflow._spark_connection import cluster_manager, resolve_master

    built = conn(*connection)
    assert resolve_master(built) == master
    assert cluster_manager(master).value == manager
    if manager != "kubernetes":  # the stock hook needs the cncf-kubernetes provider for k8s
        hook = SparkSubmitHook.__new__(SparkSubmitHook)
        hook._conn_id, hook._yarn_queue, hook._deploy_mode = "spark_default", None, None
        hook._principal = hook._keytab = hook.spark_binary = None
        hook._conf = {}
        hook.get_connection = lambda conn_id: built  # type: ignore[method-assign]  # the same connection object
        assert hook._resolve_connection()["master"] == master  # the same reading as the stock hook


def test_deploy_mode_queue_namespace_and_principal_the_argument_first_then_the_extra() -> None:
    from resumable_adapters.airflow._spark_connection import resolve_target

    built = conn("spark", "yarn", extra={"deploy-mode": "client", "queue": "etl", "namespace": "spark-jobs",
                                        "principal": "svc@REALM"})
    plain = resolve_target(built, deploy_mode=None, yarn_queue=None, principal=None, keytab=None,
                           spark_binary=None, conf={})
    assert (plain.deploy_mode, plain.deploy_mode_set, plain.queue, plain.namespace, plain.principal) == (
        "client", True, "etl", "spark-jobs", "svc@REALM")
    given = resolve_target(built, deploy_mode="cluster", yarn_queue="prod", principal="me@REALM", keytab=None,
                           spark_binary=None, conf={"spark.kubernetes.namespace": "from-conf"})
    assert (given.deploy_mode, given.queue, given.namespace, given.principal) == (
        "cluster", "prod", "from-conf", "me@REALM")
    unset = resolve_target(conn("spark", "yarn"), deploy_mode=None, yarn_queue=None, principal=None, keytab=None,
                           spark_binary=None, conf={})
    assert (unset.deploy_mode, unset.deploy_mode_set) == ("cluster", False)


def test_a_base64_keytab_in_the_extra_becomes_a_private_file_and_is_never_shown() -> None:
    from resumable_adapters.airflow._spark_connection import resolve_target

    secret = b"\x05\x02keytab-bytes-7c1e"
    built = conn("spark", "yarn", extra={"keytab": base64.b64encode(secret).decode(), "principal": "svc@REALM"})
    target = resolve_target(built, deploy_mode=None, yarn_queue=None, principal=None, keytab=None,
                            spark_binary=None, conf={})
    assert target.keytab is not None and Path(target.keytab).read_bytes() == secret
    assert stat.S_IMODE(Path(target.keytab).stat().st_mode) == 0o600
    assert base64.b64encode(secret).decode() not in repr(target)
    with pytest.raises(InvalidArgument, match="keytab extra is not base64") as info:
        resolve_target(conn("spark", "yarn", extra={"keytab": "not base64 !!"}), deploy_mode=None, yarn_queue=None,
                       principal=None, keytab=None, spark_binary=None, conf={})
    assert "not base64 !!" not in str(info.value)


@pytest.mark.parametrize(
    ("extra", "says"),
    [({"spark-binary": "/tmp/evil"}, "spark-binary extra can be one of"), ({"spark-home": "/opt/spark"}, "spark-home")],
)
def test_the_connection_extras_the_stock_hook_refuses_are_refused(extra: dict[str, str], says: str) -> None:
    from resumable_adapters.airflow._spark_connection import resolve_target

    with pytest.raises(InvalidArgument, match=says):
        resolve_target(conn("spark", "yarn", extra=extra), deploy_mode=None, yarn_queue=None, principal=None,
                       keytab=None, spark_binary=None, conf={})


def test_the_stock_hooks_rest_port_and_scheme_extras_reach_the_standalone_rest_client() -> None:
    from resumable_adapters.airflow._spark_connection import spark_endpoints

    endpoints = spark_endpoints(conn("spark", "spark://a:7077,b:7077",
                                     extra={"rest-port": 16066, "rest-scheme": "https"}))
    assert endpoints.rest_urls == ["https://a:16066", "https://b:16066"]


# --- the job each cluster manager gets ---------------------------------------------------------------


def test_standalone_cluster_mode_runs_the_rest_job(monkeypatch: pytest.MonkeyPatch) -> None:
    from resumable_adapters.spark import SparkRestJob

    set_connection(monkeypatch, "spark_default", conn_type="spark", host="spark://m:7077")
    job = operator(deploy_mode="cluster").make_job({})
    assert isinstance(job, SparkRestJob)
    assert job.submission.master == "spark://m:7077"


def test_yarn_cluster_mode_runs_the_yarn_job_with_every_argument(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from resumable_adapters.spark._yarn import SparkYarnJob

    properties = tmp_path / "spark.conf"
    properties.write_text("# defaults\nspark.eventLog.enabled true\nspark.executor.memory=9g\n")
    set_connection(monkeypatch, "spark_yarn", conn_type="spark", host="yarn", login="etl-user",
                   extra={"queue": "from-extra", "yarn_resourcemanager_webapp_address": "rm1:8088,http://rm2:8088"})
    built = operator(
        conn_id="spark_yarn", deploy_mode="cluster", application="hdfs:///jobs/etl.py", java_class=None,
        py_files="hdfs:///deps.zip,hdfs:///more.zip", yarn_queue="prod", proxy_user="etl", num_executors=4,
        executor_memory="2g", env_vars={"MODE": "prod"}, properties_file=str(properties),
        conf={"spark.sql.shuffle.partitions": "8"}, application_args=["2026-01-01"],
    )
    job = built.make_job({})
    assert isinstance(job, SparkYarnJob)
    assert job.client.rm_urls == ("http://rm1:8088", "http://rm2:8088")
    assert job.client.user == "etl-user"  # Hadoop's simple authentication (user.name), from the login
    submission = job.submission
    assert submission.py_files == ("hdfs:///deps.zip", "hdfs:///more.zip")
    assert submission.proxy_user == "etl" and submission.app_args == ("2026-01-01",)
    assert dict(submission.conf) == {
        "spark.eventLog.enabled": "true",
        "spark.executor.memory": "9g",  # the file's entry, as spark-submit: conf / the file win over options
        "spark.sql.shuffle.partitions": "8",
        "spark.yarn.queue": "prod",  # the argument over the extra
        "spark.executor.instances": "4",
        "spark.yarn.appMasterEnv.MODE": "prod",
    }
    assert job.launcher.env == {"MODE": "prod"}  # spark-submit's own environment too, as in the stock hook


def test_yarn_cluster_mode_without_the_resourcemanager_address_says_which_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_connection(monkeypatch, "spark_yarn", conn_type="spark", host="yarn")
    with pytest.raises(InvalidArgument, match="yarn_resourcemanager_webapp_address"):
        operator(conn_id="spark_yarn").make_job({})


def test_kubernetes_cluster_mode_runs_the_kubernetes_job_against_the_master(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from resumable_adapters.spark._kubernetes import SparkKubernetesJob
    from tests.spark_kubernetes.conftest import TOKEN, write_kubeconfig

    # The kubeconfig names another address for the same server: spark-submit uses the master's.
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "https://10.0.0.1:443")
    set_connection(monkeypatch, "spark_k8s", conn_type="spark", host="k8s://https://api.example:6443",
                   extra={"kubeconfig": str(kubeconfig), "namespace": "etl"})
    built = operator(conn_id="spark_k8s", conf={"spark.kubernetes.container.image": "apache/spark:4.3.0"},
                     env_vars={"MODE": "prod"})
    job = built.make_job({})
    assert isinstance(job, SparkKubernetesJob)
    assert job.client.master == "k8s://https://api.example:6443"
    assert job.client.namespace == "etl" and job.client.token() == TOKEN
    assert job.submission.conf["spark.kubernetes.driverEnv.MODE"] == "prod"
    assert TOKEN in built.known_secrets()  # masked wherever the operator's texts could show it


def test_openlineage_properties_do_not_change_the_fingerprint() -> None:
    """They name the try; a retry must reattach, not see a changed specification."""
    from resumable_adapters.airflow._spark_jobs import LineageStableYarnJob
    from resumable_adapters.spark._cluster_submission import SparkClusterSubmission
    from resumable_adapters.spark._launcher import SparkSubmitLauncher
    from resumable_adapters.yarn._client import YarnRestClient

    client, launcher = YarnRestClient("http://rm:8088"), SparkSubmitLauncher("/bin/true")
    base: dict[str, Any] = dict(application="hdfs:///etl.jar", main_class="etl.Main")
    try1 = SparkClusterSubmission(**base, conf={"spark.a": "1", "spark.openlineage.parentRunId": "try-1"})
    try2 = SparkClusterSubmission(**base, conf={"spark.a": "1", "spark.openlineage.parentRunId": "try-2"})
    changed = SparkClusterSubmission(**base, conf={"spark.a": "2", "spark.openlineage.parentRunId": "try-2"})
    fingerprint = [LineageStableYarnJob(client, s, launcher=launcher).job_fingerprint() for s in (try1, try2, changed)]
    assert fingerprint[0] == fingerprint[1] != fingerprint[2]


# --- client mode: the stock hook's own run --------------------------------------------------------


def fake_spark_submit(tmp_path: Path) -> tuple[str, Path]:
    """An executable standing in for spark-submit: it records its arguments and exits 0."""
    seen = tmp_path / "argv.txt"
    script = tmp_path / "spark-submit"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{seen}"\necho "Pi is roughly 3.14"\n')
    script.chmod(0o755)
    return str(script), seen


@pytest.mark.parametrize(
    ("host", "deploy_mode", "why"),
    [("spark://m:7077", "client", "deploy mode 'client'"), ("yarn", "client", "deploy mode 'client'"),
     ("local[2]", None, "master 'local[2]' is none of")],
)
def test_client_mode_runs_through_the_stock_hook_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    host: str, deploy_mode: str | None, why: str,
) -> None:
    binary, seen = fake_spark_submit(tmp_path)
    set_connection(monkeypatch, "spark_client", conn_type="spark", host=host)
    store = MemoryStateStore()
    built = operator(conn_id="spark_client", deploy_mode=deploy_mode, spark_binary=binary, state_store=store,
                     application_args=["10"])
    assert built.execute({"ti": stand_in_ti()}) is None  # what SparkSubmitOperator returns
    argv = seen.read_text().split("\n")
    assert argv[argv.index("--master") + 1] == host and argv[-3:-1] == ["/jobs/etl.jar", "10"]
    assert ("--deploy-mode" in argv) == (deploy_mode is not None)
    out = capsys.readouterr().out
    assert f"{why}" in out and "cannot be resumed" in out and "deploy_mode='cluster'" in out
    assert load_record(store, "airflow/d/r/spark/-1") is None  # nothing a retry could reattach to


# --- yarn_rm_auth: a requests auth on the ResourceManager's requests -----------------------------------


def test_yarn_rm_auth_adds_its_headers_to_each_resourcemanager_request() -> None:
    from requests.auth import HTTPBasicAuth

    from resumable_adapters.airflow._spark_jobs import requests_auth_headers

    headers = requests_auth_headers(HTTPBasicAuth("etl", "pw-91c3"))("http://rm:8088/ws/v1/cluster/apps/x")
    assert set(headers) == {"Authorization"} and headers["Authorization"].startswith("Basic ")


def test_without_a_principal_and_keytab_the_rm_gets_hadoops_simple_user_name() -> None:
    from resumable_adapters.airflow._spark_connection import resolve_target
    from resumable_adapters.airflow._spark_jobs import default_yarn_auth

    # (With them: SpnegoAuth from the keytab, tested against a real KDC in test_spark_kerberos.py.)
    plain = resolve_target(conn("spark", "yarn"), deploy_mode=None, yarn_queue=None, principal=None, keytab=None,
                           spark_binary=None, conf={})
    assert default_yarn_auth(plain) is None


def test_yarn_rm_auth_as_a_user_password_tuple_is_basic_auth_as_requests_takes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_connection(monkeypatch, "spark_yarn", conn_type="spark", host="yarn",
                   extra={"yarn_resourcemanager_webapp_address": "http://rm:8088"})
    built = operator(conn_id="spark_yarn", deploy_mode="cluster", yarn_rm_auth=("etl", "pw-91c3"))
    job = built.make_job({})
    headers = job.client.auth("http://rm:8088/ws/v1/cluster/apps/x")
    assert headers == {"Authorization": "Basic " + base64.b64encode(b"etl:pw-91c3").decode()}
    assert job.client.user is None  # authenticated: no simple user.name on top
    assert "pw-91c3" in built.known_secrets()  # masked wherever a message could show it


# --- several masters with their REST ports: where spark-submit's REST gateway sends -----------------


def test_listed_ports_are_rest_ports_where_spark_submit_uses_its_rest_gateway() -> None:
    from resumable_adapters.airflow._spark_connection import spark_endpoints

    both = conn("spark", "spark://h1:16066,h2:16067")
    assert spark_endpoints(both, rest_gateway=True).rest_urls == ["http://h1:16066", "http://h2:16067"]
    # The RPC gateway (spark-submit's default): the listed ports are the masters', REST is on 6066.
    assert spark_endpoints(both).rest_urls == ["http://h1:6066", "http://h2:6066"]
    # An entry without a port, and the stock rest-port extra, keep their meaning either way.
    mixed = conn("spark", "spark://h1,h2:16067", port=7077, extra={"rest-port": 16000})
    assert spark_endpoints(mixed, rest_gateway=True).rest_urls == ["http://h1:16000", "http://h2:16067"]


def test_the_rest_gateway_is_read_as_spark_submit_reads_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from resumable_adapters.airflow._spark_connection import uses_rest_gateway

    monkeypatch.delenv("SPARK_HOME", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert not uses_rest_gateway({})
    (tmp_path / "spark-defaults.conf").write_text("spark.master.rest.enabled   true\n")
    assert uses_rest_gateway({})
    assert not uses_rest_gateway({"spark.master.rest.enabled": "false"})  # conf wins over the defaults file
    assert uses_rest_gateway({"spark.master.rest.enabled": "TRUE"})


def test_a_connection_listing_masters_with_their_rest_ports_submits_to_those_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against two loopback REST servers: a standby on the first listed port, the active master on the second."""
    from tests.spark.misbehaving_server import Reply, misbehaving_server

    driver = "driver-20261124065334-0000"
    with misbehaving_server() as standby, misbehaving_server() as active:
        standby.script(Reply.json(success=False, message="Current state is not alive: STANDBY."))
        active.script(Reply.json(action="CreateSubmissionResponse", success=True, submissionId=driver))
        ports = [server.url.rsplit(":", 1)[1] for server in (standby, active)]
        set_connection(monkeypatch, "spark_ha", conn_type="spark",
                       host=f"spark://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", extra={"web_ui_url": ""})
        built = operator(conn_id="spark_ha", deploy_mode="cluster", conf={"spark.master.rest.enabled": "true"})
        job = built.make_job({})
        assert job.submit_job("ref-1") == driver
        assert [r.path for r in standby.requests] == [r.path for r in active.requests] == ["/v1/submissions/create"]
        sent = json.loads(active.requests[0].body)["sparkProperties"]
        # As spark-submit sends it: the master rewrites its own REST port to its RPC port.
        assert sent["spark.master"] == f"spark://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}"
