"""SparkKubernetesJob and KubernetesClient against the loopback API server (submission: the recorded launcher)."""

from __future__ import annotations

import base64
import gc
import json
import os
import stat
import uuid
from pathlib import Path

import pytest

from resumable_adapters.kubernetes._client import KubernetesClient
from resumable_adapters.spark._kubernetes import REFERENCE_ANNOTATION, REFERENCE_LABEL, parse_job_id
from resumable_core import (
    InvalidArgument,
    JobNotFound,
    MemoryStateStore,
    ProtocolError,
    SubmissionRejected,
    TransientError,
    run_resumable,
)
from tests.services.kubernetes_api import KubernetesApiServer
from tests.spark_kubernetes.conftest import FAST_POLL, TOKEN, JobFactory, write_kubeconfig


def test_status_follows_the_pod_phase_with_the_driver_exit_code(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer
) -> None:
    job = make_kube_job(60.0)
    job_id = job.submit_job(uuid.uuid4().hex)
    _, name, _ = parse_job_id(job_id)
    kube_api.set_phase(name, "Pending")
    assert job.get_job_status(job_id) == "Pending" and job.is_job_active("Pending")
    kube_api.set_phase(name, "Running")
    assert job.get_job_status(job_id) == "Running"
    kube_api.set_phase(name, "Unknown")
    with pytest.raises(TransientError) as info:  # a node out of touch is no verdict
        job.get_job_status(job_id)
    assert info.value.job_id == job_id and info.value.status == "Unknown"
    kube_api.set_phase(name, "Failed", exit_code=3)
    status = job.get_job_status(job_id)
    assert status == "Failed (exit code 3)"
    assert not job.is_job_active(status) and not job.is_job_succeeded(status)
    assert job.get_job_result(job_id, status)["exit_code"] == 3


def test_a_deleted_pod_in_its_grace_period_is_terminating_not_running(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer
) -> None:
    kube_api.grace = 30.0  # Kubernetes' default terminationGracePeriodSeconds
    clearing = make_kube_job(60.0)  # a try that cancels, then stops (a clear while running)
    job_id = clearing.submit_job(uuid.uuid4().hex)
    _, name, _ = parse_job_id(job_id)
    kube_api.set_phase(name, "Running")
    clearing.cancel_job(job_id)
    pod = kube_api.pod(name)
    assert pod is not None and pod["status"]["phase"] == "Running" and "deletionTimestamp" in pod["metadata"]
    rerun = make_kube_job(60.0)  # the next process, which never deleted anything
    status = rerun.get_job_status(job_id)
    # Not active: the rerun must not reattach to a dying driver; not a success either.
    assert status == "Terminating" and not rerun.is_job_active(status) and not rerun.is_job_succeeded(status)


def test_a_pod_recreated_under_the_same_name_is_never_adopted_nor_deleted(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer
) -> None:
    job = make_kube_job(60.0)
    job_id = job.submit_job(uuid.uuid4().hex)
    namespace, name, uid = parse_job_id(job_id)
    new_uid = kube_api.recreate(name)
    assert new_uid != uid
    with pytest.raises(JobNotFound, match="recreated") as info:
        job.get_job_status(job_id)
    assert info.value.job_id == job_id
    job.cancel_job(job_id)  # the uid precondition: the recreated pod stays
    pod = kube_api.pod(name, namespace)
    assert pod is not None and pod["metadata"]["uid"] == new_uid and "deletionTimestamp" not in pod["metadata"]


def test_a_pod_collected_after_success_answers_from_the_record_without_asking(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer
) -> None:
    store = MemoryStateStore()
    result = run_resumable(make_kube_job(0.2), store, key="gc", poll=FAST_POLL)
    assert result["phase"] == "Succeeded" and result["exit_code"] == 0
    kube_api.collect(str(result["pod"]))
    asked = len(kube_api.requests)
    assert run_resumable(make_kube_job(0.2), store, key="gc", poll=FAST_POLL) == result
    assert len(kube_api.requests) == asked and kube_api.pods_created() == 1
    with pytest.raises(JobNotFound):  # without a record, a collected pod is unknown, not a failure
        make_kube_job().get_job_status(f"{result['namespace']}/{result['pod']}/{result['uid']}")


def test_the_same_reference_twice_is_one_pod_and_a_foreign_pod_of_that_name_is_refused(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer
) -> None:
    job = make_kube_job(60.0)
    reference = uuid.uuid4().hex
    job_id = job.submit_job(reference)
    assert job.submit_job(reference) == job_id  # 409 AlreadyExists: the pod we made
    assert kube_api.pods_created() == 2 and len(kube_api.pod_names()) == 1

    stranger = uuid.uuid4().hex
    with kube_api.lock:  # someone else's pod under the name this reference would take
        kube_api._create_pod("default", {"metadata": {"name": job.pod_name(stranger), "annotations": {}}})
    with pytest.raises(SubmissionRejected, match="not this submission's"):
        job.submit_job(stranger)


@pytest.mark.parametrize(("code", "error"), [(403, SubmissionRejected), (422, SubmissionRejected),
                                             (500, TransientError)])
def test_a_refused_pod_post_is_a_rejection_and_a_server_error_is_ambiguous(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer, code: int, error: type[Exception]
) -> None:
    kube_api.fail_next = [code]
    with pytest.raises(error) as info:
        make_kube_job().submit_job(uuid.uuid4().hex)
    assert TOKEN not in str(info.value)


def test_find_by_reference_selects_the_label_and_checks_the_annotation(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer
) -> None:
    job = make_kube_job(60.0)
    reference = uuid.uuid4().hex
    job_id = job.submit_job(reference)
    assert job.find_job_by_reference(reference) == job_id
    assert ("GET", "/api/v1/namespaces/default/pods") in kube_api.requests  # a list, by label selector
    other = uuid.uuid4().hex
    with kube_api.lock:  # our label, another reference: a label value alone is not proof
        kube_api._create_pod("default", {"metadata": {"name": "x", "labels": {REFERENCE_LABEL: other},
                                                      "annotations": {REFERENCE_ANNOTATION: "else"}}})
    assert job.find_job_by_reference(other) is None


def test_credentials_never_reach_a_message(kube_api: KubernetesApiServer, tmp_path: Path) -> None:
    wrong = KubernetesClient(kube_api.url, token="wrong-token-abcdef123456")
    with pytest.raises(ProtocolError, match="401") as info:
        wrong.get_pod("default", "x")
    assert "wrong-token-abcdef123456" not in str(info.value)
    kube_api.fail_next = [503]
    with pytest.raises(TransientError, match="503"):
        KubernetesClient(kube_api.url, token=TOKEN).get_pod("default", "x")
    with pytest.raises(TransientError, match="unreachable"):
        KubernetesClient("http://127.0.0.1:9", token=TOKEN, timeout=2.0).get_pod("default", "x")
    for bad in ("default/x", "default/../etc/0b6a5d7e-0000", "Default/x/0b6a5d7e-0000-4000"):
        with pytest.raises(InvalidArgument):
            parse_job_id(bad)
    client = KubernetesClient(kube_api.url, token=TOKEN)
    conf, files = client.submit_conf()
    assert TOKEN not in json.dumps(conf) and files["k8s-token"] == TOKEN  # by file, not on a command line
    assert TOKEN not in repr(client)


PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def write_embedded_kubeconfig(path: Path) -> Path:
    """A kubeconfig whose client certificate and key are inline (``*-data``), as cloud CLIs write them."""
    data = base64.b64encode(PEM).decode()
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: c
  cluster:
    server: https://k8s.example:6443
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    client-certificate-data: {data}
    client-key-data: {data}
contexts:
- name: prod
  context: {{cluster: c, user: u, namespace: spark-jobs}}
""")
    return path


def test_kubeconfig_yaml_with_embedded_certificates(tmp_path: Path) -> None:
    pem = PEM
    client = KubernetesClient.from_kubeconfig(write_embedded_kubeconfig(tmp_path / "config"))
    assert client.server == "https://k8s.example:6443" and client.namespace == "spark-jobs" and not client.verify
    assert client.client_cert is not None and client.client_key is not None
    assert Path(client.client_key).read_bytes() == pem
    assert stat.S_IMODE(os.stat(client.client_key).st_mode) == 0o600
    conf, _ = client.submit_conf()
    assert conf["spark.kubernetes.authenticate.submission.clientKeyFile"] == client.client_key
    assert conf["spark.kubernetes.trust.certificates"] == "true"
    client.close()
    assert not Path(client.client_key).exists()  # the decoded key does not outlive the client


def test_the_same_credentials_at_another_address_keep_their_decoded_files(tmp_path: Path) -> None:
    """kubectl's --server and spark-submit's k8s:// master may name the server otherwise than the
    kubeconfig: the client made for that address must keep the certificate files written from the
    kubeconfig, however soon the client they came from is collected."""
    source = KubernetesClient.from_kubeconfig(write_embedded_kubeconfig(tmp_path / "config"))
    assert source.at("https://k8s.example:6443/") is source
    moved = source.at("https://10.0.0.1:6443")
    assert (moved.server, moved.namespace, moved.verify) == ("https://10.0.0.1:6443", "spark-jobs", False)
    assert (moved.client_cert, moved.client_key) == (source.client_cert, source.client_key)
    del source
    gc.collect()
    assert moved.client_key is not None and Path(moved.client_key).read_bytes() == PEM


def test_kubeconfig_exec_plugins_are_refused_and_in_cluster_reads_the_service_account(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", "https://k8s.example:6443")
    config = json.loads(path.read_text())
    config["users"][0]["user"] = {"exec": {"command": "aws", "args": ["eks", "get-token"]}}
    path.write_text(json.dumps(config))
    with pytest.raises(InvalidArgument, match="exec"):
        KubernetesClient.from_kubeconfig(path)

    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("first-token-0000\n")
    (account / "namespace").write_text("batch\n")
    client = KubernetesClient.in_cluster(directory=str(account),
                                         environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert client.server == "https://10.0.0.1:443" and client.namespace == "batch"
    assert client.token() == "first-token-0000"
    (account / "token").write_text("rotated-token-1111\n")  # projected tokens rotate: read each time
    assert client.token() == "rotated-token-1111"
    with pytest.raises(InvalidArgument, match="not in a Kubernetes pod"):
        KubernetesClient.in_cluster(directory=str(account), environ={})
