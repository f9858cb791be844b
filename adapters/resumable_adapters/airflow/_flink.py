"""ResumableFlinkOperator: a jar on a Flink session cluster, resumable across crashes, clears and retries.

Airflow has no operator that runs a jar on a session cluster and waits (the Kubernetes
operator's ``FlinkKubernetesOperator`` creates a ``FlinkDeployment`` resource and returns).
This one runs ``FlinkJob`` through ``ResumableOperator``: the job id is the submission
reference, chosen before the submit, so a retry after a crash finds the job (or Flink's
duplicate refusal proves it exists) and reattaches; a user's clear submits afresh; a failed
job's retry starts from the last checkpoint the record holds; a SIGTERM cancels by cause (a
worker shutdown leaves the job running for the retry). The XCom value is ``FlinkJob``'s
result. docs/flink.md.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from resumable_core import InvalidArgument, PollPolicy, ResumableJob

from ..flink import FlinkJob, FlinkRestClient, FlinkSubmission
from ._compat import BaseHook, Context
from ._operator import AIRFLOW_POLICY, ResumableOperator

DEFAULT_CONN_ID = "flink_default"
# What the stock FlinkKubernetesOperator takes and a session cluster's REST API has no use for.
_KUBERNETES_ONLY = "this operator runs a jar on a session cluster through its REST API; a FlinkDeployment " \
                   "resource is FlinkKubernetesOperator's"
_REFUSED: dict[str, str] = {
    **{name: _KUBERNETES_ONLY for name in ("application_file", "namespace", "kubernetes_conn_id", "api_group",
                                           "api_version", "plural", "in_cluster", "cluster_context",
                                           "config_file")},
    "job": "the operator builds its FlinkJob from jar=, entry_class=, args=...; pass a job to ResumableOperator",
    "trigger_job": "polling stays in the task: it records the job's checkpoints as it goes, which a trigger "
                   "would not",
}


def refused_arguments(owner: str, given: Mapping[str, Any], **named: Any) -> None:
    """InvalidArgument naming every argument this operator cannot honour, and why."""
    reasons = {name: why for name, why in _REFUSED.items() if given.get(name) is not None}
    if given.get("deferrable"):
        reasons["deferrable=True"] = ("polling stays in the task: it records the job's checkpoints (where a "
                                      "failed job's retry starts), which the triggerer would not")
    if named.get("rest_url") and named.get("flink_conn_id"):
        reasons["rest_url, flink_conn_id"] = "give one of them: the JobManager's REST address, or a connection"
    if named.get("savepoint_directory") and not named.get("stop_with_savepoint"):
        reasons["savepoint_directory"] = "it is where stop_with_savepoint=True writes; give both"
    if reasons:
        raise InvalidArgument(f"{owner} cannot honour: " + "; ".join(f"{name}: {why}" for name, why in
                                                                   reasons.items()))


def rest_address(conn: Any) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """The JobManager's REST URL an Airflow connection names, the headers to send, the secrets.

    Host ``jobmanager`` or ``http(s)://jobmanager``, port the REST port (default 8081), schema
    ``https`` for TLS; a login and password are sent as HTTP Basic (a proxy in front of Flink).
    """
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise InvalidArgument(f"Airflow connection {conn.conn_id!r} has no host (the Flink JobManager)")
    scheme = "https" if str(conn.schema or "").lower() == "https" else "http"
    if "://" in host:
        scheme, host = host.split("://", 1)
    url = f"{scheme}://{host}" if ":" in host.rsplit("]", 1)[-1] else f"{scheme}://{host}:{conn.port or 8081}"
    headers: dict[str, str] = {}
    secrets: tuple[str, ...] = ()
    if conn.login or conn.password:
        pair = f"{conn.login or ''}:{conn.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        secrets = tuple(s for s in (conn.password,) if s)
    return url, headers, secrets


class ResumableFlinkOperator(ResumableOperator):
    """Run *jar* on a Flink session cluster and wait for its end; a retry after a crash reattaches.

    - ``jar``, ``entry_class``, ``args``, ``parallelism``, ``configuration`` (the job's
      ``flinkConfiguration``: checkpointing, restart strategy...), ``allow_non_restored_state``:
      the ``FlinkSubmission`` (templated, but parallelism). The jar is a file on the worker,
      uploaded once per content.
    - ``rest_url``: the JobManager's REST address; else the Airflow connection ``flink_conn_id``
      (default ``flink_default``): host, port (8081), schema ``https`` for TLS, login and
      password as HTTP Basic for a proxy.
    - ``restore_mode``, ``stop_with_savepoint``, ``savepoint_directory``: as ``FlinkJob``'s. With
      ``stop_with_savepoint`` a cancel (a user's mark-failed, a timeout) stops the job with a
      savepoint, where the next run starts.

    A failed job's retry starts from the last checkpoint recorded (``policy=dataclasses.replace(
    AIRFLOW_POLICY, resume=False)`` starts afresh). Everything else, state store, clear versus
    retry and the kill policy, is ``ResumableOperator``'s. Arguments it cannot honour
    (FlinkKubernetesOperator's, ``deferrable=True``) are refused when the DAG is parsed.
    """

    template_fields: Sequence[str] = ("jar", "entry_class", "args", "configuration", "rest_url", "state_key")
    template_fields_renderers: ClassVar[dict[str, str]] = {"configuration": "json"}
    ui_color = "#e6526f"

    def __init__(
        self,
        *,
        jar: str,
        entry_class: str | None = None,
        args: Sequence[str] = (),
        parallelism: int | None = None,
        configuration: Mapping[str, str] | None = None,
        allow_non_restored_state: bool = False,
        rest_url: str | None = None,
        flink_conn_id: str | None = None,
        restore_mode: str = "NO_CLAIM",
        stop_with_savepoint: bool = False,
        savepoint_directory: str | None = None,
        savepoint_timeout: float = 300.0,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        refused_arguments(owner, kwargs, rest_url=rest_url, flink_conn_id=flink_conn_id,
                          savepoint_directory=savepoint_directory, stop_with_savepoint=stop_with_savepoint)
        if not jar or not isinstance(jar, str):
            raise InvalidArgument(f"{owner}: jar= is required (the job's jar, a file on the worker)")
        if isinstance(args, str):
            raise InvalidArgument(f"{owner}: args= is a list of strings, got a string")
        kwargs.setdefault("policy", AIRFLOW_POLICY)
        if kwargs.get("poll") is None and kwargs.get("poll_policy") is None:
            kwargs["poll"] = PollPolicy(min_interval=1.0, max_interval=15.0)
        super().__init__(**kwargs)
        self.jar = jar
        self.entry_class = entry_class
        self.args = list(args)
        self.parallelism = parallelism
        self.configuration = dict(configuration or {})
        self.allow_non_restored_state = allow_non_restored_state
        self.rest_url = rest_url
        self.flink_conn_id = flink_conn_id if flink_conn_id or rest_url else DEFAULT_CONN_ID
        self.restore_mode = restore_mode
        self.stop_with_savepoint = stop_with_savepoint
        self.savepoint_directory = savepoint_directory
        self.savepoint_timeout = savepoint_timeout
        self._secrets: tuple[str, ...] = ()
        if not any("{{" in str(v) for v in (jar, entry_class, rest_url, *self.args, *self.configuration.values())):
            # Checked when the DAG is parsed, by the rules FlinkJob applies when the task runs.
            client = FlinkRestClient(rest_url or "http://jobmanager:8081")
            FlinkJob(client, self.submission(), restore_mode=restore_mode, savepoint_timeout=savepoint_timeout)
            client.close()

    def submission(self) -> FlinkSubmission:
        return FlinkSubmission(self.jar, entry_class=self.entry_class or None, args=[str(a) for a in self.args],
                               parallelism=self.parallelism,
                               configuration={str(k): str(v) for k, v in self.configuration.items()},
                               allow_non_restored_state=self.allow_non_restored_state)

    def known_secrets(self) -> tuple[str, ...]:
        return self._secrets

    def flink_client(self) -> FlinkRestClient:
        """A client on the JobManager ``rest_url`` or the connection names."""
        if self.rest_url:
            return FlinkRestClient(self.rest_url)
        url, headers, secrets = rest_address(BaseHook.get_connection(self.flink_conn_id or DEFAULT_CONN_ID))
        self._secrets = secrets
        return FlinkRestClient(url, headers=headers)

    def make_job(self, context: Context) -> ResumableJob[Any]:
        submission = self.submission()
        self._secrets = ()
        client = self.flink_client()
        self._secrets = (*self._secrets, *submission.secrets())
        return FlinkJob(client, submission, restore_mode=self.restore_mode,
                        stop_with_savepoint=self.stop_with_savepoint, savepoint_directory=self.savepoint_directory,
                        savepoint_timeout=self.savepoint_timeout)


__all__ = ["DEFAULT_CONN_ID", "ResumableFlinkOperator", "rest_address"]
