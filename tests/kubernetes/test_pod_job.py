"""KubernetesPodJob against the loopback API server: names, uid fencing, phases, results, refusals."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from resumable_adapters.kubernetes import (
    REFERENCE_ANNOTATION,
    KubernetesClient,
    KubernetesPodJob,
    PodStartPolicy,
    command_pod,
    parse_pod_job_id,
)
from resumable_core import (
    InvalidArgument,
    JobNotFound,
    MemoryStateStore,
    ProtocolError,
    SubmissionRejected,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core.testing import FakeClock
from tests.kubernetes.conftest import FAST_POLL, IMAGE, TOKEN, PodJobFactory, pod_manifest
from tests.services.kubernetes_api import KubernetesApiServer


def held(seconds: float = 3600.0) -> dict[str, Any]:
    """A pod that runs until the test moves it (set_phase)."""
    return pod_manifest(seconds, 0)


def test_a_pod_runs_to_success_with_exit_code_and_log_tail(kube_api: KubernetesApiServer,
                                                           kube_client: KubernetesClient) -> None:
    job = KubernetesPodJob(kube_client, held(), name="etl", log_lines=2)
    reference = uuid.uuid4().hex
    job_id = job.submit_job(reference)
    namespace, name, uid = parse_pod_job_id(job_id)
    assert (namespace, name) == ("default", f"etl-{reference}")
    pod = kube_api.pod(name)
    assert pod is not None and pod["metadata"]["uid"] == uid
    assert pod["metadata"]["labels"]["resumable-ref"] == reference
    assert pod["metadata"]["annotations"][REFERENCE_ANNOTATION] == reference
    assert pod["spec"]["restartPolicy"] == "Never"
    assert job.get_job_status(job_id) == "Pending"
    kube_api.set_phase(name, "Running")
    assert job.get_job_status(job_id) == "Running" and job.is_job_active("Running")
    kube_api.write_log(name, f"one\ntwo Authorization: Bearer {TOKEN}\nthree\n")
    kube_api.set_phase(name, "Succeeded", 0)
    status = job.get_job_status(job_id)
    assert status == "Succeeded" and job.is_job_succeeded(status)
    result = job.get_job_result(job_id, status)
    assert result["exit_code"] == 0 and result["reason"] == "Completed" and result["node"] == "node-1"
    assert result["uid"] == uid and result["finished_at"]
    tail = str(result["log_tail"])
    assert tail.startswith("two ") and tail.endswith("three\n") and TOKEN not in tail


def test_a_failed_pod_names_its_exit_code_and_reason(kube_api: KubernetesApiServer,
                                                     make_pod_job: PodJobFactory) -> None:
    job = make_pod_job(3600.0)
    job_id = job.submit_job(uuid.uuid4().hex)
    kube_api.set_phase(parse_pod_job_id(job_id)[1], "Failed", 137)
    status = job.get_job_status(job_id)
    assert status == "Failed (exit code 137)"
    assert not job.is_job_active(status) and not job.is_job_succeeded(status)
    result = job.get_job_result(job_id, status)
    assert (result["phase"], result["exit_code"], result["reason"]) == ("Failed", 137, "OOMKilled")


def test_a_second_creation_of_one_reference_attaches_to_the_first_pod(kube_api: KubernetesApiServer,
                                                                     make_pod_job: PodJobFactory) -> None:
    reference = uuid.uuid4().hex
    first = make_pod_job().submit_job(reference)
    assert make_pod_job().submit_job(reference) == first  # the 409 AlreadyExists, then the annotation
    assert kube_api.pods_created() == 2 and len(kube_api.pod_names()) == 1


def test_a_pod_of_another_reference_under_our_name_is_refused_not_adopted(kube_api: KubernetesApiServer,
                                                                          make_pod_job: PodJobFactory) -> None:
    reference = uuid.uuid4().hex
    job = make_pod_job()
    foreign = job.pod_for(reference)
    foreign["metadata"]["annotations"][REFERENCE_ANNOTATION] = "someone-else"
    foreign["metadata"]["labels"]["resumable-ref"] = "someone-else"
    assert job.client.create_pod("default", foreign) is not None
    with pytest.raises(SubmissionRejected, match="not this submission's"):
        job.submit_job(reference)
    assert job.find_job_by_reference(reference) is None
    pod = kube_api.pod(job.pod_name(reference))
    assert pod is not None and "deletionTimestamp" not in pod["metadata"]


def test_a_pod_recreated_under_the_name_is_not_found_and_never_deleted(kube_api: KubernetesApiServer,
                                                                       make_pod_job: PodJobFactory) -> None:
    job = make_pod_job(3600.0)
    job_id = job.submit_job(uuid.uuid4().hex)
    _, name, uid = parse_pod_job_id(job_id)
    new_uid = kube_api.recreate(name)
    with pytest.raises(JobNotFound, match="recreated"):
        job.get_job_status(job_id)
    job.cancel_job(job_id)  # a precondition the server refuses (409): nothing deleted
    pod = kube_api.pod(name)
    assert pod is not None and pod["metadata"]["uid"] == new_uid and "deletionTimestamp" not in pod["metadata"]
    deletes = [path for method, path in kube_api.requests if method == "DELETE"]
    assert deletes == [f"/api/v1/namespaces/default/pods/{name}"] and uid != new_uid


def test_every_delete_carries_the_uid_precondition(kube_api: KubernetesApiServer,
                                                   make_pod_job: PodJobFactory) -> None:
    job = make_pod_job(3600.0)
    job_id = job.submit_job(uuid.uuid4().hex)
    _, name, _ = parse_pod_job_id(job_id)
    job.cancel_job(job_id)
    status = job.get_job_status(job_id)
    assert status == "Terminating" and not job.is_job_active(status) and not job.is_job_succeeded(status)
    # A delete naming another uid is refused by the server: proof the precondition was sent and checked.
    other = f"default/{name}/0b6a5d7e-0000-4000-8000-000000000000"
    assert job.client.delete_pod("default", name, parse_pod_job_id(other)[2]) == "replaced"


def test_a_deleted_pod_is_terminating_then_deleted(kube_api: KubernetesApiServer,
                                                   make_pod_job: PodJobFactory) -> None:
    kube_api.grace = 0.0
    job = make_pod_job(3600.0)
    job_id = job.submit_job(uuid.uuid4().hex)
    job.cancel_job(job_id)
    assert job.get_job_status(job_id) == "Deleted"  # gone from the server, deleted by this job
    with pytest.raises(JobNotFound):
        make_pod_job().get_job_status(job_id)  # another process: it never deleted it


def test_unknown_phase_is_transient_and_a_strange_one_a_protocol_error(kube_api: KubernetesApiServer,
                                                                       make_pod_job: PodJobFactory) -> None:
    job = make_pod_job(3600.0)
    job_id = job.submit_job(uuid.uuid4().hex)
    name = parse_pod_job_id(job_id)[1]
    kube_api.set_phase(name, "Unknown")
    with pytest.raises(TransientError, match="Unknown"):
        job.get_job_status(job_id)
    kube_api.set_phase(name, "Exploded")
    with pytest.raises(ProtocolError, match="unknown phase"):
        job.get_job_status(job_id)


@pytest.mark.parametrize(("step", "grace_field"), [("ImagePullBackOff", "pull_grace"),
                                                    ("ErrImagePull", "pull_grace"),
                                                    ("Unschedulable", "schedule_grace")])
def test_a_pod_stuck_pending_fails_after_the_grace_and_is_deleted(step: str, grace_field: str) -> None:
    clock = FakeClock()
    server = KubernetesApiServer(token=TOKEN, clock=clock, plan_for=lambda pod: [(0.0, step, None)]).start()
    try:
        client = KubernetesClient(server.url, token=TOKEN, timeout=5.0)
        job = KubernetesPodJob(client, held(), name="stuck", clock=clock,
                               start=PodStartPolicy(**{grace_field: 60.0}))
        job_id = job.submit_job(uuid.uuid4().hex)
        name = parse_pod_job_id(job_id)[1]
        status = job.get_job_status(job_id)
        assert status == f"Pending ({step})" and job.is_job_active(status)
        clock.now += 59
        assert job.get_job_status(job_id) == f"Pending ({step})"
        assert server.pod(name) is not None and "deletionTimestamp" not in (server.pod(name) or {})["metadata"]
        clock.now += 2
        status = job.get_job_status(job_id)
        assert status == f"Failed ({step})" and not job.is_job_active(status) and not job.is_job_succeeded(status)
        pod = server.pod(name)
        assert pod is not None and "deletionTimestamp" in pod["metadata"]  # it will never start late
        assert job.get_job_result(job_id, status)["reason"] == step
        client.close()
    finally:
        server.stop()


def test_a_healthy_pending_pod_waits_without_limit(kube_api: KubernetesApiServer,
                                                   kube_client: KubernetesClient) -> None:
    job = KubernetesPodJob(kube_client, held(), clock=lambda: 4_000_000_000.0, start=PodStartPolicy(0.0, 0.0))
    job_id = job.submit_job(uuid.uuid4().hex)
    assert job.get_job_status(job_id) == "Pending"


def test_a_pod_collected_after_success_is_a_success_from_the_record(kube_api: KubernetesApiServer,
                                                                    make_pod_job: PodJobFactory) -> None:
    store = MemoryStateStore()
    result = run_resumable(make_pod_job(0.1), store, key="gc", poll=FAST_POLL)
    record = load_record(store, "gc")
    assert record is not None and record.job_id is not None and isinstance(result, dict)
    kube_api.collect(str(result["pod"]))
    seen = len(kube_api.requests)
    assert run_resumable(make_pod_job(0.1), store, key="gc", poll=FAST_POLL) == result
    assert len(kube_api.requests) == seen and kube_api.pods_created() == 1


def test_find_by_reference_prefers_our_live_pod(kube_api: KubernetesApiServer, make_pod_job: PodJobFactory) -> None:
    reference = uuid.uuid4().hex
    old = make_pod_job(3600.0, name="old").submit_job(reference)
    kube_api.set_phase(parse_pod_job_id(old)[1], "Failed", 1)
    live = make_pod_job(3600.0, name="new").submit_job(reference)
    assert make_pod_job().find_job_by_reference(reference) == live
    assert make_pod_job().find_job_by_reference(uuid.uuid4().hex) is None


def test_the_server_refusing_the_pod_is_a_rejection(kube_api: KubernetesApiServer,
                                                    make_pod_job: PodJobFactory) -> None:
    kube_api.fail_next.append(422)
    with pytest.raises(SubmissionRejected, match="HTTP 422"):
        make_pod_job().submit_job(uuid.uuid4().hex)
    kube_api.fail_next.append(503)
    with pytest.raises(TransientError):
        make_pod_job().submit_job(uuid.uuid4().hex)


def test_the_log_is_not_read_from_a_pod_that_replaced_ours(kube_api: KubernetesApiServer,
                                                          make_pod_job: PodJobFactory) -> None:
    job = make_pod_job(3600.0)
    job_id = job.submit_job(uuid.uuid4().hex)
    name = parse_pod_job_id(job_id)[1]
    kube_api.set_phase(name, "Succeeded", 0)
    assert job.get_job_status(job_id) == "Succeeded"
    kube_api.recreate(name)
    kube_api.set_phase(name, "Succeeded", 0)
    kube_api.write_log(name, "not ours\n")
    result = make_pod_job().get_job_result(job_id, "Succeeded")
    assert result["log_tail"] is None and result["exit_code"] is None


@pytest.mark.parametrize(("pod", "message"), [
    ({"spec": {"containers": []}}, "spec.containers"),
    ({"kind": "Deployment", "spec": {"containers": [{"name": "a"}]}}, "kind"),
    ({"spec": {"restartPolicy": "Always", "containers": [{"name": "a", "image": IMAGE}]}}, "restartPolicy"),
    ({"metadata": {"labels": {"resumable-ref": "x"}}, "spec": {"containers": [{"name": "a"}]}}, "job's own"),
])
def test_a_pod_that_cannot_be_run_is_refused_at_construction(kube_client: KubernetesClient, pod: dict[str, Any],
                                                             message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        KubernetesPodJob(kube_client, pod)


def test_the_fingerprint_follows_the_pod_not_the_server(kube_client: KubernetesClient) -> None:
    a = KubernetesPodJob(kube_client, command_pod(IMAGE, ["run"]), name="x")
    assert a.job_fingerprint() == KubernetesPodJob(kube_client, command_pod(IMAGE, ["run"]), name="x").job_fingerprint()
    assert a.job_fingerprint() != KubernetesPodJob(kube_client, command_pod(IMAGE, ["other"]),
                                                   name="x").job_fingerprint()
    with pytest.raises(InvalidArgument, match="no container named"):
        KubernetesPodJob(kube_client, command_pod(IMAGE, ["run"]), container="sidecar")


def test_the_main_container_decides_while_a_sidecar_keeps_the_pod_running(kube_api: KubernetesApiServer,
                                                                         kube_client: KubernetesClient) -> None:
    pod = held()
    pod["spec"]["containers"].append({"name": "istio-proxy", "image": "istio/proxyv2:1.24"})
    job = KubernetesPodJob(kube_client, pod, name="mesh")
    job_id = job.submit_job(uuid.uuid4().hex)
    name = parse_pod_job_id(job_id)[1]
    kube_api.set_phase(name, "Running")
    kube_api.write_termination_message(name, '{"rows": 12}')
    kube_api.finish_container(name, "base", 0)
    assert (kube_api.pod(name) or {})["status"]["phase"] == "Running"
    assert job.get_job_status(job_id) == "Succeeded"
    result = job.get_job_result(job_id, "Succeeded")
    assert result["exit_code"] == 0 and result["termination_message"] == '{"rows": 12}'
    other = KubernetesPodJob(kube_client, pod, name="mesh")
    failed_id = other.submit_job(uuid.uuid4().hex)
    kube_api.set_phase(parse_pod_job_id(failed_id)[1], "Running")
    kube_api.finish_container(parse_pod_job_id(failed_id)[1], "base", 2)
    assert other.get_job_status(failed_id) == "Failed (exit code 2)"


def test_the_log_endpoint_answers_as_the_api_server_does(kube_api: KubernetesApiServer,
                                                         kube_client: KubernetesClient) -> None:
    pod = held()
    pod["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    job = KubernetesPodJob(kube_client, pod, name="logs")
    job_id = job.submit_job(uuid.uuid4().hex)
    name = parse_pod_job_id(job_id)[1]
    assert kube_client.read_pod_log("default", name, container="base") is None  # waiting to start: a 400
    kube_api.set_phase(name, "Running")
    kube_api.write_log(name, "a\nb\nc\n")
    assert kube_client.read_pod_log("default", name, container="base", tail_lines=2) == "b\nc\n"
    assert kube_client.read_pod_log("default", name, container="base", tail_lines=5, limit_bytes=3) == "a\nb"
    assert kube_client.read_pod_log("default", "missing-pod", container="base") is None
    with pytest.raises(ProtocolError, match="HTTP 400"):  # as the server: a name is needed with two containers
        kube_client._call("GET", f"/api/v1/namespaces/default/pods/{name}/log", None, accept=(404,))
