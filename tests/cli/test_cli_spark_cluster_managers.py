"""``resumable spark-submit --master yarn | k8s://...``: real CLI processes against the loopback servers.

YARN: the loopback ResourceManager (tests/services/yarn_rm.py) and the recorded launcher
(submission is Hadoop RPC, which nothing here speaks). Kubernetes: the loopback API server
(tests/services/kubernetes_api.py), with the real spark-submit of pyspark once (a JVM
start, ~4 s) and the recorded launcher elsewhere. ``tests/cli/recording_spark_submit.py``
records the arguments and properties each launch was given.
"""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.cli import EXIT_JOB_FAILED, EXIT_USAGE
from resumable_adapters.cli._common import meta_key
from resumable_adapters.spark._cli_cluster import yarn_site_rm_urls
from resumable_adapters.sqlite import SqliteStateStore
from tests.cli.conftest import Cli
from tests.services.kubernetes_api import KubernetesApiServer, plan_from_driver_args
from tests.services.yarn_rm import YarnResourceManager
from tests.spark_kubernetes.conftest import IMAGE, TOKEN, write_kubeconfig
from tests.spark_yarn.conftest import hadoop_conf_dir, write_wrapper

SECRET = "s3cr3t-value-0123456789"  # a --conf value that must never reach the state file or any output
JAR = "hdfs:///jobs/etl.jar"
# Inherited settings that would point a test's spark-submit or credentials elsewhere.
_FOREIGN_ENV = ("HADOOP_CONF_DIR", "YARN_CONF_DIR", "KUBECONFIG", "SPARK_HOME", "KUBERNETES_SERVICE_HOST",
                "HADOOP_USER_NAME", "SPARK_CONF_DIR")


@pytest.fixture
def rm() -> Iterator[YarnResourceManager]:
    server = YarnResourceManager().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube() -> Iterator[KubernetesApiServer]:
    server = KubernetesApiServer(token=TOKEN, plan_for=plan_from_driver_args).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def spark_cli(cli: Cli, tmp_path: Path) -> Cli:
    """The CLI with a recording spark-submit and none of this machine's Hadoop, Spark or Kubernetes settings."""
    for name in _FOREIGN_ENV:
        cli.env.pop(name, None)
    cli.env["RECORD_SPARK_SUBMIT"] = str(tmp_path / "launches.jsonl")
    cli.env["HADOOP_USER_NAME"] = "etl"
    return cli


def launcher(tmp_path: Path) -> str:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    return write_wrapper(folder, "tests.cli.recording_spark_submit")


def launches(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "launches.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def state_bytes(cli: Cli) -> bytes:
    return b"".join(p.read_bytes() for p in cli.tmp.glob("state.db*"))


def meta(cli: Cli, key: str) -> Any:
    with SqliteStateStore(cli.state) as store:
        return store.get(meta_key(key))


def yarn_args(cli: Cli, tmp_path: Path, rm: YarnResourceManager, key: str, seconds: float, *extra: str,
              code: int = 0) -> list[str]:
    cli.env["HADOOP_CONF_DIR"] = str(hadoop_conf_dir(tmp_path / "hadoop-conf", rm))
    return ["spark-submit", "--json", "--key", key, "--master", "yarn", "--spark-submit", launcher(tmp_path),
            "--class", "etl.Main", *extra, JAR, str(seconds), str(code)]


def kube_args(cli: Cli, tmp_path: Path, kube: KubernetesApiServer, key: str, seconds: float, *extra: str,
              code: int = 0) -> list[str]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url)
    return ["spark-submit", "--json", "--key", key, "--master", f"k8s://{kube.url}", "--kubeconfig", str(kubeconfig),
            "--conf", f"spark.kubernetes.container.image={IMAGE}", "--name", "etl", "--class", "etl.Main", *extra,
            "local:///opt/spark/jobs/etl.jar", str(seconds), str(code)]


def read_until(process: subprocess.Popen[str], wanted: Callable[[dict[str, Any]], bool],
               limit: float = 60.0) -> dict[str, Any]:
    """The first JSON line on *process*'s stdout that *wanted* accepts (a guard, not a timing assertion)."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + limit
    seen: list[str] = []
    while time.monotonic() < deadline:
        if not selector.select(timeout=0.5):
            continue
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("{") and wanted(json.loads(line)):
            return dict(json.loads(line))
    process.kill()
    raise AssertionError(f"never saw the line awaited; stdout: {seen}; stderr: {process.communicate()[1][-2000:]}")


def event(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda line: line.get("event") == name


# -- YARN -----------------------------------------------------------------------------------------


def test_yarn_runs_to_success_from_yarn_site_then_reuses_and_records_no_secret(
    spark_cli: Cli, tmp_path: Path, rm: YarnResourceManager
) -> None:
    args = yarn_args(spark_cli, tmp_path, rm, "etl-yarn", 0.3, "--conf", f"spark.hadoop.fs.s3a.secret.key={SECRET}")
    first = spark_cli.run(*args)
    assert first.code == 0, first.stderr
    assert first.event_names()[0] == "submitted"
    result = first.events[-1]["result"]
    assert (result["state"], result["final_status"]) == ("FINISHED", "SUCCEEDED")
    assert list(rm.apps) == [result["application_id"]]
    # The RM came from $HADOOP_CONF_DIR/yarn-site.xml; user.name from $HADOOP_USER_NAME.
    assert meta(spark_cli, "etl-yarn") == {"kind": "spark-yarn", "rm_urls": [rm.url], "user": "etl",
                                           "application": JAR, "main_class": "etl.Main", "name": None}
    assert {user for _, _, user in rm.requests if user} == {"etl"}

    again = spark_cli.run(*args)
    assert again.code == 0 and again.event_names()[0] == "result_reused"
    status = spark_cli.run("status", "--json", "etl-yarn")
    assert status.events[0]["phase"] == "succeeded" and status.events[0]["job_id"] == result["application_id"]
    assert len(rm.apps) == 1 and len(launches(tmp_path)) == 1
    assert launches(tmp_path)[0]["conf"]["spark.hadoop.fs.s3a.secret.key"] == SECRET  # it did reach spark-submit
    for text in (first.stdout, first.stderr, again.stdout, again.stderr, status.stdout):
        assert SECRET not in text
    assert SECRET.encode() not in state_bytes(spark_cli)


def test_spark_submit_option_names_reach_the_submission_as_spark_submit_maps_them(
    spark_cli: Cli, tmp_path: Path, rm: YarnResourceManager
) -> None:
    properties = tmp_path / "job.properties"
    properties.write_text("# defaults of the job\nspark.foo = from-file\nspark.bar from-file\n")
    keytab = tmp_path / "etl.keytab"
    keytab.write_bytes(b"KEYTAB-CONTENTS-" + SECRET.encode())
    done = spark_cli.run(*yarn_args(
        spark_cli, tmp_path, rm, "etl-options", 0.2,
        "--yarn-rm", rm.url, "--deploy-mode", "cluster", "--name", "nightly", "--queue", "etl",
        "--num-executors", "3", "--executor-memory", "2g", "--executor-cores", "2", "--driver-memory", "1g",
        "--driver-cores", "2", "--jars", "a.jar,b.jar", "--py-files", "deps.zip", "--files", "f.txt",
        "--archives", "env.tar.gz#env", "--keytab", str(keytab), "--principal", "etl@EXAMPLE.COM",
        "--proxy-user", "bob", "--packages", "org.x:y:1.0", "--properties-file", str(properties),
        "--conf", "spark.executor.memory=1g", "--conf", "spark.foo=from-conf",
    ))
    assert done.code == 0, done.stderr
    [launch] = launches(tmp_path)
    argv, conf = launch["argv"], launch["conf"]
    assert argv[argv.index("--master"):argv.index("--master") + 4] == ["--master", "yarn", "--deploy-mode", "cluster"]
    for flag, value in (("--name", "nightly"), ("--class", "etl.Main"), ("--jars", "a.jar,b.jar"),
                        ("--py-files", "deps.zip"), ("--files", "f.txt"), ("--archives", "env.tar.gz#env"),
                        ("--proxy-user", "bob")):
        assert argv[argv.index(flag) + 1] == value, flag
    assert argv[-3:] == [JAR, "0.2", "0"]
    assert {k: conf.get(k) for k in (
        "spark.yarn.queue", "spark.executor.instances", "spark.executor.memory", "spark.executor.cores",
        "spark.driver.memory", "spark.driver.cores", "spark.kerberos.keytab", "spark.kerberos.principal",
        "spark.jars.packages", "spark.foo", "spark.bar")} == {
        "spark.yarn.queue": "etl", "spark.executor.instances": "3",
        "spark.executor.memory": "2g",  # the dedicated option wins over --conf, as in spark-submit
        "spark.executor.cores": "2", "spark.driver.memory": "1g", "spark.driver.cores": "2",
        "spark.kerberos.keytab": str(keytab), "spark.kerberos.principal": "etl@EXAMPLE.COM",
        "spark.jars.packages": "org.x:y:1.0",
        "spark.foo": "from-conf",  # --conf wins over --properties-file
        "spark.bar": "from-file",
    }
    app = rm.app(done.events[-1]["result"]["application_id"])
    assert app is not None and app["queue"] == "etl"
    assert SECRET.encode() not in state_bytes(spark_cli) and SECRET not in done.stdout + done.stderr


def test_yarn_client_sigkilled_after_the_id_is_recorded_then_the_rerun_reattaches(
    spark_cli: Cli, tmp_path: Path, rm: YarnResourceManager
) -> None:
    args = yarn_args(spark_cli, tmp_path, rm, "etl-crash", 600)
    client = spark_cli.start(*args)
    submitted = read_until(client, event("submitted"))
    client.send_signal(signal.SIGKILL)
    client.wait()
    status = spark_cli.run("status", "--json", "etl-crash")
    assert status.events[0]["phase"] == "submitted" and status.events[0]["job_id"] == submitted["job_id"]

    rerun = spark_cli.start(*args)
    reattached = read_until(rerun, lambda line: line.get("event") in ("reattached", "submitted"))
    assert reattached["event"] == "reattached" and reattached["job_id"] == submitted["job_id"]
    rm.set_state(submitted["job_id"], "FINISHED", "SUCCEEDED")
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["result"]["application_id"] == submitted["job_id"]
    assert len(rm.apps) == 1 and len(launches(tmp_path)) == 1  # one submission


# -- Kubernetes -----------------------------------------------------------------------------------


@pytest.mark.spark
def test_kubernetes_real_spark_submit_runs_the_driver_pod_to_success(
    spark_cli: Cli, tmp_path: Path, kube: KubernetesApiServer
) -> None:
    conf_dir = tmp_path / "spark-conf"  # empty: no spark-defaults.conf of this machine leaks in
    conf_dir.mkdir()
    spark_cli.env.update({"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONF_DIR": str(conf_dir)})
    args = kube_args(spark_cli, tmp_path, kube, "etl-k8s", 0.3)
    args.remove("--kubeconfig")
    spark_cli.env["KUBECONFIG"] = args.pop(args.index(str(tmp_path / "kubeconfig")))  # found as spark-submit would
    done = spark_cli.run(*args, timeout=180)
    assert done.code == 0, done.stderr[-3000:]
    result = done.events[-1]["result"]
    assert result["phase"] == "Succeeded" and result["exit_code"] == 0
    pod = kube.pod(result["pod"])
    assert pod is not None and pod["metadata"]["labels"]["spark-role"] == "driver"
    assert done.events[-1]["job_id"] == f"default/{result['pod']}/{pod['metadata']['uid']}"
    assert kube.pods_created() == 1
    recorded = meta(spark_cli, "etl-k8s")
    assert recorded["kind"] == "spark-kubernetes" and recorded["master"] == f"k8s://{kube.url}"
    assert recorded["credentials"] == {"source": "kubeconfig", "kubeconfig": str(tmp_path / "kubeconfig"),
                                       "context": None}
    assert TOKEN not in done.stdout + done.stderr and TOKEN.encode() not in state_bytes(spark_cli)


def test_kubernetes_sigkilled_client_is_followed_by_watch_and_a_running_one_is_cancelled(
    spark_cli: Cli, tmp_path: Path, kube: KubernetesApiServer
) -> None:
    wrapper = launcher(tmp_path)
    crashed = spark_cli.start(*kube_args(spark_cli, tmp_path, kube, "k8s-watch", 600, "--spark-submit", wrapper))
    submitted = read_until(crashed, event("submitted"))
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    pod_name = submitted["job_id"].split("/")[1]
    # The status asks the pod through the job rebuilt from what was recorded.
    status = spark_cli.run("status", "--json", "k8s-watch")
    assert status.events[0]["job_id"] == submitted["job_id"]
    assert status.events[0]["live_status"] in ("Pending", "Running")

    watch = spark_cli.start("watch", "--json")
    watching = read_until(watch, event("watching"))
    assert watching["keys"] == ["k8s-watch"] and watching["not_followed"] == []
    kube.set_phase(pod_name, "Succeeded", exit_code=0)
    out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [line["result"]["pod"] for line in lines if line.get("event") == "result"] == [pod_name]

    running = spark_cli.start(*kube_args(spark_cli, tmp_path, kube, "k8s-cancel", 600, "--spark-submit", wrapper))
    target = read_until(running, event("submitted"))
    cancel = spark_cli.run("cancel", "--json", "k8s-cancel")
    assert cancel.code == 0, cancel.stderr
    assert cancel.events[0]["phase"] == "cancelled" and cancel.events[0]["job_id"] == target["job_id"]
    out, err = running.communicate(timeout=60)
    assert running.returncode == EXIT_JOB_FAILED, err
    assert json.loads(out.splitlines()[-1])["event"] == "error"
    pod = kube.pod(target["job_id"].split("/")[1])
    assert pod is None or "deletionTimestamp" in pod["metadata"]  # deleted, or going with its grace period
    assert kube.pods_created() == 2 and len(launches(tmp_path)) == 2
    assert TOKEN.encode() not in state_bytes(spark_cli)


def test_failed_drivers_exit_with_their_code_where_the_cluster_reports_one_and_name_their_logs(
    spark_cli: Cli, tmp_path: Path, rm: YarnResourceManager, kube: KubernetesApiServer
) -> None:
    pod = spark_cli.run(*kube_args(spark_cli, tmp_path, kube, "k8s-fails", 0.2, "--spark-submit", launcher(tmp_path),
                                   code=3))
    assert pod.code == 3, pod.stderr  # the driver container's exit code, as the pod reports it
    assert pod.events[-1]["job_exit_code"] == 3 and "kubectl logs -n default " in pod.events[-1]["message"]
    app = spark_cli.run(*yarn_args(spark_cli, tmp_path, rm, "yarn-fails", 0.2, code=3))
    assert app.code == EXIT_JOB_FAILED, app.stderr  # YARN reports a final status, no exit code
    error = app.events[-1]
    assert error["status"] == "FINISHED/FAILED" and error["job_exit_code"] is None
    assert f"yarn logs -applicationId {error['job_id']}" in error["message"]
    assert "User class threw exception" in error["message"]  # the RM's diagnostics


# -- usage ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("master", ["yarn", "k8s://https://127.0.0.1:6443", "spark://127.0.0.1:6066"])
def test_client_deploy_mode_is_refused_for_every_cluster_manager_and_writes_nothing(
    spark_cli: Cli, master: str
) -> None:
    done = spark_cli.run("spark-submit", "--key", "client", "--master", master, "--deploy-mode", "client",
                         "--class", "etl.Main", JAR)
    assert done.code == EXIT_USAGE
    assert "--deploy-mode client cannot be resumed" in done.stderr and "driver would run inside this process" in done.stderr
    assert not spark_cli.state.exists()


def yarn_site(path: Path, **props: str) -> Path:
    path.write_text("<configuration>" + "".join(
        f"<property><name>{name}</name><value>{value}</value></property>" for name, value in props.items())
        + "</configuration>")
    return path


def test_yarn_site_gives_one_address_per_ha_resourcemanager_and_https_when_the_policy_says_so(tmp_path: Path) -> None:
    ha = yarn_site(tmp_path / "ha.xml", **{
        "yarn.resourcemanager.ha.enabled": "true", "yarn.resourcemanager.ha.rm-ids": "rm1, rm2",
        "yarn.resourcemanager.webapp.address.rm1": "${yarn.resourcemanager.hostname.rm1}:8088",
        "yarn.resourcemanager.hostname.rm1": "rm-a", "yarn.resourcemanager.hostname.rm2": "rm-b",
    })
    assert yarn_site_rm_urls(ha) == ["http://rm-a:8088", "http://rm-b:8088"]
    secure = yarn_site(tmp_path / "https.xml", **{
        "yarn.http.policy": "HTTPS_ONLY", "yarn.resourcemanager.hostname": "rm-c",
        "yarn.resourcemanager.webapp.address": "rm-c:8088",  # the http address: not the one used under HTTPS_ONLY
    })
    assert yarn_site_rm_urls(secure) == ["https://rm-c:8090"]
