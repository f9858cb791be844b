"""``KubernetesPodJob``: any pod as a ResumableJob, fenced by its uid on every call.

The reference decides the pod's name (``<prefix>-<slug>``) and travels as a label
(``resumable-ref=<slug>``, to select on) and an annotation (the exact reference, to check).
A second creation under the same reference hits the name the first one took (409
AlreadyExists): that pod, once its annotation shows it is ours, is the job; a pod of
another reference under our name is refused, never adopted (apache/airflow#71743).

The job id is ``<namespace>/<pod name>/<metadata.uid>``. Every read compares the uid: a
pod recreated under the name is another pod (JobNotFound for the recorded one); every
delete carries ``preconditions.uid`` (apache/airflow#71748), so nothing deletes a pod
that is not the recorded one.

Statuses: ``Pending``, ``Running`` active; ``Pending (ImagePullBackOff)`` or ``Pending
(Unschedulable)`` active within ``PodStartPolicy``'s grace, then the pod is deleted (with
its uid) and the status is ``Failed (ImagePullBackOff)``: a pod stuck in Pending is not
an endless wait, and one that could still start later must not run beside the retry's
pod. ``Succeeded``; ``Failed (exit code 3)`` or ``Failed (Evicted)``; the main container's end decides while a
sidecar keeps the pod Running; a pod with a
``deletionTimestamp`` is ``Terminating`` (being stopped, not running); one this job deleted
and the server no longer holds is ``Deleted``. ``Unknown`` (its node out of touch) is a
TransientError. A pod garbage-collected after its success is answered by the core from
the recorded result, without asking the server.
"""

from __future__ import annotations

import calendar
import copy
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resumable_core import InvalidArgument, JobNotFound, JsonValue, ProtocolError, SubmissionRejected, TransientError
from resumable_core.redaction import redact

from .._slug import reference_slug
from ._client import KubernetesClient, check_name

log = logging.getLogger("resumable_adapters.kubernetes")

REFERENCE_LABEL = "resumable-ref"
REFERENCE_ANNOTATION = "resumable-reference"
POD_ACTIVE = frozenset({"Pending", "Running"})
POD_SUCCEEDED = frozenset({"Succeeded"})
POD_FAILED = frozenset({"Failed", "Deleted", "Terminating"})
# The kubelet's waiting reasons for a container whose image cannot be had (kubelet images/types.go).
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                                "RegistryUnavailable"})
UNSCHEDULABLE = "Unschedulable"
_UID_RE = re.compile(r"[0-9a-fA-F-]{8,64}")
_PHASE_WORD = re.compile(r"[A-Za-z]+")
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation", "managedFields",
                  "selfLink", "deletionGracePeriodSeconds")
PodResult = dict[str, JsonValue]


def pod_reference_slug(reference: str) -> str:
    """*reference* itself when it is a label value and DNS label (the core's 32 hex digits are), else a hash.

    Hashed rather than cleaned up, so two references never share a slug by losing case or
    punctuation. The rule every integration shares (Spark on Kubernetes and on YARN too).
    """
    return reference_slug(reference)


def parse_pod_job_id(job_id: str) -> tuple[str, str, str]:
    """``namespace/pod/uid`` -> its three parts, or InvalidArgument (nothing malformed reaches a URL)."""
    parts = job_id.split("/") if isinstance(job_id, str) else []
    if len(parts) != 3 or not _UID_RE.fullmatch(parts[2]):
        raise InvalidArgument(f"malformed Kubernetes pod job id {job_id!r} (namespace/pod/uid)",
                              job_id=str(job_id)[:120])
    check_name(parts[0], "namespace")
    check_name(parts[1], "pod name")
    return parts[0], parts[1], parts[2]


def pod_phase(status: str) -> str:
    """The phase a status names: ``Failed (exit code 3)`` -> ``Failed``."""
    match = _PHASE_WORD.match(status)
    return match.group(0) if match else status


@dataclass(frozen=True, slots=True)
class PodStartPolicy:
    """How long a pod may stay Pending for a reason that may never clear before it is a failure.

    *pull_grace*: seconds with an image pull error (``ErrImagePull``, ``ImagePullBackOff``,
    ...) counted from the pod's creation (a registry may be back, a secret created).
    *schedule_grace*: seconds unschedulable, from the condition's ``lastTransitionTime``
    (nodes may be added). A healthy Pending (an image still pulling) has no limit here.
    """

    pull_grace: float = 120.0
    schedule_grace: float = 300.0

    def __post_init__(self) -> None:
        for name in ("pull_grace", "schedule_grace"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise InvalidArgument(f"PodStartPolicy.{name} must be >= 0 seconds, got {value!r}")


def command_pod(image: str, command: Sequence[str] = (), args: Sequence[str] = (), *,
                env: Mapping[str, str] | None = None, container: str = "base",
                labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A one-container pod manifest (``restartPolicy: Never``), as ``kubectl run`` makes one."""
    if not isinstance(image, str) or not image.strip():
        raise InvalidArgument("a pod needs a container image")
    spec: dict[str, Any] = {"name": container, "image": image}
    if command:
        spec["command"] = list(command)
    if args:
        spec["args"] = list(args)
    if env:
        spec["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": dict(labels or {})},
            "spec": {"restartPolicy": "Never", "containers": [spec]}}


class KubernetesPodJob:
    """One pod manifest on one Kubernetes cluster.

    *pod*: a Pod manifest (``metadata`` and ``spec``; ``metadata.name`` is the name's
    prefix unless *name* is given; server-set fields are dropped). *namespace*: default
    the manifest's, else the client's. *container*: the one whose exit code and log are
    the result (default the first). *log_lines*: the log's tail kept in the result (0:
    none). *start*: ``PodStartPolicy``. *clock*: for the grace periods (the server's
    timestamps are compared with it). The result is JSON: ``namespace``, ``pod``, ``uid``,
    ``phase``, ``exit_code``, ``reason``, ``node``, ``started_at``, ``finished_at``,
    ``log_tail``, ``termination_message``.
    """

    def __init__(self, client: KubernetesClient, pod: Mapping[str, Any], *, name: str | None = None,
                 namespace: str | None = None, container: str | None = None, log_lines: int = 20,
                 start: PodStartPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.manifest = _clean_manifest(pod)
        meta = self.manifest["metadata"]
        self.namespace = check_name(namespace or meta.pop("namespace", None) or client.namespace, "namespace")
        meta.pop("namespace", None)
        self.prefix = _dns_prefix(name or meta.pop("name", None) or "pod")
        meta.pop("name", None)
        meta.pop("generateName", None)
        containers = self.manifest["spec"]["containers"]
        names = [c.get("name") for c in containers]
        self.container = container or str(names[0])
        if self.container not in names:
            raise InvalidArgument(f"KubernetesPodJob: no container named {self.container!r} in the pod ({names})")
        if not isinstance(log_lines, int) or not 0 <= log_lines <= 10000:
            raise InvalidArgument(f"KubernetesPodJob log_lines must be 0..10000, got {log_lines!r}")
        self.log_lines = log_lines
        self.start = start or PodStartPolicy()
        self.clock = clock
        self._last: dict[str, dict[str, Any]] = {}
        self._deleted: set[str] = set()

    def __repr__(self) -> str:
        return f"KubernetesPodJob({self.namespace}/{self.prefix}-*, {self.client!r})"

    def pod_name(self, reference: str) -> str:
        return f"{self.prefix}-{pod_reference_slug(reference)}"

    def pod_for(self, reference: str) -> dict[str, Any]:
        """The manifest created for *reference*: the name, the label and the annotation added."""
        pod = copy.deepcopy(self.manifest)
        meta = pod["metadata"]
        meta["name"] = self.pod_name(reference)
        meta.setdefault("labels", {})[REFERENCE_LABEL] = pod_reference_slug(reference)
        meta.setdefault("annotations", {})[REFERENCE_ANNOTATION] = reference
        return pod

    # -- ResumableJob -------------------------------------------------------------------------

    def submit_job(self, reference: str) -> str:
        pod = self.pod_for(reference)
        name = pod["metadata"]["name"]
        created = self.client.create_pod(self.namespace, pod)
        if created is not None:
            if _meta(created).get("name") != name or not _meta(created).get("uid"):
                raise ProtocolError(f"Kubernetes answered the creation of pod {self.namespace}/{name} with "
                                    "another object or no uid")
            return self._job_id(created)
        # 409 AlreadyExists: a creation of this reference got there first (a lost answer, a
        # second process), or someone else's pod holds the name.
        taken = self.client.get_pod(self.namespace, name)
        if taken is None:
            raise TransientError(f"pod {self.namespace}/{name}: the name was taken (409) and the pod is gone "
                                 "now; looking again")
        if _annotations(taken).get(REFERENCE_ANNOTATION) != reference:
            raise SubmissionRejected(f"pod {self.namespace}/{name} exists and is not this submission's (no "
                                     "matching reference annotation): it is not adopted")
        log.info("%s", redact(f"pod {self.namespace}/{name} already created for this reference; attaching"))
        return self._job_id(taken)

    def get_job_status(self, job_id: str) -> str:
        namespace, name, uid = parse_pod_job_id(job_id)
        pod = self._read(namespace, name, uid, job_id)
        if pod is None:
            if job_id in self._deleted:
                return "Deleted"
            raise JobNotFound(f"Kubernetes has no pod {namespace}/{name} (deleted, or garbage-collected after it "
                              "ended)", job_id=job_id)
        status = pod.get("status") or {}
        phase = status.get("phase") or "Pending"
        if phase == "Unknown":
            raise TransientError(f"pod {namespace}/{name} is Unknown (its node is out of touch); asking again",
                                 job_id=job_id, status=phase)
        if phase not in POD_ACTIVE | POD_SUCCEEDED | POD_FAILED:
            raise ProtocolError(f"pod {namespace}/{name} is in an unknown phase", job_id=job_id, status=phase)
        self._last[job_id] = pod
        if phase in POD_ACTIVE and _meta(pod).get("deletionTimestamp"):
            # Deleted (a cancel, a user, a controller): the kubelet stops it and it keeps its phase
            # for the grace period. Reported Running, a retry would reattach to a dying pod.
            return "Terminating"
        if phase == "Pending":
            return self._pending(pod, job_id)
        if phase == "Running" and self._main_done(pod):
            # The main container ended while a sidecar (istio, a log shipper) keeps the pod
            # Running: its outcome is the job's, as KubernetesPodOperator judges it.
            phase = "Succeeded" if _exit_code(pod, self.container) == 0 else "Failed"
        if phase == "Failed":
            code, reason = _exit_code(pod, self.container), _reason(pod, self.container)
            if code is not None:
                return f"Failed (exit code {code})"
            return f"Failed ({reason})" if reason else "Failed"
        return str(phase)

    # -- batched status (resumable_core.aio.SupportsBatchStatus) ---------------------------------

    @property
    def batch_key(self) -> str:
        """The API server, the namespace and the credentials: what one pod list covers."""
        return self.client.listing_key("kubernetes-pods", self.namespace)

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The pods among *job_ids* that are plainly Pending or Running, from one list of the
        namespace's pods that carry the reference label (every pod of a ``KubernetesPodJob`` has it).

        Only what no job's own settings enter is answered here: the listing is made through any
        one job, and the main container, the start grace and the clock are each job's. So a pod
        being deleted, ended, stuck pending, Unknown, recreated (another uid), with a container
        already ended (a sidecar case), or not listed is left out, and the core asks its own job
        directly, where each case has its verdict (and the read its result comes from).
        """
        wanted = set(job_ids)
        statuses: dict[str, str] = {}
        for pod in self.client.list_pods(self.namespace, {REFERENCE_LABEL: None}):
            job_id = self._job_id(pod)
            if job_id in wanted:
                status = _plain_active_status(pod)
                if status is not None:
                    statuses[job_id] = status
        return statuses

    def is_job_active(self, status: str) -> bool:
        return pod_phase(status) in POD_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return pod_phase(status) in POD_SUCCEEDED

    def get_job_result(self, job_id: str, status: str) -> PodResult:
        namespace, name, uid = parse_pod_job_id(job_id)
        pod = self._last.get(job_id)
        log_tail: str | None = None
        try:
            if pod is None:
                pod = self._read(namespace, name, uid, job_id)
            if pod is not None and self.log_lines:
                log_tail = self.read_log(job_id, lines=self.log_lines, limit_bytes=16384)
        except (TransientError, ProtocolError, JobNotFound):
            pass  # the details are a bonus: their absence must not hide the outcome
        pod = pod or {}
        state = _container_state(pod, self.container)
        terminated = state.get("terminated") or {}
        running = state.get("running") or {}
        return {
            "namespace": namespace,
            "pod": name,
            "uid": uid,
            "phase": pod_phase(status),
            "exit_code": _exit_code(pod, self.container),
            "reason": _reason(pod, self.container) or _status_reason(status),
            "node": (pod.get("spec") or {}).get("nodeName"),
            "started_at": running.get("startedAt") or terminated.get("startedAt")
            or (pod.get("status") or {}).get("startTime"),
            "finished_at": terminated.get("finishedAt"),
            "log_tail": log_tail,
            # What the container wrote to its terminationMessagePath (at most 4096 bytes, the
            # kubelet's limit): the container's own output, kept as it is.
            "termination_message": terminated.get("message") if isinstance(terminated.get("message"), str) else None,
        }

    # -- capabilities -------------------------------------------------------------------------

    def find_job_by_reference(self, reference: str) -> str | None:
        """The pod labelled with *reference* whose annotation names it exactly, else None."""
        pods = self.client.list_pods(self.namespace, {REFERENCE_LABEL: pod_reference_slug(reference)})
        ours = [p for p in pods if _annotations(p).get(REFERENCE_ANNOTATION) == reference]
        if not ours:
            return None
        # Two pods of one reference need two names (a changed prefix): prefer a live one, then the newest.
        ours.sort(key=lambda p: ((p.get("status") or {}).get("phase") in POD_ACTIVE
                                 and not _meta(p).get("deletionTimestamp"),
                                 str(_meta(p).get("creationTimestamp") or "")), reverse=True)
        return self._job_id(ours[0])

    def cancel_job(self, job_id: str) -> None:
        namespace, name, uid = parse_pod_job_id(job_id)
        if self.client.delete_pod(namespace, name, uid, job_id=job_id) == "replaced":
            log.warning("%s", redact(f"not deleting pod {namespace}/{name}: it is a recreated pod, not the "
                                     f"recorded uid {uid}"))
        self._deleted.add(job_id)

    def job_fingerprint(self) -> str:
        # Where it runs within the cluster and what runs, not the API server's URL.
        text = json.dumps([self.namespace, self.prefix, self.container, self.manifest], sort_keys=True,
                          separators=(",", ":"))
        return "pod:" + hashlib.sha256(text.encode()).hexdigest()[:32]

    # -- reads, fenced by uid -----------------------------------------------------------------

    def _read(self, namespace: str, name: str, uid: str, job_id: str) -> dict[str, Any] | None:
        """The pod with *uid*, None when the name is free; JobNotFound when another pod holds it."""
        pod = self.client.get_pod(namespace, name, job_id=job_id)
        if pod is None:
            return None
        found = _meta(pod).get("uid")
        if found != uid:
            raise JobNotFound(f"pod {namespace}/{name} was recreated (uid {found}, recorded {uid}): the recorded "
                              "pod is gone, and the new one is not adopted", job_id=job_id)
        return pod

    def read_log(self, job_id: str, *, lines: int = 20, limit_bytes: int = 256 * 1024) -> str | None:
        """The main container's last *lines* of log, secrets masked; None when the recorded pod is not there."""
        namespace, name, uid = parse_pod_job_id(job_id)
        text = self.client.read_pod_log(namespace, name, container=self.container, tail_lines=lines,
                                        limit_bytes=limit_bytes, job_id=job_id)
        # The log is read by name: the pod must still be the recorded one after the read.
        if text is None or self._read(namespace, name, uid, job_id) is None:
            return None
        return redact(text, self.client.secrets())

    def _main_done(self, pod: dict[str, Any]) -> bool:
        """The main container terminated for good (it will not be restarted)."""
        code = _exit_code(pod, self.container)
        return code is not None and (code == 0 or (pod.get("spec") or {}).get("restartPolicy") == "Never")

    def _pending(self, pod: dict[str, Any], job_id: str) -> str:
        stuck = _stuck(pod, self.container)
        if stuck is None:
            return "Pending"
        reason, since = stuck
        grace = self.start.schedule_grace if reason == UNSCHEDULABLE else self.start.pull_grace
        if self.clock() - since < grace:
            return f"Pending ({reason})"
        namespace, name, uid = parse_pod_job_id(job_id)
        # Deleted before it is called failed: an unschedulable pod may be scheduled later, and must
        # not run beside the pod a retry creates.
        outcome = self.client.delete_pod(namespace, name, uid, job_id=job_id)
        self._deleted.add(job_id)
        log.warning("%s", redact(f"pod {namespace}/{name} pending with {reason} for over {grace:g}s: deleted "
                                 f"({outcome}) and counted failed"))
        return f"Failed ({reason})"

    def _job_id(self, pod: Mapping[str, Any]) -> str:
        meta = _meta(pod)
        return f"{meta.get('namespace') or self.namespace}/{meta.get('name')}/{meta.get('uid')}"


def _clean_manifest(pod: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(pod, Mapping):
        raise InvalidArgument(f"KubernetesPodJob needs a pod manifest (a mapping), got {type(pod).__name__}")
    try:
        manifest: dict[str, Any] = json.loads(json.dumps(dict(pod)))
    except (TypeError, ValueError):
        raise InvalidArgument("KubernetesPodJob: the pod manifest is not JSON") from None
    if manifest.get("kind", "Pod") != "Pod":
        raise InvalidArgument(f"KubernetesPodJob needs a Pod manifest, got kind {manifest.get('kind')!r}")
    manifest.update(apiVersion="v1", kind="Pod")
    manifest.pop("status", None)
    meta = manifest.get("metadata") or {}
    spec = manifest.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        raise InvalidArgument("KubernetesPodJob: the pod manifest needs metadata and spec mappings")
    for field in _SERVER_FIELDS:
        meta.pop(field, None)
    manifest["metadata"] = meta
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) for c in containers):
        raise InvalidArgument("KubernetesPodJob: spec.containers must list containers, each with a name")
    policy = spec.setdefault("restartPolicy", "Never")
    if policy == "Always":
        # Its containers restart for ever: the pod never ends, and no outcome would ever come.
        raise InvalidArgument("KubernetesPodJob: restartPolicy Always never ends; use Never or OnFailure")
    if REFERENCE_LABEL in (meta.get("labels") or {}) or REFERENCE_ANNOTATION in (meta.get("annotations") or {}):
        raise InvalidArgument(f"KubernetesPodJob: the label {REFERENCE_LABEL!r} and the annotation "
                              f"{REFERENCE_ANNOTATION!r} are the job's own")
    return manifest


def _meta(pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _annotations(pod: Mapping[str, Any]) -> dict[str, Any]:
    found = _meta(pod).get("annotations")
    return found if isinstance(found, dict) else {}


def _container_status(pod: Mapping[str, Any], container: str) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(status, dict) and status.get("name") == container:
            return status
    return {}


def _container_state(pod: Mapping[str, Any], container: str) -> dict[str, Any]:
    state = _container_status(pod, container).get("state")
    return state if isinstance(state, dict) else {}


def _exit_code(pod: Mapping[str, Any], container: str) -> int | None:
    code = (_container_state(pod, container).get("terminated") or {}).get("exitCode")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _reason(pod: Mapping[str, Any], container: str) -> str | None:
    """Why it ended or waits: the container's reason (OOMKilled, Error), else the pod's (Evicted)."""
    state = _container_state(pod, container)
    for part in ("terminated", "waiting"):
        reason = (state.get(part) or {}).get("reason")
        if isinstance(reason, str) and reason:
            return reason
    reason = (pod.get("status") or {}).get("reason")
    return reason if isinstance(reason, str) and reason else None


def _status_reason(status: str) -> str | None:
    """``Failed (Unschedulable)`` -> ``Unschedulable``; an exit code is no reason."""
    inner = status.partition("(")[2].rstrip(")")
    return inner if inner and not inner.startswith("exit code") else None


def _plain_active_status(pod: Mapping[str, Any]) -> str | None:
    """``Pending`` or ``Running`` when every job would call *pod* so whatever its settings, else None."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if _meta(pod).get("deletionTimestamp") or phase not in POD_ACTIVE:
        return None
    if phase == "Running" and any(isinstance(e, dict) and (e.get("state") or {}).get("terminated")
                                  for e in status.get("containerStatuses") or []):
        return None  # a container ended: whether it is the job's main one is the job's to say
    if phase == "Pending" and _stuck(pod, "") is not None:
        return None  # stuck: its grace and clock are the job's
    return str(phase)


def _stuck(pod: Mapping[str, Any], container: str) -> tuple[str, float] | None:
    """(reason, since when) for a Pending pod that may never start, else None."""
    status = pod.get("status") or {}
    created = _timestamp(_meta(pod).get("creationTimestamp"))
    for condition in status.get("conditions") or []:
        if (isinstance(condition, dict) and condition.get("type") == "PodScheduled"
                and condition.get("status") == "False" and condition.get("reason") == UNSCHEDULABLE):
            return UNSCHEDULABLE, _timestamp(condition.get("lastTransitionTime")) or created or 0.0
    for entry in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        reason = ((entry.get("state") or {}).get("waiting") or {}).get("reason") if isinstance(entry, dict) else None
        if reason in IMAGE_PULL_REASONS:
            return str(reason), created or 0.0
    return None


def _timestamp(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def _dns_prefix(text: str) -> str:
    """A pod-name prefix: lowercase, [a-z0-9-], short enough for ``<prefix>-<slug>`` in 63 characters."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", str(text).lower()).strip("-")
    cleaned = cleaned[:22].strip("-")  # 22 + 1 + a slug of at most 40 = 63, a DNS label
    return cleaned or "pod"


__all__ = [
    "IMAGE_PULL_REASONS",
    "POD_ACTIVE",
    "POD_FAILED",
    "POD_SUCCEEDED",
    "REFERENCE_ANNOTATION",
    "REFERENCE_LABEL",
    "KubernetesPodJob",
    "PodResult",
    "PodStartPolicy",
    "command_pod",
    "parse_pod_job_id",
    "pod_phase",
    "pod_reference_slug",
]
