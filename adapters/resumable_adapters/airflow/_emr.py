"""Resumable counterparts of the amazon provider's three EMR operators, with their arguments.

- ``ResumableEmrAddStepsOperator``: EmrAddStepsOperator, one step per task (``EmrStepJob``).
- ``ResumableEmrServerlessStartJobOperator``: EmrServerlessStartJobOperator (``EmrServerlessJob``).
- ``ResumableEmrContainerOperator``: EmrContainerOperator, EMR on EKS (``EmrEksJob``).

Each takes the stock operator's arguments with their defaults (a test compares the
signatures with the installed provider's) and runs through ``ResumableOperator``: a retry
after a crash finds the step or run again (step name, EKS run name, token replay) or
reattaches to it; a user's clear submits afresh; a SIGTERM cancels by cause. The XCom
return value is the stock one (the step ids, the job run id); the whole JSON result is
pushed as XCom ``emr_result``. Arguments that cannot be honoured are refused when the
DAG is parsed, naming them and why. docs/emr.md.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from resumable_core import InvalidArgument, PollPolicy, ResumableJob

from ..aws import EmrEksJob, EmrServerlessJob, EmrStepJob
from ._compat import Context
from ._kill import NEVER_CANCEL
from ._operator import ResumableOperator

try:
    from airflow.sdk.configuration import conf as _airflow_conf
except ImportError:  # pragma: no cover - an Airflow 3 without the SDK's configuration module
    from airflow.configuration import conf as _airflow_conf

# The task SDK's "argument not given" marker, which the stock operators' signatures use as a default.
from airflow.sdk.definitions._internal.types import NOTSET, ArgNotSet

_DEFAULT_DEFERRABLE = _airflow_conf.getboolean("operators", "default_deferrable", fallback=False)
_LINEAGE_PARENT = _airflow_conf.getboolean("openlineage", "spark_inject_parent_job_info", fallback=False)
_LINEAGE_TRANSPORT = _airflow_conf.getboolean("openlineage", "spark_inject_transport_info", fallback=False)
_AWS_TEMPLATE_FIELDS = ("aws_conn_id", "region_name", "verify")
FIXED_TOKEN = ("the resumable operator sets the token itself, new for each submission and kept across a crash "
               "(the submission reference); a fixed token makes every retry get the old failed run back")
NO_LINEAGE = "OpenLineage injection is not supported by the resumable EMR operators"


def refuse(owner: str, reasons: Mapping[str, str]) -> None:
    """InvalidArgument naming every argument that cannot be honoured, and why."""
    if reasons:
        raise InvalidArgument(f"{owner}: " + "; ".join(f"{name}: {why}" for name, why in reasons.items()))


class _Accepted:
    """``wait_for_completion=False``: the job ends, for this task, once EMR accepted it.

    Any status that is not a failure counts as success (a RUNNING step is recorded with
    that state), as the stock operator returns once the step is added; a retry reuses
    the record instead of adding a second step. Every other operation passes through.
    """

    def __init__(self, job: ResumableJob[Any]) -> None:
        self._job = job

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def is_job_active(self, status: str) -> bool:
        return False

    def is_job_succeeded(self, status: str) -> bool:
        return bool(self._job.is_job_active(status) or self._job.is_job_succeeded(status))


def status_job(kind: str, container: str, aws_conn_id: str | None, region_name: str | None,
               verify: bool | str | None) -> Any:
    """A job that can ask a status, built in the triggerer from JSON (``deferrable=True``)."""
    client = _client(kind, aws_conn_id, region_name, verify, None)
    if kind == "emr":
        return EmrStepJob(client, container, {"Name": "status", "HadoopJarStep": {}})
    if kind == "emr-serverless":
        return EmrServerlessJob(client, container, "status", {"status": {}})
    return EmrEksJob(client, container, "status", "status", {"status": {}})


def _client(kind: str, aws_conn_id: str | None, region_name: str | None, verify: bool | str | None,
            botocore_config: dict[str, Any] | None) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=aws_conn_id, client_type=kind, region_name=region_name, verify=verify,
                       config=botocore_config).conn


class _ResumableEmrOperator(ResumableOperator):
    """What the three share: the AWS connection arguments, the waiting arguments, cancel on kill."""

    client_type: ClassVar[str] = ""

    def __init__(
        self,
        *,
        aws_conn_id: str | None,
        region_name: str | None,
        verify: bool | str | None,
        botocore_config: dict[str, Any] | None,
        region: str | None | ArgNotSet,
        wait_for_completion: bool,
        poll_seconds: float,
        max_attempts: int | None,
        cancel_on_kill: bool,
        deferrable: bool,
        refused: Mapping[str, str],
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        refuse(owner, refused)
        if not cancel_on_kill and "kill_policy" not in kwargs:
            kwargs["kill_policy"] = NEVER_CANCEL
        if "poll" not in kwargs and "poll_policy" not in kwargs:
            # The stock operator's fixed wait between looks, and its bound on the looks.
            kwargs["poll"] = PollPolicy(min_interval=min(5.0, float(poll_seconds)), max_interval=float(poll_seconds),
                                        deadline=None if not max_attempts else float(poll_seconds * max_attempts))
        super().__init__(deferrable=deferrable, **kwargs)  # trigger_job_spec below says how the trigger asks
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name if isinstance(region, ArgNotSet) or region is None else region
        self.verify = verify
        self.botocore_config = botocore_config
        self.wait_for_completion = wait_for_completion
        self._container: str | None = None

    def client(self) -> Any:
        return _client(self.client_type, self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    def build_job(self, context: Context) -> tuple[str, ResumableJob[Any]]:
        """The container (cluster, application, virtual cluster) and the job to run in it."""
        raise NotImplementedError

    def stock_xcom(self, result: Any) -> Any:
        """What the stock operator returns (its XCom), from the job's result."""
        raise NotImplementedError

    def make_job(self, context: Context) -> ResumableJob[Any]:
        self._container, job = self.build_job(context)
        return job if self.wait_for_completion else _Accepted(job)

    def trigger_job_spec(self, context: Context) -> tuple[str, dict[str, Any]]:
        return (f"{__name__}:status_job", {"kind": self.client_type, "container": self._container,
                                           "aws_conn_id": self.aws_conn_id, "region_name": self.region_name,
                                           "verify": self.verify})

    def execute(self, context: Context) -> Any:
        return self._returned(context, super().execute(context))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        return self._returned(context, super().execute_complete(context, event))

    def _returned(self, context: Context, result: Any) -> Any:
        context["ti"].xcom_push(key="emr_result", value=result)
        return self.stock_xcom(result)


class ResumableEmrAddStepsOperator(_ResumableEmrOperator):
    """EmrAddStepsOperator's arguments; one step per task, found again by its name after a crash.

    ``steps`` must hold exactly one step: a task is one job (several steps: several tasks).
    ``wait_for_completion`` (False, as the stock operator's) ends the task once the step is
    added; True waits for its end. The XCom value is ``[step_id]``, as the stock operator's.
    """

    client_type = "emr"
    template_fields: Sequence[str] = ("aws_conn_id", "cluster_states", "execution_role_arn", "job_flow_id",
                                      "job_flow_name", "region_name", "steps", "verify", "state_key")
    template_ext: Sequence[str] = (".json",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"steps": "json"}
    ui_color = "#f9c915"

    def __init__(
        self,
        *,
        job_flow_id: str | None = None,
        job_flow_name: str | None = None,
        cluster_states: list[str] | None = None,
        steps: list[dict[str, Any]] | str | None = None,
        wait_for_completion: bool = False,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 60,
        execution_role_arn: str | None = None,
        deferrable: bool = _DEFAULT_DEFERRABLE,
        openlineage_inject_parent_job_info: bool = _LINEAGE_PARENT,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        region: str | None | ArgNotSet = NOTSET,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        refused: dict[str, str] = {}
        if (job_flow_id is None) == (job_flow_name is None):
            refused["job_flow_id, job_flow_name"] = "give exactly one of them"
        if isinstance(steps, list) and len(steps) != 1:
            refused["steps"] = (f"{len(steps)} steps given: a resumable task runs one step (one job, found again "
                                "by its name); use one task per step")
        if steps is None:
            refused["steps"] = "one step is required"
        if openlineage_inject_parent_job_info:
            refused["openlineage_inject_parent_job_info"] = NO_LINEAGE
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, verify=verify,
                         botocore_config=botocore_config, region=region, wait_for_completion=wait_for_completion,
                         poll_seconds=waiter_delay, max_attempts=waiter_max_attempts, cancel_on_kill=cancel_on_kill,
                         deferrable=deferrable, refused=refused, **kwargs)
        self.job_flow_id = job_flow_id
        self.job_flow_name = job_flow_name
        self.cluster_states = cluster_states or []
        self.steps = steps
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.execution_role_arn = execution_role_arn
        self.openlineage_inject_parent_job_info = openlineage_inject_parent_job_info

    def _one_step(self) -> dict[str, Any]:
        steps: Any = self.steps
        if isinstance(steps, str):  # a templated file or string, read as the stock operator reads it
            steps = ast.literal_eval(steps)
        if isinstance(steps, Mapping):
            steps = [steps]
        if not isinstance(steps, list) or len(steps) != 1 or not isinstance(steps[0], Mapping):
            raise InvalidArgument(f"{type(self).__name__}: steps must hold exactly one step (a mapping), "
                                  f"got {type(steps).__name__} of {len(steps) if isinstance(steps, list) else 1}")
        return dict(steps[0])

    def build_job(self, context: Context) -> tuple[str, ResumableJob[Any]]:
        client = self.client()
        cluster_id = self.job_flow_id
        if cluster_id is None:
            from airflow.providers.amazon.aws.hooks.emr import EmrHook

            hook = EmrHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                           config=self.botocore_config)
            cluster_id = hook.get_cluster_id_by_name(str(self.job_flow_name), self.cluster_states)
            if not cluster_id:
                raise InvalidArgument(f"{type(self).__name__}: no EMR cluster named {self.job_flow_name!r} in "
                                      f"states {self.cluster_states}")
        return cluster_id, EmrStepJob(client, cluster_id, self._one_step(), execution_role_arn=self.execution_role_arn)

    def stock_xcom(self, result: Any) -> Any:
        return [result["step_id"]] if isinstance(result, Mapping) else result


class ResumableEmrServerlessStartJobOperator(_ResumableEmrOperator):
    """EmrServerlessStartJobOperator's arguments; ``clientToken`` new per submission, kept across a crash.

    ``client_request_token`` is refused (a token fixed for the task is the stock operator's
    fault). ``config`` adds StartJobRun members, as the stock operator's. The application is
    not started by the task (EMR Serverless starts it on a run when auto-start is on, its
    default). The XCom value is the job run id, as the stock operator's.
    """

    client_type = "emr-serverless"
    template_fields: Sequence[str] = ("application_id", "aws_conn_id", "config", "configuration_overrides",
                                      "execution_role_arn", "job_driver", "name", "region_name", "verify",
                                      "state_key")
    template_fields_renderers: ClassVar[dict[str, str]] = {"config": "json", "configuration_overrides": "json"}
    ui_color = "#fff"

    def __init__(
        self,
        application_id: str,
        execution_role_arn: str,
        job_driver: dict[str, Any],
        configuration_overrides: dict[str, Any] | None = None,
        client_request_token: str = "",
        config: dict[str, Any] | None = None,
        wait_for_completion: bool = True,
        name: str | None = None,
        waiter_max_attempts: int | ArgNotSet = NOTSET,
        waiter_delay: int | ArgNotSet = NOTSET,
        deferrable: bool = _DEFAULT_DEFERRABLE,
        enable_application_ui_links: bool = False,
        cancel_on_kill: bool = True,
        openlineage_inject_parent_job_info: bool = _LINEAGE_PARENT,
        openlineage_inject_transport_info: bool = _LINEAGE_TRANSPORT,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        region: str | None | ArgNotSet = NOTSET,
        **kwargs: Any,
    ) -> None:
        refused: dict[str, str] = {}
        if client_request_token:
            refused["client_request_token"] = FIXED_TOKEN
        if config and "clientToken" in config:
            refused["config['clientToken']"] = FIXED_TOKEN
        if enable_application_ui_links:
            refused["enable_application_ui_links"] = "the resumable operator has no operator extra links"
        if openlineage_inject_parent_job_info or openlineage_inject_transport_info:
            refused["openlineage_inject_*"] = NO_LINEAGE
        delay = 60 if isinstance(waiter_delay, ArgNotSet) else int(waiter_delay)
        attempts = 25 if isinstance(waiter_max_attempts, ArgNotSet) else int(waiter_max_attempts)
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, verify=verify,
                         botocore_config=botocore_config, region=region, wait_for_completion=wait_for_completion,
                         poll_seconds=delay, max_attempts=attempts, cancel_on_kill=cancel_on_kill,
                         deferrable=deferrable, refused=refused, **kwargs)
        self.application_id = application_id
        self.execution_role_arn = execution_role_arn
        self.job_driver = job_driver
        self.configuration_overrides = configuration_overrides
        self.client_request_token = client_request_token
        self.config = config or {}
        self.name = name
        self.waiter_delay = delay
        self.waiter_max_attempts = attempts
        self.cancel_on_kill = cancel_on_kill
        self.enable_application_ui_links = enable_application_ui_links
        self.openlineage_inject_parent_job_info = openlineage_inject_parent_job_info
        self.openlineage_inject_transport_info = openlineage_inject_transport_info

    def build_job(self, context: Context) -> tuple[str, ResumableJob[Any]]:
        return self.application_id, EmrServerlessJob(
            self.client(), self.application_id, self.execution_role_arn, self.job_driver,
            configuration_overrides=self.configuration_overrides, name=self.name, extra=self.config)

    def stock_xcom(self, result: Any) -> Any:
        return result["job_run_id"] if isinstance(result, Mapping) else result


class ResumableEmrContainerOperator(_ResumableEmrOperator):
    """EmrContainerOperator's arguments (EMR on EKS); the run's name and token carry the reference.

    ``client_request_token`` is refused (see the Serverless operator). ``name`` starts the
    run's name, which ends with ``.<reference>``. ``job_retry_max_attempts`` becomes the
    run's ``retryPolicyConfiguration``. The XCom value is the job run id, as the stock one's.
    """

    client_type = "emr-containers"
    template_fields: Sequence[str] = ("aws_conn_id", "configuration_overrides", "execution_role_arn", "job_driver",
                                      "name", "region_name", "release_label", "verify", "virtual_cluster_id",
                                      "state_key")
    ui_color = "#f9c915"

    def __init__(
        self,
        *,
        name: str,
        virtual_cluster_id: str,
        execution_role_arn: str,
        release_label: str,
        job_driver: dict[str, Any],
        configuration_overrides: dict[str, Any] | None = None,
        client_request_token: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: int = 30,
        tags: dict[str, str] | None = None,
        max_polling_attempts: int | None = None,
        job_retry_max_attempts: int | None = None,
        deferrable: bool = _DEFAULT_DEFERRABLE,
        cancel_on_kill: bool = True,
        openlineage_inject_parent_job_info: bool = _LINEAGE_PARENT,
        openlineage_inject_transport_info: bool = _LINEAGE_TRANSPORT,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        region: str | None | ArgNotSet = NOTSET,
        **kwargs: Any,
    ) -> None:
        refused: dict[str, str] = {}
        if client_request_token:
            refused["client_request_token"] = FIXED_TOKEN
        if openlineage_inject_parent_job_info or openlineage_inject_transport_info:
            refused["openlineage_inject_*"] = NO_LINEAGE
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, verify=verify,
                         botocore_config=botocore_config, region=region, wait_for_completion=wait_for_completion,
                         poll_seconds=poll_interval, max_attempts=max_polling_attempts, cancel_on_kill=cancel_on_kill,
                         deferrable=deferrable, refused=refused, **kwargs)
        self.name = name
        self.virtual_cluster_id = virtual_cluster_id
        self.execution_role_arn = execution_role_arn
        self.release_label = release_label
        self.job_driver = job_driver
        self.configuration_overrides = configuration_overrides
        self.client_request_token = client_request_token
        self.poll_interval = poll_interval
        self.tags = tags
        self.max_polling_attempts = max_polling_attempts
        self.job_retry_max_attempts = job_retry_max_attempts
        self.cancel_on_kill = cancel_on_kill
        self.openlineage_inject_parent_job_info = openlineage_inject_parent_job_info
        self.openlineage_inject_transport_info = openlineage_inject_transport_info

    def build_job(self, context: Context) -> tuple[str, ResumableJob[Any]]:
        extra = ({"retryPolicyConfiguration": {"maxAttempts": self.job_retry_max_attempts}}
                 if self.job_retry_max_attempts else None)
        return self.virtual_cluster_id, EmrEksJob(
            self.client(), self.virtual_cluster_id, self.execution_role_arn, self.release_label, self.job_driver,
            name=self.name, configuration_overrides=self.configuration_overrides, tags=self.tags, extra=extra)

    def stock_xcom(self, result: Any) -> Any:
        return result["job_run_id"] if isinstance(result, Mapping) else result


__all__ = [
    "ResumableEmrAddStepsOperator",
    "ResumableEmrContainerOperator",
    "ResumableEmrServerlessStartJobOperator",
    "status_job",
]
