"""A driver pod recreated under our name before its id was recorded (issue 17, item 7).

Against the loopback API server; spark-submit is the recorded launcher. The pod a launch
made is replaced (same name, labels and annotations, a new uid), as a controller or a
person does; the retry's lookup and its resubmission's 409 must not adopt the newcomer
where anything tells it apart, and what cannot be told apart is pinned here too.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest

from resumable_adapters.spark._kubernetes import LAUNCH_ANNOTATION, parse_job_id
from resumable_adapters.spark._launcher import LaunchResult, SparkSubmitLauncher
from resumable_core import (
    JobNotFound,
    MemoryStateStore,
    SubmissionRejected,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core.record import JobRecord, Outcome, Phase, Submission
from tests.services.kubernetes_api import KubernetesApiServer
from tests.spark_kubernetes.conftest import FAST_POLL, JobFactory


def crashed_intent(store: MemoryStateStore, key: str, reference: str) -> None:
    """What a run leaves when it dies after spark-submit made the pod and before the id was written."""
    now = time.time()
    record = JobRecord(key=key, phase=Phase.INTENT, reference=reference, revision=1, updated_at=now,
                       owner="dead-run", lease_until=now - 1.0,  # its owner is gone: no lease to wait out
                       history=(Submission(reference=reference, job_id=None, outcome=Outcome.PENDING, intent_at=now),))
    store.set(key, record.to_json())


def test_a_pod_recreated_after_its_launch_is_adopted_neither_by_the_lookup_nor_after_a_409(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = make_kube_job(60.0)
    reference = uuid.uuid4().hex
    job_id = job.submit_job(reference)  # the launch made the pod; say the run died before recording it
    namespace, name, uid = parse_job_id(job_id)
    assert "/" in kube_api.pod(name, namespace)["metadata"]["annotations"][LAUNCH_ANNOTATION]  # type: ignore[index]
    assert job.find_job_by_reference(reference) == job_id  # its own pod is found

    # An hour later by the API server's clock, the pod is replaced under its name (labels and
    # annotations copied, a new uid): long after the launch that made the first one ended.
    server_now = time.time() + 3600
    monkeypatch.setattr(kube_api, "clock", lambda: server_now)
    new_uid = kube_api.recreate(name, namespace)
    with caplog.at_level(logging.WARNING, logger="resumable_adapters.spark"):
        assert job.find_job_by_reference(reference) is None
    assert f"not adopting driver pod {namespace}/{name}/{new_uid}" in caplog.text

    # The retry of the crashed run: nothing found, so it submits the same reference; the name is
    # taken (409) by the recreation, which is refused, not attached to.
    store = MemoryStateStore()
    crashed_intent(store, "etl", reference)
    with pytest.raises(SubmissionRejected, match="recreation"):
        run_resumable(make_kube_job(60.0), store, key="etl", poll=FAST_POLL)
    record = load_record(store, "etl")
    assert record is not None and record.phase is Phase.FAILED and record.job_id is None
    pod = kube_api.pod(name, namespace)
    assert pod is not None and pod["metadata"]["uid"] == new_uid and uid != new_uid  # left alone


def test_a_recreation_within_the_launch_window_cannot_be_told_apart(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer
) -> None:
    # The documented limit: replaced while the launch could still have been making it (or within
    # the clock skew allowed), the newcomer carries everything ours carried, and is adopted.
    job = make_kube_job(60.0)
    reference = uuid.uuid4().hex
    namespace, name, _ = parse_job_id(job.submit_job(reference))
    new_uid = kube_api.recreate(name, namespace)
    assert job.find_job_by_reference(reference) == f"{namespace}/{name}/{new_uid}"


def test_a_pod_whose_uid_is_not_the_one_spark_submit_printed_is_not_adopted(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer
) -> None:
    # spark-submit prints the pod's uid when it watches the pod (its status lines); when it did,
    # the pod found under the name after it exits must be that one.
    job = make_kube_job(60.0)
    reference = uuid.uuid4().hex
    namespace, name, uid = parse_job_id(job.submit_job(reference))
    printed = LaunchResult(0, "", f"\t pod name: {name}\n\t namespace: {namespace}\n\t pod uid: {uid}\n")
    what = f"Kubernetes submission of pod {name!r}"
    assert job._ours_after_submit(name, reference, what, printed) == f"{namespace}/{name}/{uid}"
    kube_api.recreate(name, namespace)
    with pytest.raises(SubmissionRejected, match=f"spark-submit reported uid {uid}"):
        job._ours_after_submit(name, reference, what, printed)


class _TimesOutAfterCreating(SparkSubmitLauncher):
    """spark-submit that made the driver pod, then hung until the launcher killed it at its timeout."""

    def launch(self, *args: Any, **kwargs: Any) -> LaunchResult:
        super().launch(*args, **kwargs)
        raise TransientError("Kubernetes submission: spark-submit did not finish within 20s and was killed; "
                             "it may have submitted")


def test_a_launch_killed_after_making_its_pod_records_that_pod_at_once(
    make_kube_job: JobFactory, kube_api: KubernetesApiServer, fake_kube_launcher: SparkSubmitLauncher
) -> None:
    # The sequence, closed at its start: the pod this launch made (its reference and this
    # launch's window) is the job now, so a later recreation has another uid and is never adopted.
    job = make_kube_job(60.0)
    job.launcher = _TimesOutAfterCreating(fake_kube_launcher.spark_submit, timeout=fake_kube_launcher.timeout)
    reference = uuid.uuid4().hex
    job_id = job.submit_job(reference)
    namespace, name, uid = parse_job_id(job_id)
    assert kube_api.pod(name, namespace)["metadata"]["uid"] == uid  # type: ignore[index]
    kube_api.recreate(name, namespace)
    with pytest.raises(JobNotFound, match="recreated"):
        job.get_job_status(job_id)
    # A launch killed before it made anything still leaves the intent, for the lookup.
    kube_api.fail_next = [500]
    with pytest.raises(TransientError, match="was killed"):
        job.submit_job(uuid.uuid4().hex)
