"""ResumableKubernetesPodOperator in-process: KubernetesPodOperator's arguments, the pod it builds, refusals.

No Airflow scheduler: connections come from ``AIRFLOW_CONN_*`` variables and ``execute()``
runs with a stand-in task instance and a MemoryStateStore, against the loopback API
server (tests/services/kubernetes_api.py). The stock operator is the installed
apache-airflow-providers-cncf-kubernetes.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from resumable_core import InvalidArgument, JobFailed, MemoryStateStore, PollPolicy, load_record
from tests.services.kubernetes_api import KubernetesApiServer, plan_from_driver_args
from tests.spark_kubernetes.conftest import write_kubeconfig

pod_module = pytest.importorskip("airflow.providers.cncf.kubernetes.operators.pod")
StockOperator = pod_module.KubernetesPodOperator
TOKEN = "kpo-unit-bearer-0123456789abcdef"
FAST = PollPolicy(min_interval=0.02, max_interval=0.05, jitter=0.0)


def operator(**kwargs: Any) -> Any:
    from resumable_adapters.airflow import ResumableKubernetesPodOperator

    kwargs.setdefault("task_id", "pod")
    kwargs.setdefault("image", "registry.example/etl:1.4")
    return ResumableKubernetesPodOperator(**kwargs)


def context(try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", run_id="manual__1", task_id="pod", map_index=-1, max_tries=1,
                         try_number=try_number)
    return {"ti": ti, "run_id": ti.run_id, "dag": SimpleNamespace(dag_id="d")}


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[KubernetesApiServer]:
    """The loopback API server, named by the kubernetes_default connection's kube_config_path."""
    server = KubernetesApiServer(token=TOKEN, plan_for=plan_from_driver_args).start()
    path = write_kubeconfig(tmp_path / "kubeconfig", server.url, TOKEN)
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config_path": str(path)}}))
    try:
        yield server
    finally:
        server.stop()


def test_the_signature_has_every_argument_of_the_installed_pod_operator_with_its_default() -> None:
    """A provider release that adds an argument (or changes a default) fails here."""
    from resumable_adapters.airflow import ResumableKubernetesPodOperator

    ours = inspect.signature(ResumableKubernetesPodOperator.__init__).parameters
    stock = inspect.signature(StockOperator.__init__).parameters
    assert [name for name in stock if name not in ours] == []
    for name, parameter in stock.items():
        if name in ("self", "kwargs", "deferrable"):  # deferrable: off unless asked (it needs trigger_job=)
            continue
        assert ours[name].kind == parameter.kind, name
        assert ours[name].default == parameter.default, name
    assert ours["deferrable"].default is False
    for name in ("state_store", "state_key", "kill_policy", "fresh", "policy", "poll"):
        assert name in ours
    assert set(StockOperator.template_fields) <= set(ResumableKubernetesPodOperator.template_fields)


def test_stock_arguments_are_kept_as_the_stock_operator_keeps_them() -> None:
    values: dict[str, Any] = dict(
        namespace="etl", image="etl:2", name="nightly", cmds=["python"], arguments=["-m", "etl"],
        env_vars={"A": "1"}, labels={"team": "data"}, annotations={"a": "b"}, node_selector={"pool": "x"},
        startup_timeout_seconds=30, schedule_timeout_seconds=90, service_account_name="etl",
        skip_on_exit_code=99, on_finish_action="keep_pod", termination_grace_period=5, get_logs=False,
    )
    ours, stock = operator(task_id="t", **values), StockOperator(task_id="t", **values)
    for name in [*values, "schedule_timeout_seconds", "skip_on_exit_code", "on_finish_action"]:
        assert getattr(ours, name) == getattr(stock, name), name


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"callbacks": [object]}, "callbacks: KubernetesPodOperatorCallback"),
    ({"container_logs": True}, "container_logs: container logs are not streamed"),
    ({"log_events_on_failure": True}, "log_events_on_failure: pod events are not read"),
    ({"deferrable": True}, "deferrable=True: KubernetesPodTrigger does not run"),
    ({"on_finish_action": "delete_everything"}, "on_finish_action='delete_everything'"),
])
def test_arguments_it_cannot_honour_are_refused_naming_them(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidArgument, match=says.replace("(", r"\(")):
        operator(**kwargs)
    with pytest.raises(InvalidArgument) as both:
        operator(callbacks=[object], container_logs=["x"])
    assert "callbacks" in str(both.value) and "container_logs" in str(both.value)


def test_the_pod_is_the_stock_operators_with_our_name_label_and_no_per_try_label(kube: KubernetesApiServer) -> None:
    built = operator(cmds=["python"], arguments=["-m", "etl"], env_vars={"DAY": "2026-01-01"},
                     labels={"team": "data"}, state_store=MemoryStateStore())
    job = built.make_job(context())
    pod = job.pod_for("0123456789abcdef0123456789abcdef")
    meta, [container] = pod["metadata"], pod["spec"]["containers"]
    assert meta["name"] == "pod-0123456789abcdef0123456789abcdef"
    assert {"dag_id": "d", "task_id": "pod", "run_id": "manual__1", "kubernetes_pod_operator": "True",
            "team": "data"}.items() <= meta["labels"].items()
    assert "try_number" not in meta["labels"] and meta["labels"]["airflow_kpo_in_cluster"] == "False"
    assert container["name"] == "base" and container["image"] == "registry.example/etl:1.4"
    assert container["command"] == ["python"] and container["args"] == ["-m", "etl"]
    assert container["env"] == [{"name": "DAY", "value": "2026-01-01"}]
    assert pod["spec"]["restartPolicy"] == "Never"
    # A retry builds the same specification: the fingerprint ignores the try.
    again = operator(cmds=["python"], arguments=["-m", "etl"], env_vars={"DAY": "2026-01-01"},
                     labels={"team": "data"}).make_job(context(try_number=2))
    assert again.job_fingerprint() == job.job_fingerprint()
    changed = operator(cmds=["python"], arguments=["-m", "other"], env_vars={"DAY": "2026-01-01"},
                       labels={"team": "data"}).make_job(context())
    assert changed.job_fingerprint() != job.job_fingerprint()


def test_do_xcom_push_reads_return_json_through_the_termination_message(kube: KubernetesApiServer) -> None:
    store = MemoryStateStore()
    built = operator(do_xcom_push=True, arguments=["3600", "0"], state_store=store, poll=FAST)
    pod = built.make_job(context()).pod_for("0123456789abcdef0123456789abcdef")
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert names == ["base"]  # no sidecar: nothing execs into the pod
    assert pod["spec"]["containers"][0]["terminationMessagePath"] == "/airflow/xcom/return.json"

    threading.Thread(target=finish_when_created, args=(kube,), daemon=True).start()
    assert built.execute(context()) == {"rows": 12}
    record = load_record(store, "airflow/d/manual__1/pod/-1")
    assert record is not None and isinstance(record.result, dict)
    assert record.result["termination_message"] == '{"rows": 12}'  # the record keeps the XCom
    assert deletions(kube) == [True]  # on_finish_action delete_pod


def deletions(kube: KubernetesApiServer) -> list[bool]:
    """For each pod ever created, in order: was it deleted? Read from every pod as it was last
    (``pods_ever``), not from the live ones: a deleted pod goes away once its grace period is
    over, however soon the test looks."""
    return ["deletionTimestamp" in p["metadata"] for p in kube.pods_ever()]


def finish_when_created(kube: KubernetesApiServer) -> None:
    """Writes the container's return.json and ends the pod, once the operator created it."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        names = kube.pod_names()
        if names:
            [name] = names
            kube.write_termination_message(name, json.dumps({"rows": 12}))
            kube.set_phase(name, "Succeeded", 0)
            return
        time.sleep(0.01)


def test_a_failed_pod_fails_the_task_and_skip_on_exit_code_skips(kube: KubernetesApiServer) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(JobFailed, match="exit code 3"):
        operator(arguments=["0.05", "3"], state_store=MemoryStateStore(), poll=FAST).execute(context())
    with pytest.raises(AirflowSkipException, match="99"):
        operator(arguments=["0.05", "99"], skip_on_exit_code=99, state_store=MemoryStateStore(),
                 poll=FAST).execute(context())
    assert deletions(kube) == [True, True]


def test_keep_pod_keeps_it_and_no_credential_in_the_result(kube: KubernetesApiServer) -> None:
    result = operator(arguments=["0.05", "0"], on_finish_action="keep_pod", state_store=MemoryStateStore(),
                      poll=FAST).execute(context())
    assert result["phase"] == "Succeeded" and result["exit_code"] == 0
    assert "deletionTimestamp" not in (kube.pod(str(result["pod"])) or {})["metadata"]
    assert TOKEN not in json.dumps(result)


def test_durable_false_creates_a_pod_each_try(kube: KubernetesApiServer) -> None:
    built = operator(arguments=["0.05", "0"], durable=False, poll=FAST)
    first, second = built.execute(context()), built.execute(context(try_number=2))
    assert first["uid"] != second["uid"] and kube.pods_created() == 2
    with pytest.raises(InvalidArgument, match="durable=False keeps no record"):
        operator(durable=False, state_store=MemoryStateStore())
