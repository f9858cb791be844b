"""Batched status for KubernetesPodJob against the loopback API server: one pod list per namespace and tick.

The list selects every pod that carries the reference label (``labelSelector=resumable-ref``,
the label exists); it answers only a plainly Pending or Running pod, and leaves every case
a job's own settings decide (a stuck pod, a sidecar case, a pod being deleted, a recreated
one, an ended one) to the direct read, which must then agree. Pods are held Running until
the test ends them (``set_phase``), so nothing here depends on how fast anything starts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from resumable_adapters.kubernetes import REFERENCE_LABEL, KubernetesClient, KubernetesPodJob, parse_pod_job_id
from resumable_core import PollPolicy
from tests.contracts.batching import SupervisorThread, result_of, wait_until
from tests.kubernetes.conftest import TOKEN, pod_manifest
from tests.services.kubernetes_api import KubernetesApiServer

TICK = 0.2
POLL = PollPolicy(min_interval=0.02, max_interval=0.05, jitter=0.0, transient_seconds=30.0, deadline=60.0)
JOBS = 4
LIST = ("GET", "/api/v1/namespaces/default/pods")


def count(api: KubernetesApiServer, request: tuple[str, str] | Callable[[tuple[str, str]], bool]) -> int:
    with api.lock:
        seen = list(api.requests)
    return sum(1 for r in seen if (request(r) if callable(request) else r == request))


def direct_read(request: tuple[str, str]) -> bool:
    """A GET of one pod (not its log, not a list)."""
    return request[0] == "GET" and request[1].startswith(LIST[1] + "/") and request[1].count("/") == 6


def held_jobs(client: KubernetesClient, names: dict[int, str],
              after_submit: Callable[[int, str], None] = lambda number, name: None) -> list[KubernetesPodJob]:
    """*JOBS* pods that run until the test ends them; job *number*'s pod name goes to ``names[number]``."""
    jobs = []
    for number in range(JOBS):
        job = KubernetesPodJob(client, pod_manifest(3600.0, 0), name=f"held{number}")
        submit = job.submit_job

        def submitted(reference: str, submit: Callable[[str], str] = submit, number: int = number) -> str:
            job_id = submit(reference)
            names[number] = parse_pod_job_id(job_id)[1]
            after_submit(number, names[number])
            return job_id

        job.submit_job = submitted  # type: ignore[method-assign]  # the test's one hook: learn the pod names
        jobs.append(job)
    return jobs


def test_one_pod_list_per_tick_and_no_direct_read_while_listed(kube_api: KubernetesApiServer,
                                                               kube_client: KubernetesClient) -> None:
    names: dict[int, str] = {}
    running = SupervisorThread(held_jobs(kube_client, names), tick=TICK, poll=POLL)
    wait_until(lambda: len(names) == JOBS, "every pod created")
    lists0, direct0, started = count(kube_api, LIST), count(kube_api, direct_read), time.monotonic()
    wait_until(lambda: count(kube_api, LIST) >= lists0 + 5, "five more pod lists")
    lists, elapsed = count(kube_api, LIST) - lists0, time.monotonic() - started
    # Four jobs polling every 0.05 s would read ~80 times a second; batched, the API server sees
    # one list per tick, whatever the machine's speed (a slow one makes fewer).
    assert lists <= elapsed / TICK + 2, f"{lists} lists in {elapsed:.2f} s with a {TICK} s tick"
    assert count(kube_api, direct_read) == direct0, "a listed pod was also read directly"
    for name in names.values():
        kube_api.set_phase(name, "Succeeded", 0)
    outcomes = running.join()
    assert {result_of(o)["phase"] for o in outcomes.values()} == {"Succeeded"}
    assert {result_of(o)["pod"] for o in outcomes.values()} == set(names.values())
    assert kube_api.pods_created() == JOBS


def test_a_pod_missing_from_the_list_is_read_directly_and_never_recreated(kube_api: KubernetesApiServer,
                                                                          kube_client: KubernetesClient) -> None:
    def unlabel(number: int, name: str) -> None:
        if number == 0:  # as `kubectl label pod NAME resumable-ref-` would: out of every list by that label
            with kube_api.lock:
                kube_api.pods[("default", name)].obj["metadata"]["labels"].pop(REFERENCE_LABEL)

    names: dict[int, str] = {}
    running = SupervisorThread(held_jobs(kube_client, names, unlabel), tick=TICK, poll=POLL)
    wait_until(lambda: len(names) == JOBS, "every pod created")
    hidden = f"{LIST[1]}/{names[0]}"
    wait_until(lambda: count(kube_api, ("GET", hidden)) >= 3, "direct reads of the pod the list leaves out")
    assert count(kube_api, direct_read) == count(kube_api, ("GET", hidden)), "only the unlisted pod is read directly"
    kube_api.fail_next.extend([500, 503])  # and a list (or read) that fails: transient, never a resubmission
    for name in names.values():
        kube_api.set_phase(name, "Succeeded", 0)
    outcomes = running.join()
    assert result_of(outcomes["k0"])["pod"] == names[0] and all(o.ok for o in outcomes.values())
    assert kube_api.pods_created() == JOBS


def test_the_list_answers_only_what_no_job_setting_decides(kube_api: KubernetesApiServer,
                                                           kube_client: KubernetesClient) -> None:
    def job(name: str, sidecar: bool = False) -> tuple[KubernetesPodJob, str, str]:
        manifest = pod_manifest(3600.0, 0)
        if sidecar:
            manifest["spec"]["containers"].append({"name": "istio-proxy", "image": "istio/proxyv2:1.24"})
        made = KubernetesPodJob(kube_client, manifest, name=name)
        job_id = made.submit_job(uuid.uuid4().hex)
        return made, job_id, parse_pod_job_id(job_id)[1]

    (pending, pending_id, _), (running, running_id, running_name) = job("pending"), job("running")
    mesh, mesh_id, mesh_name = job("mesh", sidecar=True)
    ended, ended_id, ended_name = job("ended")
    dying, dying_id, _ = job("dying")
    gone, gone_id, gone_name = job("gone")
    for name in (running_name, mesh_name, ended_name):
        kube_api.set_phase(name, "Running")
    kube_api.finish_container(mesh_name, "base", 0)  # the main one ended, the sidecar lives on
    kube_api.set_phase(ended_name, "Failed", 3)
    dying.cancel_job(dying_id)  # deletionTimestamp set, the grace period running
    kube_api.recreate(gone_name)  # another uid under the recorded name
    ids = [pending_id, running_id, mesh_id, ended_id, dying_id, gone_id, "default/none/0b6a5d7e-0000-4000"]
    listed = pending.get_job_statuses(ids)
    assert listed == {pending_id: "Pending", running_id: "Running"}
    assert pending.get_job_status(pending_id) == "Pending" and running.get_job_status(running_id) == "Running"
    # What the list left out, each job's own direct read decides.
    assert mesh.get_job_status(mesh_id) == "Succeeded" and ended.get_job_status(ended_id) == "Failed (exit code 3)"
    assert dying.get_job_status(dying_id) == "Terminating"


def test_the_batch_key_names_server_and_namespace_and_hides_the_token(kube_api: KubernetesApiServer,
                                                                      kube_client: KubernetesClient) -> None:
    here = KubernetesPodJob(kube_client, pod_manifest(), name="a")
    same = KubernetesPodJob(kube_client, pod_manifest(1.0, 0), name="b")
    elsewhere = KubernetesPodJob(kube_client, pod_manifest(), name="a", namespace="etl")
    other_token = KubernetesPodJob(KubernetesClient(kube_api.url, token="another-token-0123456789"), pod_manifest())
    assert here.batch_key == same.batch_key
    assert len({here.batch_key, elsewhere.batch_key, other_token.batch_key}) == 3
    assert kube_api.url in here.batch_key and TOKEN not in here.batch_key
    assert "another-token" not in other_token.batch_key
