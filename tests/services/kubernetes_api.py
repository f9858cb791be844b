"""A loopback Kubernetes API server: the parts spark-submit (fabric8) and the adapter use.

No API server can be installed on these machines, so this one plays the API server and
the kubelet for driver pods. It is faithful where the adapter's guarantees depend on it:

- ``POST .../pods`` answers 201 with the stored object plus ``metadata.uid``,
  ``resourceVersion``, ``creationTimestamp`` and ``status.phase: Pending``; a second
  POST of the same name answers 409 with a ``Status`` of reason ``AlreadyExists``.
- ``GET`` of a pod, ``GET .../pods?labelSelector=k=v,k2`` (a ``PodList``; ``k2``: the label exists),
  404 with a ``Status`` of reason ``NotFound``.
- ``DELETE`` of a pod with ``DeleteOptions`` whose ``preconditions.uid`` must match (409
  Conflict otherwise, as the real server does); the pod first gets a
  ``deletionTimestamp`` and goes away after *grace* seconds. Objects whose
  ``ownerReferences`` name a removed pod are garbage-collected with it.
- server-side apply (``PATCH ...?fieldManager=...&force=true``) and POST of any other
  namespaced object (services, config maps, network policies): stored, 200/201.

For any pod (tests/kubernetes/):

- ``POST`` of a pod without containers or with a name that is no DNS-1123 subdomain: 422
  ``Invalid``, as the API server's validation answers.
- ``GET .../pods/<name>/log?container=&tailLines=&limitBytes=``: ``text/plain``; 404 for a
  missing pod; 400 ``BadRequest`` while the container is waiting to start, for an unknown
  container, and when a pod of several containers is asked without one.
- ``containerStatuses`` name the spec's containers; a Running pod gets ``spec.nodeName``;
  ``finish_container`` ends one container while the pod stays Running (a sidecar lives on);
  a terminated container carries what it wrote to its ``terminationMessagePath``
  (``write_termination_message``), cut to 4096 bytes as the kubelet cuts it.
  Plan steps may also be ``ErrImagePull`` / ``ImagePullBackOff`` (Pending, the container
  waiting with that reason, as the kubelet reports) or ``Unschedulable`` (Pending, the
  ``PodScheduled`` condition False with reason Unschedulable, as the scheduler reports).
- ``DELETE`` honours ``gracePeriodSeconds`` (0: removed at once) and sets
  ``metadata.deletionGracePeriodSeconds``. Simplified: a pod with no node or already ended
  keeps the server's grace here, where a real server removes it at once.

The kubelet part: each new pod gets a *plan* (``(seconds after creation, phase, exit
code)`` steps) from ``plan_for(pod)``; steps apply when the pod is next read, so no
thread moves pods behind a test's back; time is *clock* (default ``time.time``, the crash
properties give theirs, virtual). ``set_phase`` advances a pod by hand, ``collect``
removes a finished pod as the pod garbage collector would. A bearer *token*, when set,
is required on every request (401 otherwise).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from tests.services.loopback import Answer, LoopbackHttpServer

PlanStep = tuple[float, str, "int | None"]
PlanFor = Callable[[dict[str, Any]], Sequence[PlanStep]]
DRIVER_CONTAINER = "spark-kubernetes-driver"
WAITING_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})  # plan steps: Pending, the image not pulled
UNSCHEDULABLE = "Unschedulable"  # a plan step: Pending, no node fits
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _now_text(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _status(code: int, reason: str, message: str, name: str = "", kind: str = "pods") -> dict[str, Any]:
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
        "reason": reason, "details": {"name": name, "kind": kind}, "code": code,
    }


@dataclass
class _Pod:
    obj: dict[str, Any]
    created: float
    plan: list[PlanStep] = field(default_factory=list)
    deleted_at: float | None = None
    grace: float | None = None  # the DELETE's gracePeriodSeconds; None: the server's


class KubernetesApiServer(LoopbackHttpServer):
    """The server and its state; the handler below reads and changes it under ``lock``."""

    def __init__(self, *, token: str | None = None, grace: float = 0.2, plan_for: PlanFor | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # when plans and deletions advance: the crash properties pass their virtual clock
        self.token = token
        self.grace = grace
        self.plan_for = plan_for
        self.lock = threading.Lock()
        self.pods: dict[tuple[str, str], _Pod] = {}
        self.ever: dict[str, dict[str, Any]] = {}  # uid -> every pod created, as it was last (removed ones too)
        self.objects: dict[str, dict[str, Any]] = {}  # path -> object (services, config maps, ...)
        self.logs: dict[tuple[str, str], str] = {}  # (pod uid, container) -> what it wrote
        self.messages: dict[tuple[str, str], str] = {}  # (pod uid, container) -> its termination message file
        self.requests: list[tuple[str, str]] = []  # (method, path without query)
        # (namespace, pod name, port) -> what the pod's HTTP server answers through the pod proxy: path -> JSON
        self.pod_http: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.fail_next: list[int] = []  # status codes to answer, once each, before anything else
        self._version = 100
        super().__init__("k8s-api")

    def start(self) -> KubernetesApiServer:
        self._start()
        return self

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        code, payload = self.handle(method, path, query, body, headers.get("Authorization"))
        return code, payload, {}

    # -- what tests use ------------------------------------------------------------------------

    def pod(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        with self.lock:
            self._advance(self.clock())
            found = self.pods.get((namespace, name))
            return json.loads(json.dumps(found.obj)) if found else None

    def pods_ever(self) -> list[dict[str, Any]]:
        """Every pod created since the start (or ``reset``), as of now; removed ones as they were
        last, with ``metadata.removed: true``. The proof of what ran, whoever deleted what."""
        with self.lock:
            self._advance(self.clock())
            live = {p.obj["metadata"]["uid"] for p in self.pods.values()}
            found: list[dict[str, Any]] = json.loads(json.dumps(list(self.ever.values())))
        for obj in found:
            obj["metadata"]["removed"] = obj["metadata"]["uid"] not in live
        return found

    def pod_names(self) -> set[str]:
        with self.lock:
            return {name for _, name in self.pods}

    def pods_created(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST" and path.endswith("/pods"))

    def reset(self, clock: Callable[[], float] | None = None) -> None:
        """Forget every pod, object and request, and change the clock when given: one server
        serves many hypothesis examples (starting and stopping one costs more than an example)."""
        with self.lock:
            self.pods.clear()
            self.ever.clear()
            self.objects.clear()
            self.logs.clear()
            self.messages.clear()
            self.requests.clear()
            self.fail_next.clear()
            if clock is not None:
                self.clock = clock

    def set_phase(self, name: str, phase: str, exit_code: int | None = None, namespace: str = "default") -> None:
        with self.lock:
            pod = self.pods[(namespace, name)]
            pod.plan = []
            self._set(pod, phase, exit_code, self.clock())

    def write_log(self, name: str, text: str, container: str | None = None, namespace: str = "default") -> None:
        """Append *text* to a container's log (default: the pod's first container)."""
        with self.lock:
            obj = self.pods[(namespace, name)].obj
            container = container or obj["spec"]["containers"][0]["name"]
            key = (obj["metadata"]["uid"], container)
            self.logs[key] = self.logs.get(key, "") + text

    def write_termination_message(self, name: str, text: str, container: str | None = None,
                                  namespace: str = "default") -> None:
        """What a container writes to its terminationMessagePath, shown once it terminates."""
        with self.lock:
            obj = self.pods[(namespace, name)].obj
            self.messages[(obj["metadata"]["uid"], container or obj["spec"]["containers"][0]["name"])] = text

    def finish_container(self, name: str, container: str, exit_code: int, namespace: str = "default") -> None:
        """One container of a Running pod terminates; the pod stays Running while another runs."""
        with self.lock:
            pod = self.pods[(namespace, name)]
            pod.plan = []
            for status in pod.obj["status"]["containerStatuses"]:
                if status["name"] == container:
                    status.update(ready=False, started=False, state=self._terminated(pod, container, exit_code,
                                                                                      self.clock()))
            pod.obj["metadata"]["resourceVersion"] = self._next_version()

    def collect(self, name: str, namespace: str = "default") -> None:
        """Remove a pod at once, as the pod garbage collector does with finished pods."""
        with self.lock:
            self._remove((namespace, name))

    def recreate(self, name: str, namespace: str = "default") -> str:
        """Delete and create the same pod anew (a new uid), as a controller or a human might."""
        with self.lock:
            old = self.pods[(namespace, name)].obj
            self._remove((namespace, name))
            fresh = {k: v for k, v in old.items() if k != "status"}
            fresh["metadata"] = {k: v for k, v in old["metadata"].items()
                                 if k not in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")}
            return str(self._create_pod(namespace, fresh)["metadata"]["uid"])

    # -- the state machine ---------------------------------------------------------------------

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _create_pod(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        meta = obj.setdefault("metadata", {})
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), resourceVersion=self._next_version(),
                    creationTimestamp=_now_text(now))
        obj["status"] = {"phase": "Pending"}
        pod = _Pod(obj=obj, created=now)
        if self.plan_for is not None:
            pod.plan = sorted(self.plan_for(obj))
        self.pods[(namespace, meta["name"])] = pod
        self.ever[meta["uid"]] = obj  # the same object: it shows the pod's last state once removed
        return obj

    def _set(self, pod: _Pod, phase: str, exit_code: int | None, at: float) -> None:
        status: dict[str, Any] = {"phase": phase}
        names = [c.get("name") or DRIVER_CONTAINER for c in pod.obj.get("spec", {}).get("containers") or [{}]]
        image = (pod.obj.get("spec", {}).get("containers") or [{}])[0].get("image")
        if phase == UNSCHEDULABLE:
            status = {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": UNSCHEDULABLE, "lastTransitionTime": _now_text(at),
                "message": "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                           "3 No preemption victims found for incoming pod."}]}
        elif phase in WAITING_REASONS:
            # Scheduled, the image not pulled: the kubelet's waiting reason on every container.
            pod.obj["spec"]["nodeName"] = "node-1"
            message = (f'Back-off pulling image "{image}"' if phase == "ImagePullBackOff"
                       else f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}"')
            status = {"phase": "Pending", "startTime": _now_text(pod.created),
                      "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": _now_text(at)}],
                      "containerStatuses": [{"name": n, "image": image, "ready": False, "restartCount": 0,
                                             "started": False, "state": {"waiting": {"reason": phase,
                                                                                     "message": message}}}
                                            for n in names]}
        elif phase in ("Running", "Succeeded", "Failed"):
            pod.obj["spec"]["nodeName"] = "node-1"
            status["startTime"] = _now_text(pod.created)
            if phase == "Running":
                state: dict[str, Any] = {"running": {"startedAt": _now_text(at)}}
            else:
                code = exit_code if exit_code is not None else (0 if phase == "Succeeded" else 1)
            status["containerStatuses"] = [{
                "name": n, "image": image, "ready": phase == "Running", "restartCount": 0,
                "started": phase == "Running",
                "state": state if phase == "Running" else self._terminated(pod, n, code, at)} for n in names]
        pod.obj["status"] = status
        pod.obj["metadata"]["resourceVersion"] = self._next_version()

    def _terminated(self, pod: _Pod, container: str, code: int, at: float) -> dict[str, Any]:
        reason = {0: "Completed", 137: "OOMKilled"}.get(code, "Error")
        ended: dict[str, Any] = {"exitCode": code, "reason": reason, "startedAt": _now_text(pod.created),
                                 "finishedAt": _now_text(at)}
        message = self.messages.get((pod.obj["metadata"]["uid"], container))
        if message:
            ended["message"] = message.encode()[:4096].decode("utf-8", "ignore")
        return {"terminated": ended}

    def _advance(self, now: float) -> None:
        for key, pod in list(self.pods.items()):
            while pod.plan and pod.created + pod.plan[0][0] <= now and pod.deleted_at is None:
                _, phase, code = pod.plan.pop(0)
                self._set(pod, phase, code, now)
            if pod.deleted_at is not None and now >= pod.deleted_at + (self.grace if pod.grace is None else pod.grace):
                if pod.obj["status"]["phase"] in ("Pending", "Running"):
                    self._set(pod, "Failed", 143, now)  # the kubelet's SIGTERM, seen in pods_ever()
                self._remove(key)

    def _remove(self, key: tuple[str, str]) -> None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return
        uid = pod.obj["metadata"]["uid"]
        for path, obj in list(self.objects.items()):
            owners = obj.get("metadata", {}).get("ownerReferences") or []
            if any(o.get("uid") == uid for o in owners):
                del self.objects[path]

    # -- requests ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               auth: str | None) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path))
            if self.fail_next:
                code = self.fail_next.pop(0)
                return code, _status(code, "InternalError" if code >= 500 else "Forbidden", f"injected {code}")
            if self.token is not None and auth != f"Bearer {self.token}":
                return 401, _status(401, "Unauthorized", "Unauthorized")
            self._advance(self.clock())
            parts = [p for p in path.split("/") if p]
            if parts[:2] == ["api", "v1"] and len(parts) >= 7 and parts[4] == "pods" and parts[6] == "proxy":
                return self._pod_proxy(parts[3], parts[5], "/" + "/".join(parts[7:]))
            if parts[:2] == ["api", "v1"] and len(parts) == 7 and parts[4] == "pods" and parts[6] == "log":
                return self._log(method, parts[3], parts[5], query)
            if parts[:2] == ["api", "v1"] and len(parts) >= 5 and parts[2] == "namespaces" and parts[4] == "pods":
                return self._pods(method, parts[3], parts[5] if len(parts) > 5 else None, query, body)
            if "namespaces" in parts and len(parts) >= 5:
                return self._other(method, path, parts, body)
            return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})")

    def _pods(self, method: str, namespace: str, name: str | None, query: dict[str, list[str]],
              body: bytes) -> tuple[int, dict[str, Any]]:
        if name is None and method == "POST":
            obj = json.loads(body)
            pod_name = obj.get("metadata", {}).get("name")
            if not pod_name:
                return 422, _status(422, "Invalid", "Pod \"\" is invalid: metadata.name: Required value")
            if len(pod_name) > 253 or not _SUBDOMAIN.fullmatch(pod_name):
                return 422, _status(422, "Invalid", f'Pod "{pod_name}" is invalid: metadata.name: Invalid value: '
                                    f'"{pod_name}": a lowercase RFC 1123 subdomain must consist of lower case '
                                    "alphanumeric characters, '-' or '.'", pod_name)
            if not obj.get("spec", {}).get("containers"):
                return 422, _status(422, "Invalid", f'Pod "{pod_name}" is invalid: spec.containers: Required value',
                                    pod_name)
            if (namespace, pod_name) in self.pods:
                return 409, _status(409, "AlreadyExists", f'pods "{pod_name}" already exists', pod_name)
            return 201, self._create_pod(namespace, obj)
        if name is None and method == "GET":
            # ``k=v`` (equality) and ``k`` alone (the label exists, any value), as the API server reads them.
            wanted = [(*s.split("=", 1), None)[:2] for s in ",".join(query.get("labelSelector", [])).split(",") if s]
            items = [p.obj for (ns, _), p in sorted(self.pods.items()) if ns == namespace and all(
                (k in labels) if v is None else labels.get(k) == v
                for labels in [p.obj["metadata"].get("labels") or {}] for k, v in wanted)]
            return 200, {"kind": "PodList", "apiVersion": "v1",
                         "metadata": {"resourceVersion": str(self._version)}, "items": items}
        pod = self.pods.get((namespace, name or ""))
        if pod is None:
            return 404, _status(404, "NotFound", f'pods "{name}" not found', name or "")
        if method == "GET":
            return 200, pod.obj
        if method == "DELETE":
            options = json.loads(body) if body else {}
            wanted_uid = (options.get("preconditions") or {}).get("uid")
            if wanted_uid is not None and wanted_uid != pod.obj["metadata"]["uid"]:
                return 409, _status(409, "Conflict", f"Precondition failed: UID in precondition: {wanted_uid}, "
                                    f"UID in object meta: {pod.obj['metadata']['uid']}", name or "")
            seconds = options.get("gracePeriodSeconds")
            if seconds == 0:  # a forced delete: gone at once, the answer is the object as it was
                self._remove((namespace, name or ""))
                return 200, pod.obj
            if pod.deleted_at is None:
                # As a real API server: the pod keeps its phase for its grace period, marked with
                # a deletionTimestamp; the kubelet's SIGTERM ends it when the period is over.
                pod.deleted_at = self.clock()
                pod.grace = float(seconds) if isinstance(seconds, int) else None
                pod.obj["metadata"]["deletionTimestamp"] = _now_text(pod.deleted_at)
                pod.obj["metadata"]["deletionGracePeriodSeconds"] = seconds if isinstance(seconds, int) else 30
                pod.obj["metadata"]["resourceVersion"] = self._next_version()
            return 200, pod.obj
        return 405, _status(405, "MethodNotAllowed", f"{method} is not supported on a pod")

    def _pod_proxy(self, namespace: str, target: str, path: str) -> tuple[int, Any]:
        """``pods/<name>:<port>/proxy/<path>``: the API server proxying to a running pod's port."""
        name, _, port = target.partition(":")
        pod = self.pods.get((namespace, name))
        if pod is None:
            return 404, _status(404, "NotFound", f'pods "{name}" not found', name)
        served = self.pod_http.get((namespace, name, int(port or 80)))
        if served is None or (pod.obj.get("status") or {}).get("phase") != "Running":
            # What the API server says when nothing listens on that port of the pod.
            return 503, _status(503, "ServiceUnavailable", f"error trying to reach service: dial tcp :{port}")
        if path not in served:
            return 404, "404 page not found"
        return 200, served[path]

    def _log(self, method: str, namespace: str, name: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """``pods/<name>/log``: the API server's answers, text when there is a log."""
        pod = self.pods.get((namespace, name))
        if pod is None:
            return 404, _status(404, "NotFound", f'pods "{name}" not found', name)
        if method != "GET":
            return 405, _status(405, "MethodNotAllowed", f"{method} is not supported on a pod's log")
        names = [c["name"] for c in pod.obj["spec"]["containers"]]
        container = (query.get("container") or [""])[0]
        if not container:
            if len(names) > 1:
                return 400, _status(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                    f"choose one of: [{' '.join(names)}]", name)
            container = names[0]
        if container not in names:
            return 400, _status(400, "BadRequest", f"container {container} is not valid for pod {name}", name)
        state = next((s.get("state") or {} for s in pod.obj["status"].get("containerStatuses") or []
                      if s.get("name") == container), {})
        if not state or "waiting" in state:
            reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
            return 400, _status(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: '
                                f"{reason}", name)
        text = self.logs.get((pod.obj["metadata"]["uid"], container), "")
        tail = (query.get("tailLines") or [""])[0]
        if tail.isdigit():
            kept = text.splitlines(keepends=True)[-int(tail):] if int(tail) else []
            text = "".join(kept)
        limit = (query.get("limitBytes") or [""])[0]
        if limit.isdigit():
            text = text.encode()[:int(limit)].decode("utf-8", "ignore")
        return 200, text

    def _other(self, method: str, path: str, parts: list[str], body: bytes) -> tuple[int, dict[str, Any]]:
        if method == "PATCH":  # server-side apply: create or replace
            created = path not in self.objects
            self.objects[path] = json.loads(body) if body else {}
            return (201 if created else 200), self.objects[path]
        if method == "POST":
            obj = json.loads(body)
            target = f"{path}/{obj.get('metadata', {}).get('name', '')}"
            if target in self.objects:
                return 409, _status(409, "AlreadyExists", f'{parts[-1]} "{target}" already exists', kind=parts[-1])
            self.objects[target] = obj
            return 201, obj
        if method == "GET" and path in self.objects:
            return 200, self.objects[path]
        if method == "DELETE" and path in self.objects:
            return 200, self.objects.pop(path)
        return 404, _status(404, "NotFound", f'"{parts[-1]}" not found', kind=parts[-2])


def plan_from_driver_args(pod: dict[str, Any]) -> list[PlanStep]:
    """The kubelet for the tests' driver: the app's last two args are seconds to run and exit code.

    spark-submit puts the application's arguments at the end of the driver container's
    args; a pod without two numeric trailing args stays Pending (the test moves it).
    """
    containers = pod.get("spec", {}).get("containers") or [{}]
    args = containers[0].get("args") or []
    try:
        seconds, code = float(args[-2]), int(args[-1])
    except (IndexError, ValueError):
        return []
    return [(0.1, "Running", None), (0.1 + seconds, "Succeeded" if code == 0 else "Failed", code)]

