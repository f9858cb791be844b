"""``SparkKubernetesJob``: Spark cluster mode on Kubernetes as a ResumableJob with every capability.

Submission runs the real spark-submit (``--master k8s://...``, ``--deploy-mode cluster``,
``spark.kubernetes.submission.waitAppCompletion=false``). The reference decides the
driver pod's name (``spark.kubernetes.driver.pod.name``: ``<prefix>-<slug>``) and travels
as a label (``resumable-ref=<slug>``, to select on) and an annotation (the exact
reference, to check). So:

- a second submission of the same reference hits the pod name the first one took, and the
  API server answers 409 AlreadyExists: the strongest dedupe there is. That pod, once its
  annotation shows it is ours, is the job;
- after a crash between submit and persist the pod is found by its label.

The job id is ``<namespace>/<pod name>/<metadata.uid>``. A pod recreated under the same
name has another uid, and is never taken for the recorded one (apache/airflow#71743): its
status is JobNotFound, and a cancel's delete carries a uid precondition. Before an id is
recorded, a recreation is told apart where anything can tell it: each launch writes its
window on the pod (annotation ``resumable-launch``: the epoch seconds it started and by which
spark-submit was killed), and a pod created later than that (``metadata.creationTimestamp``,
set by the API server, never copied) cannot be the one the launch made; nor can a pod whose
uid differs from the one spark-submit printed, when it printed one. Neither is adopted, by
the lookup or after a 409 (docs/spark-cluster-managers.md says what remains). Pod phases:
Pending, Running are active; Succeeded succeeded; Failed failed (``Failed (exit code 3)``
with the driver container's code); Unknown (the node is out of touch) is a TransientError.
A pod garbage-collected after its success answers 404: the core returns the recorded
result without asking, and a pod this job deleted itself reads as ``Deleted``.
"""

from __future__ import annotations

import calendar
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from resumable_core import InvalidArgument, JobNotFound, JsonValue, ProtocolError, SubmissionRejected, TransientError
from resumable_core.progress import Progress
from resumable_core.redaction import redact

# The pod job's rules: a job id is namespace/pod/uid, a status starts with the pod's phase.
from ..kubernetes import KubernetesClient, pod_phase, pod_reference_slug
from ..kubernetes import parse_pod_job_id as parse_job_id
from ._cluster_submission import SparkClusterSubmission
from ._launcher import LaunchResult, SparkSubmitLauncher, ambiguous_failure, usage_rejection
from ._progress import kubernetes_progress

log = logging.getLogger("resumable_adapters.spark")

REFERENCE_LABEL = "resumable-ref"
REFERENCE_ANNOTATION = "resumable-reference"
LAUNCH_ANNOTATION = "resumable-launch"  # "<start>/<end>": epoch seconds of the launch that made the pod
# How far the API server's clock may run ahead of this host's and a pod still count as made
# within its launch: a recreation sooner than this after the launch ended cannot be told apart.
CLOCK_SKEW = 30.0
_POD_UID = re.compile(r"pod uid: ([0-9a-fA-F-]{8,64})")  # spark-submit's pod status lines, when it watches
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z")
DRIVER_CONTAINER = "spark-kubernetes-driver"
POD_PHASES_ACTIVE = frozenset({"Pending", "Running"})
POD_PHASES_SUCCEEDED = frozenset({"Succeeded"})
POD_PHASES_FAILED = frozenset({"Failed", "Deleted", "Terminating"})
# fabric8's words for a refused pod creation: "Failure executing: POST at: <url>/pods. ... code=409 ... AlreadyExists"
_POD_POST_FAILURE = re.compile(r"Failure executing: POST at: \S+/pods\.(?P<rest>.*?code=(?P<code>\d{3}).*)$",
                               re.MULTILINE)
KubernetesDriverResult = dict[str, JsonValue]


class SparkKubernetesJob:
    """One ``SparkClusterSubmission`` on one Kubernetes cluster.

    *image*: ``spark.kubernetes.container.image`` (or put it in the submission's conf).
    *pod_prefix*: the driver pod name's start (default: the app name, made DNS-safe).
    *launcher*: how spark-submit runs (default: pyspark's, 90 s timeout). The result is
    JSON: ``namespace``, ``pod``, ``uid``, ``phase``, ``exit_code``, ``spark_app_id``,
    ``node``, ``started_at``, ``finished_at``.
    """

    def __init__(self, client: KubernetesClient, submission: SparkClusterSubmission, *, image: str | None = None,
                 pod_prefix: str | None = None, launcher: SparkSubmitLauncher | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # epoch seconds: a launch's window is compared with the API server's creation times
        self.client = client
        self.submission = submission
        self.image = image
        if image is None and "spark.kubernetes.container.image" not in submission.conf:
            raise InvalidArgument("SparkKubernetesJob needs image= or spark.kubernetes.container.image in conf")
        self.pod_prefix = _dns_prefix(pod_prefix or submission.app_name)
        self.launcher = launcher or SparkSubmitLauncher()
        self._last: dict[str, dict[str, Any]] = {}
        self._deleted: set[str] = set()

    def __repr__(self) -> str:
        return redact(f"SparkKubernetesJob({self.submission!r}, {self.client!r})")

    def pod_name(self, reference: str) -> str:
        return f"{self.pod_prefix}-{pod_reference_slug(reference)}"

    # -- ResumableJob -------------------------------------------------------------------------

    def submit_job(self, reference: str) -> str:
        name, slug = self.pod_name(reference), pod_reference_slug(reference)
        auth_conf, files = self.client.submit_conf()
        conf = {**self.submission.conf, **auth_conf}
        if self.image is not None:
            conf["spark.kubernetes.container.image"] = self.image
        started = self.clock()
        window = f"{math.floor(started)}/{math.ceil(started + self.launcher.timeout)}"
        conf.update({
            "spark.kubernetes.submission.waitAppCompletion": "false",
            "spark.kubernetes.driver.pod.name": name,
            f"spark.kubernetes.driver.label.{REFERENCE_LABEL}": slug,
            f"spark.kubernetes.driver.annotation.{REFERENCE_ANNOTATION}": reference,
            # The launch is killed at the launcher's timeout: no pod it made is younger than that.
            f"spark.kubernetes.driver.annotation.{LAUNCH_ANNOTATION}": window,
        })
        args = ["--master", self.client.master, "--deploy-mode", "cluster", *self.submission.options(),
                *self.submission.app_tail()]
        what = f"Kubernetes submission of pod {name!r}"
        # KUBECONFIG pointed nowhere: fabric8 would otherwise mix in the user's own kubeconfig credentials.
        try:
            result = self.launcher.launch(args, conf, secrets=(*self.submission.secret_values(),
                                                               *self.client.secrets()),
                                          env={"KUBECONFIG": "/nonexistent/resumable-core"}, files=files, what=what)
        except TransientError as exc:  # killed at its timeout, or by a signal: it may have made the pod
            made = self._made_by_this_launch(name, reference, window)
            if made is None:
                raise
            log.warning("%s", redact(f"{what}: {exc.message}; the pod it made is there, and is the job"))
            return made
        if result.returncode == 0:
            return self._ours_after_submit(name, reference, what, result)
        return self._after_failed_launch(result, name, reference, what)

    def get_job_status(self, job_id: str) -> str:
        namespace, name, uid = parse_job_id(job_id)
        pod = self.client.get_pod(namespace, name, job_id=job_id)
        if pod is None:
            if job_id in self._deleted:
                return "Deleted"
            raise JobNotFound(f"Kubernetes has no driver pod {namespace}/{name} (deleted, or garbage-collected "
                              "after it ended)", job_id=job_id)
        found_uid = _meta(pod).get("uid")
        if found_uid != uid:
            raise JobNotFound(f"driver pod {namespace}/{name} was recreated (uid {found_uid}, recorded {uid}): "
                              "the recorded pod is gone, and the new one is not adopted", job_id=job_id)
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        if phase == "Unknown":
            raise TransientError(f"driver pod {namespace}/{name} is Unknown (its node is out of touch); asking again",
                                 job_id=job_id, status=phase)
        if phase not in POD_PHASES_ACTIVE | POD_PHASES_SUCCEEDED | POD_PHASES_FAILED:
            raise ProtocolError(f"driver pod {namespace}/{name} is in an unknown phase", job_id=job_id, status=phase)
        self._last[job_id] = pod
        if phase in POD_PHASES_ACTIVE and _meta(pod).get("deletionTimestamp"):
            # Deleted (by a cancel, a user, a controller): the kubelet is stopping it and it keeps
            # its phase for the grace period (30 s by default). Reported Running, a retry would
            # reattach to a dying driver and fail when it ends; it is ending, and not in success.
            return "Terminating"
        code = _exit_code(pod)
        return f"{phase} (exit code {code})" if phase == "Failed" and code is not None else phase

    # -- batched status (resumable_core.aio.SupportsBatchStatus) ---------------------------------

    @property
    def batch_key(self) -> str:
        """The API server, the client's namespace and its credentials (certificate and token): what
        one list of driver pods covers."""
        return self.client.listing_key("spark-kubernetes-drivers", self.client.namespace)

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The running driver pods among *job_ids*, from one list of the namespace's driver pods
        (``labelSelector=spark-role=driver``, the label Spark puts on every driver pod).

        Only a pod with the recorded uid, in an active phase and not being deleted is
        answered; every other case (ended, recreated, Unknown, terminating, in another
        namespace, not listed) is asked directly, where each has its verdict.
        """
        wanted = set(job_ids)
        statuses: dict[str, str] = {}
        for pod in self.client.list_pods(self.client.namespace, {"spark-role": "driver"}):
            meta = _meta(pod)
            job_id = f"{meta.get('namespace')}/{meta.get('name')}/{meta.get('uid')}"
            phase = (pod.get("status") or {}).get("phase") or "Pending"
            if job_id in wanted and phase in POD_PHASES_ACTIVE and not meta.get("deletionTimestamp"):
                self._last[job_id] = pod
                statuses[job_id] = phase
        return statuses

    def is_job_active(self, status: str) -> bool:
        return pod_phase(status) in POD_PHASES_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return pod_phase(status) in POD_PHASES_SUCCEEDED

    def get_job_result(self, job_id: str, status: str) -> KubernetesDriverResult:
        namespace, name, uid = parse_job_id(job_id)
        pod = self._last.get(job_id)
        if pod is None:
            try:
                pod = self.client.get_pod(namespace, name, job_id=job_id)
            except (TransientError, ProtocolError):
                pod = None  # the details are a bonus: their absence must not hide the outcome
            if pod is not None and _meta(pod).get("uid") != uid:
                pod = None
        pod = pod or {}
        terminated = _driver_state(pod).get("terminated") or {}
        running = _driver_state(pod).get("running") or {}
        return {
            "namespace": namespace,
            "pod": name,
            "uid": uid,
            "phase": pod_phase(status),
            "exit_code": _exit_code(pod),
            "spark_app_id": (_meta(pod).get("labels") or {}).get("spark-app-selector"),
            "node": (pod.get("spec") or {}).get("nodeName"),
            "started_at": running.get("startedAt") or terminated.get("startedAt")
            or (pod.get("status") or {}).get("startTime"),
            "finished_at": terminated.get("finishedAt"),
        }

    # -- capabilities -------------------------------------------------------------------------

    def find_job_by_reference(self, reference: str) -> str | None:
        """The driver pod labelled with *reference* (annotation checked) that its launch made, else None.

        A pod that carries the reference but was created after its launch ended is a recreation
        under our name (a controller's, a person's): not ours, and not adopted (logged).
        """
        pods = self.client.list_pods(self.client.namespace, {REFERENCE_LABEL: pod_reference_slug(reference)})
        carrying = [p for p in pods if (_meta(p).get("annotations") or {}).get(REFERENCE_ANNOTATION) == reference]
        ours = []
        for pod in carrying:
            why = _recreated(pod)
            if why is None:
                ours.append(pod)
            else:
                log.warning("%s", redact(f"not adopting driver pod {self._job_id(pod)} for reference {reference!r}: "
                                         f"{why}"))
        if not ours:
            return None
        # Two pods with one reference need two names (a changed prefix): prefer the live one, then the newest.
        ours.sort(key=lambda p: ((p.get("status") or {}).get("phase") in POD_PHASES_ACTIVE,
                                 str(_meta(p).get("creationTimestamp") or "")), reverse=True)
        return self._job_id(ours[0])

    def cancel_job(self, job_id: str) -> None:
        namespace, name, uid = parse_job_id(job_id)
        outcome = self.client.delete_pod(namespace, name, uid, job_id=job_id)
        if outcome == "replaced":
            log.warning("%s", redact(f"not deleting driver pod {namespace}/{name}: it is a recreated pod, not "
                                     f"the recorded uid {uid}"))
        self._deleted.add(job_id)

    def job_fingerprint(self) -> str:
        # Where it runs within the cluster, not the API server's URL: reaching the same cluster by
        # another address is no new specification.
        return self.submission.fingerprint("kubernetes", self.client.namespace, self.image or "", self.pod_prefix)

    def job_progress(self, job_id: str) -> Progress | None:
        """Tasks and stages done, from the driver's UI through the API server's pod proxy (docs/progress.md).

        Only while the pod runs (its UI is up), from the pod its last status check read."""
        pod = self._last.get(job_id)
        if pod is None or (pod.get("status") or {}).get("phase") != "Running":
            return None
        namespace, _, _ = parse_job_id(job_id)
        return kubernetes_progress(self.client, namespace, pod, job_id)

    # -- submission outcomes ------------------------------------------------------------------

    def _job_id(self, pod: Mapping[str, Any]) -> str:
        meta = _meta(pod)
        return f"{meta.get('namespace') or self.client.namespace}/{meta.get('name')}/{meta.get('uid')}"

    def _made_by_this_launch(self, name: str, reference: str, window: str) -> str | None:
        """The id of the pod under *name* when this very launch made it (its reference, this launch's window,
        created within it), recorded now rather than looked up later, when a recreation may have taken the name."""
        try:
            pod = self.client.get_pod(self.client.namespace, name)
        except (TransientError, ProtocolError):
            return None  # the caller's error stands: the next attempt looks the reference up
        if pod is None:
            return None
        annotations = _meta(pod).get("annotations") or {}
        if annotations.get(REFERENCE_ANNOTATION) != reference or annotations.get(LAUNCH_ANNOTATION) != window:
            return None
        return None if _recreated(pod) is not None else self._job_id(pod)

    def _ours_after_submit(self, name: str, reference: str, what: str, result: LaunchResult) -> str:
        pod = self.client.get_pod(self.client.namespace, name)
        if pod is None:
            raise TransientError(f"{what}: spark-submit succeeded but the pod is not there (deleted already?); "
                                 "looking the reference up")
        annotations = _meta(pod).get("annotations") or {}
        if annotations.get(REFERENCE_ANNOTATION) != reference:
            raise ProtocolError(f"{what}: the pod spark-submit reported does not carry this submission's reference")
        printed = _POD_UID.findall(result.output)
        why = _recreated(pod) or (
            f"spark-submit reported uid {printed[-1]}, the pod has {_meta(pod).get('uid')}"
            if printed and printed[-1] != _meta(pod).get("uid") else None)
        if why is not None:
            # The pod this launch made was replaced under its name, so nothing of it remains.
            raise SubmissionRejected(f"{what}: the pod under that name is a recreation ({why}); not adopted")
        return self._job_id(pod)

    def _after_failed_launch(self, result: LaunchResult, name: str, reference: str, what: str) -> str:
        refused = _POD_POST_FAILURE.search(result.output)
        if refused is not None and refused.group("code") == "409" and "AlreadyExists" in refused.group("rest"):
            pod = self.client.get_pod(self.client.namespace, name)
            if pod is None:
                raise TransientError(f"{what}: the name was taken (409) but the pod is gone now; looking again")
            if (_meta(pod).get("annotations") or {}).get(REFERENCE_ANNOTATION) != reference:
                raise SubmissionRejected(f"{what}: a pod of that name exists and is not this submission's")
            why = _recreated(pod)
            if why is not None:  # it carries the reference, copied from the pod a launch of it made
                raise SubmissionRejected(f"{what}: a pod of that name carries this reference but is a recreation "
                                         f"({why}); not adopted, and nothing was submitted (409)")
            log.info("%s", redact(f"{what}: already submitted (409 AlreadyExists); attaching to that pod"))
            return self._job_id(pod)
        if refused is not None and refused.group("code").startswith("4"):
            # The pod POST was refused (invalid, forbidden, quota): no driver pod exists.
            raise SubmissionRejected(f"{what}: the API server refused the driver pod (HTTP {refused.group('code')}): "
                                     f"{result.summary()}")
        rejection = usage_rejection(what, result)
        if rejection is not None:
            raise rejection
        raise ambiguous_failure(what, result)


def _recreated(pod: Mapping[str, Any]) -> str | None:
    """Why *pod* cannot be the one the launch named on it made (created after that launch ended), else None.

    A pod without the launch annotation (made before it existed) or without a readable
    creation time cannot be judged, and counts as made by its launch.
    """
    meta = _meta(pod)
    window = str((meta.get("annotations") or {}).get(LAUNCH_ANNOTATION) or "")
    start, _, end = window.partition("/")
    created = _epoch(str(meta.get("creationTimestamp") or ""))
    if not (start.isdigit() and end.isdigit()) or created is None:
        return None
    if created > int(end) + CLOCK_SKEW:
        return (f"created at {meta.get('creationTimestamp')}, {created - int(end):.0f}s after the launch that "
                "made the pod of this name had ended")
    return None


def _epoch(text: str) -> float | None:
    """RFC 3339 UTC (``2026-12-06T23:50:01Z``, as the API server writes it) as epoch seconds."""
    match = _TIMESTAMP.fullmatch(text)
    return None if match is None else float(calendar.timegm(tuple(int(g) for g in match.groups()) + (0, 0, 0)))


def _meta(pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _driver_state(pod: Mapping[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if isinstance(status, dict) and status.get("name") == DRIVER_CONTAINER:
            state = status.get("state")
            return state if isinstance(state, dict) else {}
    return {}


def _exit_code(pod: Mapping[str, Any]) -> int | None:
    code = (_driver_state(pod).get("terminated") or {}).get("exitCode")
    return code if isinstance(code, int) else None


def _dns_prefix(text: str) -> str:
    """A pod-name prefix: lowercase, [a-z0-9-], short enough for ``<prefix>-<slug>`` in 63 characters."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    cleaned = cleaned[:22].strip("-")  # 22 + 1 + a 40-character slug = 63, a DNS label
    return cleaned or "spark"


__all__ = [
    "LAUNCH_ANNOTATION",
    "POD_PHASES_ACTIVE",
    "POD_PHASES_FAILED",
    "POD_PHASES_SUCCEEDED",
    "REFERENCE_ANNOTATION",
    "REFERENCE_LABEL",
    "KubernetesDriverResult",
    "SparkKubernetesJob",
    "parse_job_id",
    "pod_phase",
]
