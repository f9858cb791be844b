"""ResumableKubernetesPodOperator: every KubernetesPodOperator argument, the pod fenced by its uid.

The operator IS a KubernetesPodOperator (the provider's class is its second base): the
arguments, their conversions, the template fields and the pod the stock operator builds
(``build_pod_request_obj``: pod template, full pod spec, secrets, the task's labels,
the cluster's ``pod_mutation_hook``) are the provider's own. What runs it is
:class:`ResumableOperator`: the pod is a ``KubernetesPodJob``, created under a name the
submission reference decides, recorded with its uid before it is polled; a retry after a
crash reattaches to that pod, a clear creates a new one, a stop acts by its cause (a
worker shutdown leaves the pod for the retry; a user's mark-failed or a timeout deletes
it, with the uid as precondition), and the stock operator's faults go with it
(apache/airflow#71743, #71748, #21900).

XCom: with ``do_xcom_push=True`` the container writes ``/airflow/xcom/return.json`` as
for the stock operator, but no sidecar reads it through ``pods/exec``: that file is the
container's ``terminationMessagePath``, so the kubelet copies it into the pod's status
(4096 bytes at most), where a plain read of the recorded pod (uid checked) finds it and
the record keeps it; a pod collected after its success still has its XCom. Arguments it
cannot honour are refused when the DAG is parsed, each with its reason.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from resumable_core import InvalidArgument, JobFailed, MemoryStateStore, PollPolicy, ProtocolError, ResumableJob

from ..kubernetes import KubernetesClient, KubernetesPodJob, PodStartPolicy, pod_phase
from ._compat import Context
from ._kill import NEVER_CANCEL
from ._operator import ResumableOperator

try:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk.exceptions import AirflowSkipException
    from kubernetes.client import ApiClient  # type: ignore[import-untyped]  # the official client ships no types
except ImportError as exc:  # pragma: no cover - exercised without the provider
    raise ImportError(
        "ResumableKubernetesPodOperator needs the cncf.kubernetes provider: "
        "pip install apache-airflow-providers-cncf-kubernetes"
    ) from exc


XCOM_FILE = "/airflow/xcom/return.json"  # where the stock operator's container writes its XCom
TERMINATION_MESSAGE_LIMIT = 4096  # the kubelet's cut of a termination message
# Labels the stock operator adds that change between tries of one task: not part of the pod's
# specification (a retry must find the same fingerprint), nor needed to find it (the reference is).
_PER_TRY_LABELS = ("try_number", "already_checked")

# KubernetesPodOperator arguments this operator cannot honour, refused when set: the reason each.
_REFUSED: dict[str, tuple[Any, str]] = {
    "callbacks": (None, "KubernetesPodOperatorCallback methods are called by the stock PodManager at points "
                        "(pod creation, each log line, cleanup) this operator does not have"),
    "progress_callback": (None, "it is called for each streamed log line; this operator reads the log's tail once "
                                "the pod ended"),
    "container_logs": (None, "container logs are not streamed: the main container's log tail is written to the "
                             "task log and kept in the result once the pod ends"),
    "init_container_logs": (None, "init container logs are not streamed"),
    "logging_interval": (None, "logs are not streamed"),
    "log_formatter": (None, "logs are not streamed"),
    "log_events_on_failure": (False, "pod events are not read"),
    "trigger_kwargs": (None, "KubernetesPodTrigger does not run: a deferred resumable task needs trigger_job="),
    "is_delete_operator_pod": (None, "removed from KubernetesPodOperator; pass on_finish_action="),
}
_ON_FINISH = ("delete_pod", "delete_succeeded_pod", "keep_pod")


class ResumableKubernetesPodOperator(ResumableOperator, KubernetesPodOperator):
    """KubernetesPodOperator's arguments; the pod survives a worker's crash and a retry reattaches.

    Moving a DAG over changes two lines: the import and the class name. Besides the stock
    arguments it takes ResumableOperator's (``state_store``, ``state_key``, ``kill_policy``,
    ``fresh``, ``policy``, ``poll``). ``durable=False`` keeps nothing between tries (each
    try creates a new pod, as the stock operator's). ``startup_timeout_seconds`` is the
    grace of an image that cannot be pulled, ``schedule_timeout_seconds`` of a pod no node
    fits (PodStartPolicy): past it the pod is deleted and the try fails. ``on_kill_action=
    "keep_pod"`` never deletes on a stop; the default deletes on a user's mark-failed, a
    clear or a timeout, and keeps the pod on a worker shutdown. ``execute()`` returns the
    XCom the container wrote (``do_xcom_push=True``), else the pod job's result (exit
    code, log tail, ...), which Airflow pushes only when ``do_xcom_push`` is set.
    """

    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "state_key")

    def __init__(self, *, durable: bool | None = None, reattach_on_restart: bool | None = None,
                 on_kill_action: str = "delete_pod", poll_interval: float = 2, **kwargs: Any) -> None:
        owner = type(self).__name__
        refused = [f"{name}: {why}" for name, (default, why) in _REFUSED.items()
                   if name in kwargs and kwargs[name] != default]
        if kwargs.get("deferrable") and kwargs.get("trigger_job") is None:
            refused.append("deferrable=True: KubernetesPodTrigger does not run here; a deferred resumable task needs "
                           "trigger_job=")
        if kwargs.get("on_finish_action", "delete_pod") not in _ON_FINISH:
            refused.append(f"on_finish_action={kwargs['on_finish_action']!r}: one of {', '.join(_ON_FINISH)}")
        if refused:
            raise InvalidArgument(f"{owner} cannot honour: " + "; ".join(refused))
        self._durable_given = durable if durable is not None else reattach_on_restart
        if self._durable_given is False:
            if kwargs.get("state_store") is not None:
                raise InvalidArgument(f"{owner}: durable=False keeps no record, so state_store= has no use; "
                                      "pass one or the other")
            # Nothing kept between tries, as the stock operator with durable=False: a record for this try only.
            kwargs["state_store"] = lambda context: MemoryStateStore()
        if on_kill_action == "keep_pod" and "kill_policy" not in kwargs:
            kwargs["kill_policy"] = NEVER_CANCEL
        self._poll_given = kwargs.get("poll") is not None
        if not self._poll_given:
            kwargs["poll"] = PollPolicy(min_interval=float(poll_interval), max_interval=max(30.0, poll_interval))
        super().__init__(durable=durable, reattach_on_restart=reattach_on_restart, on_kill_action=on_kill_action,
                         poll_interval=poll_interval, **kwargs)
        self._secrets: tuple[str, ...] = ()
        self._pod_job: KubernetesPodJob | None = None
        self._in_cluster = False

    def known_secrets(self) -> tuple[str, ...]:
        return self._secrets

    # -- the job ------------------------------------------------------------------------

    def make_job(self, context: Context) -> ResumableJob[Any]:
        client = self.kubernetes_client()
        self._secrets = client.secrets()
        if not self.namespace:
            self.namespace = client.namespace
        # The stock operator's own pod, for this task instance; dry_run: the in-cluster label is
        # ours to set (the stock check builds an official client from the same connection).
        pod = self.build_pod_request_obj(context, dry_run=True)
        manifest: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
        labels = manifest.setdefault("metadata", {}).setdefault("labels", {})
        for label in _PER_TRY_LABELS:
            labels.pop(label, None)
        labels["airflow_kpo_in_cluster"] = str(self._in_cluster)
        if self.do_xcom_push:
            _xcom_through_termination_message(manifest, self.base_container_name)
        self._pod_job = KubernetesPodJob(
            client, manifest, name=self.name or self.task_id, namespace=self.namespace,
            container=self.base_container_name, log_lines=20,
            start=PodStartPolicy(pull_grace=float(self.startup_timeout_seconds),
                                 schedule_grace=float(self.schedule_timeout_seconds)),
        )
        return self._pod_job

    def kubernetes_client(self) -> KubernetesClient:
        """A client for the cluster the connection names, read as KubernetesHook reads it."""
        extras = _connection_extras(self.kubernetes_conn_id)
        in_cluster = self.in_cluster if self.in_cluster is not None else _truthy(extras.get("in_cluster"))
        context = self.cluster_context or extras.get("cluster_context") or None
        options: dict[str, Any] = {}
        namespace = self.namespace or extras.get("namespace")
        if namespace:
            options["namespace"] = str(namespace)
        if _truthy(extras.get("disable_verify_ssl")):
            options["verify"] = False
        self._in_cluster = bool(in_cluster)
        if in_cluster:
            return KubernetesClient.in_cluster(**options)
        path = self.config_file or extras.get("kube_config_path")
        inline = extras.get("kube_config")
        if not path and inline:
            return _from_inline_kubeconfig(inline, context, options)
        return KubernetesClient.from_kubeconfig(path or None, context=context, **options)

    # -- execution ----------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        try:
            result = super().execute(context)
        except JobFailed as failure:
            code = _exit_code(failure.status)
            self._finish(succeeded=False)
            if code is not None and code in self.skip_on_exit_code:
                raise AirflowSkipException(f"pod exited with code {code}, in skip_on_exit_code") from failure
            raise
        self._finish(succeeded=True)
        if isinstance(result, dict) and result.get("log_tail") and self.get_logs:
            self.log.info("the pod's log ends with:\n%s", self._safe(str(result["log_tail"])))
        if self.do_xcom_push:
            return _xcom_value(result)
        return result

    def _finish(self, *, succeeded: bool) -> None:
        """on_finish_action, with the uid precondition: the record already holds the outcome."""
        action, job = str(getattr(self.on_finish_action, "value", self.on_finish_action)), self._pod_job
        active = self._active
        if job is None or active is None or action == "keep_pod" or (action == "delete_succeeded_pod"
                                                                    and not succeeded):
            return
        record_job_id = self._job_id
        if record_job_id is None:
            return
        try:
            job.cancel_job(record_job_id)
        except Exception as exc:  # the outcome stands; a pod left behind is only untidy
            self.log.warning("could not delete pod %s after it ended: %s", record_job_id,
                             self._safe(f"{type(exc).__name__}: {exc}"))

    def on_kill(self) -> None:
        # ResumableOperator's: by cause (KubernetesPodOperator.on_kill deletes on every SIGTERM).
        ResumableOperator.on_kill(self)


def _xcom_through_termination_message(manifest: dict[str, Any], container: str) -> None:
    """The stock sidecar's file, read by the kubelet instead: no sidecar, no exec."""
    spec = manifest["spec"]
    spec["containers"] = [c for c in spec["containers"] if c.get("name") != "airflow-xcom-sidecar"]
    spec["volumes"] = [v for v in spec.get("volumes") or [] if v.get("name") != "xcom"] or None
    for entry in spec["containers"]:
        if entry.get("name") == container:
            entry["volumeMounts"] = [m for m in entry.get("volumeMounts") or [] if m.get("name") != "xcom"] or None
            entry["terminationMessagePath"] = XCOM_FILE
    for key in [k for k, v in spec.items() if v is None]:
        del spec[key]


def _xcom_value(result: Any) -> Any:
    message = result.get("termination_message") if isinstance(result, dict) else None
    if not message:
        return None  # the stock operator's value when the container wrote no return.json
    if len(message.encode()) >= TERMINATION_MESSAGE_LIMIT:
        raise ProtocolError(f"the pod's XCom ({XCOM_FILE}) reached the kubelet's {TERMINATION_MESSAGE_LIMIT}-byte "
                            "termination message limit and may be cut: write a smaller value (or a reference to "
                            "where the data is)", job_id=f"{result.get('namespace')}/{result.get('pod')}/"
                                                         f"{result.get('uid')}")
    try:
        return json.loads(message)
    except ValueError:
        raise ProtocolError(f"the pod's XCom ({XCOM_FILE}) is not JSON",
                            job_id=f"{result.get('namespace')}/{result.get('pod')}/{result.get('uid')}") from None


def _exit_code(status: str | None) -> int | None:
    if status is None or pod_phase(status) != "Failed" or "exit code " not in status:
        return None
    digits = status.split("exit code ", 1)[1].rstrip(")")
    return int(digits) if digits.lstrip("-").isdigit() else None


def _connection_extras(conn_id: str | None) -> dict[str, Any]:
    if not conn_id:
        return {}
    conn = KubernetesHook.get_connection(conn_id)  # the default connection may be absent, as for the hook
    extras = dict(conn.extra_dejson or {})
    prefix = "extra__kubernetes__"
    return {key[len(prefix):] if key.startswith(prefix) else key: value for key, value in extras.items()}


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def _from_inline_kubeconfig(inline: object, context: str | None, options: Mapping[str, Any]) -> KubernetesClient:
    text = inline if isinstance(inline, str) else json.dumps(inline)
    folder = tempfile.mkdtemp(prefix="resumable-kpo-")  # 0700; the file is gone once read
    path = Path(folder) / "config"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return KubernetesClient.from_kubeconfig(path, context=context, **options)
    finally:
        path.unlink(missing_ok=True)
        os.rmdir(folder)


def _signature() -> inspect.Signature:
    """KubernetesPodOperator's parameters, then ResumableOperator's own: what the class accepts."""
    stock = inspect.signature(KubernetesPodOperator.__init__).parameters
    ours = inspect.signature(ResumableOperator.__init__).parameters
    merged = [p for name, p in stock.items() if name != "kwargs"]
    merged += [p for name, p in ours.items() if name not in stock and name not in ("self", "kwargs")]
    if "deferrable" in stock:  # a deferral needs trigger_job=: off unless asked, whatever the config says
        merged = [p.replace(default=False) if p.name == "deferrable" else p for p in merged]
    return inspect.Signature([*merged, stock["kwargs"]])


ResumableKubernetesPodOperator.__init__.__signature__ = _signature()  # type: ignore[attr-defined]  # for inspect


__all__ = ["XCOM_FILE", "ResumableKubernetesPodOperator"]
