"""Resumable counterparts of the databricks provider's DatabricksSubmitRunOperator and
DatabricksRunNowOperator, with their arguments (a test compares the signatures with the installed
provider's), running ``DatabricksSubmitRunJob`` / ``DatabricksRunNowJob`` through ``ResumableOperator``.

Each submission's reference is its ``idempotency_token`` (new per submission, kept across a crash),
so a fixed ``idempotency_token=`` is refused: it hands a retry the old failed run
(apache/airflow#64828). ``repair_run=True`` on run-now is the repair mode (``RepairFailedTasks``):
a retry after a failed multi-task run reruns its failed tasks inside it. The XCom return value is
the run's JSON result (run id, status, ``run_page_url``, each task's state); ``run_id`` and
``run_page_url`` are pushed as the stock operators push them. Arguments that cannot be honoured
are refused when the DAG is parsed, naming them and why. docs/databricks.md.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from resumable_core import InvalidArgument, PollPolicy, ResumableJob

from ..databricks import DatabricksJobsClient, DatabricksRunNowJob, DatabricksSubmitRunJob, RepairFailedTasks
from ._compat import BaseHook, Context
from ._operator import ResumableOperator, key_for, store_for

FIXED_TOKEN = ("the resumable operator sets the token itself, new for each submission and kept across a crash "
               "(the submission reference); a fixed token makes every retry get the old failed run back")
NO_LINEAGE = "OpenLineage injection is not supported by the resumable Databricks operators"
NO_DEFER = "the resumable Databricks operators wait in the worker, where a retry can reattach after a crash"
NO_RETRY_ARGS = ("the databricks-sdk's own retries are off; transient errors are retried within the core's "
                 "budget (databricks_retry_limit attempts)")
NOT_DURABLE = "a resumable operator always records its run (durable=False would resubmit on every retry)"
# The stock operator's single-task form: these top-level fields describe one task.
_TASK_FIELDS = ("spark_jar_task", "notebook_task", "spark_python_task", "spark_submit_task", "pipeline_task",
                "dbt_task", "new_cluster", "existing_cluster_id", "libraries")
# Where dag params go in a task that has no parameters of its own (as the stock operator forwards them).
_DICT_PARAMS = {"notebook_task": "base_parameters", "python_wheel_task": "named_parameters",
                "sql_task": "parameters", "run_job_task": "job_parameters"}
_LEGACY_RUN_NOW_PARAMS = ("notebook_params", "python_params", "python_named_params", "jar_params",
                          "spark_submit_params", "dbt_commands")


def _refuse(owner: str, reasons: Mapping[str, str]) -> None:
    if reasons:
        raise InvalidArgument(f"{owner}: " + "; ".join(f"{name}: {why}" for name, why in reasons.items()))


def _merged(json: Any, named: Mapping[str, Any]) -> dict[str, Any]:
    """*json* with every named argument that was given (not None) over it, as the stock operators merge."""
    merged = dict(copy.deepcopy(json or {}))
    merged.update((name, value) for name, value in named.items() if value is not None)
    return merged


def client_for(conn_id: str, timeout: float = 30.0) -> DatabricksJobsClient:
    """A Jobs API client for the Airflow connection *conn_id* (host, schema, port; token as password or extra)."""
    conn = BaseHook.get_connection(conn_id)
    host = str(conn.host or "").rstrip("/")
    if "://" not in host:
        port = f":{conn.port}" if conn.port else ""
        host = f"{conn.schema or 'https'}://{host}{port}"
    extra = conn.extra_dejson if isinstance(getattr(conn, "extra_dejson", None), dict) else {}
    token = conn.password or extra.get("token")
    return DatabricksJobsClient(host, token=token or None, timeout=timeout)


class _ResumableDatabricksOperator(ResumableOperator):
    """What both share: the connection, the stock polling and retry arguments, refusals, XComs."""

    ui_color = "#1CB1C2"
    ui_fgcolor = "#fff"

    def __init__(self, *, databricks_conn_id: str, polling_period_seconds: int, databricks_retry_limit: int,
                 databricks_retry_delay: int, databricks_retry_args: dict[Any, Any] | None, do_xcom_push: bool,
                 idempotency_token: str | None, wait_for_termination: bool, deferrable: bool,
                 openlineage_inject_parent_job_info: bool, openlineage_inject_transport_info: bool,
                 durable: bool | None, refused: dict[str, str] | None = None, **kwargs: Any) -> None:
        reasons = dict(refused or {})
        for name, given, why in (("idempotency_token", idempotency_token is not None, FIXED_TOKEN),
                                 ("deferrable", deferrable, NO_DEFER),
                                 ("databricks_retry_args", databricks_retry_args is not None, NO_RETRY_ARGS),
                                 ("openlineage_inject_parent_job_info", openlineage_inject_parent_job_info,
                                  NO_LINEAGE),
                                 ("openlineage_inject_transport_info", openlineage_inject_transport_info, NO_LINEAGE),
                                 ("wait_for_termination", not wait_for_termination,
                                  "the resumable operator follows the run to its end"),
                                 ("durable", durable is False, NOT_DURABLE)):
            if given:
                reasons[name] = why
        _refuse(type(self).__name__, reasons)
        if "poll" not in kwargs and "poll_policy" not in kwargs:
            # The stock operator's fixed wait between looks; its retry limit as the transient budget.
            period = float(polling_period_seconds)
            kwargs["poll"] = PollPolicy(min_interval=min(5.0, period), max_interval=period,
                                        transient_attempts=max(1, int(databricks_retry_limit)),
                                        transient_seconds=max(60.0, databricks_retry_limit * databricks_retry_delay))
        super().__init__(do_xcom_push=do_xcom_push, **kwargs)
        self.databricks_conn_id = databricks_conn_id
        self.polling_period_seconds = polling_period_seconds
        self.databricks_retry_limit = databricks_retry_limit
        self.databricks_retry_delay = databricks_retry_delay

    def client(self) -> DatabricksJobsClient:
        return client_for(self.databricks_conn_id)

    def known_secrets(self) -> tuple[str, ...]:
        conn = BaseHook.get_connection(self.databricks_conn_id)
        return tuple(s for s in (conn.password,) if s)

    def execute(self, context: Context) -> Any:
        result = super().execute(context)
        if self.do_xcom_push and isinstance(result, dict):
            context["ti"].xcom_push(key="run_id", value=result.get("run_id"))
            context["ti"].xcom_push(key="run_page_url", value=result.get("run_page_url"))
        return result

    def repair_mode(self, context: Context) -> RepairFailedTasks:
        """Repair reads the key's record: the same store and key this try runs under."""
        store = store_for(self.state_store, context, self.retention)
        return RepairFailedTasks(store, key_for(self.state_key, store, context["ti"]))


class ResumableDatabricksSubmitRunOperator(_ResumableDatabricksOperator):
    """DatabricksSubmitRunOperator's arguments, one resumable one-time run (``runs/submit``)."""

    template_fields: Sequence[str] = (
        "json", "tasks", "spark_jar_task", "notebook_task", "spark_python_task", "spark_submit_task",
        "pipeline_task", "dbt_task", "new_cluster", "existing_cluster_id", "libraries", "environments",
        "run_name", "timeout_seconds", "access_control_list", "git_source", "performance_target",
        "databricks_conn_id", "state_key",
    )
    template_ext: Sequence[str] = (".json-tpl",)

    def __init__(
        self,
        *,
        json: Any | None = None,
        tasks: list[object] | None = None,
        spark_jar_task: dict[str, str] | None = None,
        notebook_task: dict[str, str] | None = None,
        spark_python_task: dict[str, str | list[str]] | None = None,
        spark_submit_task: dict[str, list[str]] | None = None,
        pipeline_task: dict[str, str] | None = None,
        dbt_task: dict[str, str | list[str]] | None = None,
        new_cluster: dict[str, object] | None = None,
        existing_cluster_id: str | None = None,
        libraries: list[dict[str, Any]] | None = None,
        environments: list[dict[str, Any]] | None = None,
        run_name: str | None = None,
        timeout_seconds: int | None = None,
        databricks_conn_id: str = "databricks_default",
        polling_period_seconds: int = 30,
        databricks_retry_limit: int = 3,
        databricks_retry_delay: int = 1,
        databricks_retry_args: dict[Any, Any] | None = None,
        do_xcom_push: bool = True,
        idempotency_token: str | None = None,
        access_control_list: list[dict[str, str]] | None = None,
        wait_for_termination: bool = True,
        git_source: dict[str, str] | None = None,
        performance_target: str | None = None,
        deferrable: bool = False,
        openlineage_inject_parent_job_info: bool = False,
        openlineage_inject_transport_info: bool = False,
        durable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            databricks_conn_id=databricks_conn_id, polling_period_seconds=polling_period_seconds,
            databricks_retry_limit=databricks_retry_limit, databricks_retry_delay=databricks_retry_delay,
            databricks_retry_args=databricks_retry_args, do_xcom_push=do_xcom_push,
            idempotency_token=idempotency_token, wait_for_termination=wait_for_termination, deferrable=deferrable,
            openlineage_inject_parent_job_info=openlineage_inject_parent_job_info,
            openlineage_inject_transport_info=openlineage_inject_transport_info, durable=durable, **kwargs)
        self.json = json
        self.tasks, self.spark_jar_task, self.notebook_task = tasks, spark_jar_task, notebook_task
        self.spark_python_task, self.spark_submit_task = spark_python_task, spark_submit_task
        self.pipeline_task, self.dbt_task, self.new_cluster = pipeline_task, dbt_task, new_cluster
        self.existing_cluster_id, self.libraries, self.environments = existing_cluster_id, libraries, environments
        self.run_name, self.timeout_seconds = run_name, timeout_seconds
        self.access_control_list, self.git_source = access_control_list, git_source
        self.performance_target = performance_target

    def payload(self) -> dict[str, Any]:
        """The runs/submit body: json with the named arguments over it, the single-task form as one task."""
        named = {name: getattr(self, name) for name in (
            "tasks", *_TASK_FIELDS, "environments", "run_name", "timeout_seconds", "access_control_list",
            "git_source", "performance_target")}
        body = _merged(self.json, named)
        body.setdefault("run_name", self.task_id)
        single = {name: body.pop(name) for name in _TASK_FIELDS if name in body}
        if single and "tasks" not in body:
            body["tasks"] = [{"task_key": self.task_id, **single}]  # the Jobs API 2.2 has tasks only
        elif single:
            raise InvalidArgument(f"{type(self).__name__}: {', '.join(single)} beside tasks: put them in a task")
        forwardable = {k: v for k, v in dict(self.params or {}).items() if v is not None}
        for task in body.get("tasks") or ():
            for kind, field in _DICT_PARAMS.items():
                spec = task.get(kind) if isinstance(task, dict) else None
                if forwardable and isinstance(spec, dict) and not spec.get(field):
                    spec[field] = dict(forwardable)
        return body

    def make_job(self, context: Context) -> ResumableJob[Any]:
        return DatabricksSubmitRunJob(self.client(), self.payload())


class ResumableDatabricksRunNowOperator(_ResumableDatabricksOperator):
    """DatabricksRunNowOperator's arguments, one resumable run of an existing job (``run-now``)."""

    template_fields: Sequence[str] = (
        "json", "job_id", "job_name", "job_parameters", "dbt_commands", "notebook_params", "python_params",
        "python_named_params", "jar_params", "spark_submit_params", "performance_target", "databricks_conn_id",
        "state_key",
    )
    template_ext: Sequence[str] = (".json-tpl",)

    def __init__(
        self,
        *,
        job_id: str | None = None,
        job_name: str | None = None,
        job_parameters: dict[str, str] | None = None,
        json: Any | None = None,
        dbt_commands: list[str] | None = None,
        notebook_params: dict[str, str] | None = None,
        python_params: list[str] | None = None,
        jar_params: list[str] | None = None,
        spark_submit_params: list[str] | None = None,
        python_named_params: dict[str, str] | None = None,
        idempotency_token: str | None = None,
        performance_target: str | None = None,
        databricks_conn_id: str = "databricks_default",
        polling_period_seconds: int = 30,
        databricks_retry_limit: int = 3,
        databricks_retry_delay: int = 1,
        databricks_retry_args: dict[Any, Any] | None = None,
        do_xcom_push: bool = True,
        wait_for_termination: bool = True,
        deferrable: bool = False,
        openlineage_inject_parent_job_info: bool = False,
        repair_run: bool = False,
        databricks_repair_reason_new_settings: dict[str, Any] | None = None,
        cancel_previous_runs: bool = False,
        forward_dag_params: bool = True,
        durable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        refused: dict[str, str] = {}
        if databricks_repair_reason_new_settings is not None:
            refused["databricks_repair_reason_new_settings"] = (
                "a repair never resets the job's settings; repair_run=True repairs the failed run as it is")
        if cancel_previous_runs:
            refused["cancel_previous_runs"] = "the resumable operator follows its own run and leaves other runs alone"
        super().__init__(
            databricks_conn_id=databricks_conn_id, polling_period_seconds=polling_period_seconds,
            databricks_retry_limit=databricks_retry_limit, databricks_retry_delay=databricks_retry_delay,
            databricks_retry_args=databricks_retry_args, do_xcom_push=do_xcom_push,
            idempotency_token=idempotency_token, wait_for_termination=wait_for_termination, deferrable=deferrable,
            openlineage_inject_parent_job_info=openlineage_inject_parent_job_info,
            openlineage_inject_transport_info=False, durable=durable, refused=refused, **kwargs)
        self.json = json
        self.job_id, self.job_name, self.job_parameters = job_id, job_name, job_parameters
        self.dbt_commands, self.notebook_params, self.python_params = dbt_commands, notebook_params, python_params
        self.jar_params, self.spark_submit_params = jar_params, spark_submit_params
        self.python_named_params, self.performance_target = python_named_params, performance_target
        self.repair_run, self.forward_dag_params = repair_run, forward_dag_params

    def payload(self) -> dict[str, Any]:
        """The run-now body: json with the named arguments over it, dag params as job parameters."""
        named = {name: getattr(self, name) for name in (
            "job_id", "job_name", "job_parameters", *_LEGACY_RUN_NOW_PARAMS, "performance_target")}
        body = _merged(self.json, named)
        forwardable = {k: v for k, v in dict(self.params or {}).items() if v is not None}
        if (self.forward_dag_params and forwardable and not body.get("job_parameters")
                and not any(name in body for name in _LEGACY_RUN_NOW_PARAMS)):
            body["job_parameters"] = forwardable
        return body

    def make_job(self, context: Context) -> ResumableJob[Any]:
        body = self.payload()
        client = self.client()
        job_id, job_name = body.pop("job_id", None), body.pop("job_name", None)
        if job_id is None and job_name is not None:
            job_id = client.job_id_by_name(str(job_name))
        if job_id is None or not str(job_id).isdigit():
            raise InvalidArgument(f"{type(self).__name__}: job_id (a number) or job_name is needed, got {job_id!r}")
        return DatabricksRunNowJob(client, int(job_id), body,
                                   repair=self.repair_mode(context) if self.repair_run else None)


__all__ = ["ResumableDatabricksRunNowOperator", "ResumableDatabricksSubmitRunOperator", "client_for"]
