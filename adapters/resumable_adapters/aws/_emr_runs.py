"""EMR Serverless and EMR on EKS job runs: ``StartJobRun`` with ``clientToken`` = the submission reference.

The core makes a new reference for each submission and persists it before the call, so:
a create replayed after a crash (same reference) returns the same run, and a resubmission
after a failure (new reference) starts a new one. botocore would fill an omitted token
with a random one, which no restart can replay; Airflow's stock Serverless operator fixes
one token for the task's whole life, so its retries get the old failed run back.

Finding a run again after a crash between submit and persist:

- EMR on EKS: the reference also travels in the run's name (``<name>.<reference>``), and
  ``ListJobRuns`` filters by name: the run is listed, or none was made.
- EMR Serverless: ``ListJobRuns`` has no name filter and its summaries no token; the token
  replay itself is the lookup: ``find_job_by_reference`` calls StartJobRun again with the
  same token and spec, which returns the run the first call made, or makes it now (the
  submission the core would make next anyway, with that same token). It never answers
  None. AWS keeps a token for a limited time (hours): a replay later than that starts a
  new run, so an intent left that long needs a human (``Policy.on_ambiguous``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from resumable_core import InvalidArgument, JsonValue, ProtocolError
from resumable_core.redaction import redact

from ._batch import active_statuses, emr_batch_key, listed_pages
from ._boto import aws_call, fingerprint, iso, text_field

SERVERLESS_STATES_ACTIVE = frozenset({"SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED", "CANCELLING"})
SERVERLESS_STATES_SUCCEEDED = frozenset({"SUCCESS"})
SERVERLESS_STATES_FAILED = frozenset({"FAILED", "CANCELLED"})
EKS_STATES_ACTIVE = frozenset({"PENDING", "SUBMITTED", "RUNNING", "CANCEL_PENDING"})
EKS_STATES_SUCCEEDED = frozenset({"COMPLETED"})
EKS_STATES_FAILED = frozenset({"FAILED", "CANCELLED"})

_TOKEN = re.compile(r"[0-9A-Za-z_-]{1,40}")  # fits clientToken (64) and, with a name, an EKS run name (64)
_EKS_NAME_MAX = 64
_EKS_NAME = re.compile(r"[.\-_/#A-Za-z0-9]+")
_RUN_ID = re.compile(r"[0-9A-Za-z]{1,64}")

EmrRunResult = dict[str, JsonValue]


def _check_reference(reference: str, system: str) -> None:
    if not isinstance(reference, str) or not _TOKEN.fullmatch(reference):
        raise InvalidArgument(f"an {system} client token must be 1-40 of [0-9A-Za-z_-], got {reference!r}")


def _check_run_id(job_id: str, system: str) -> str:
    if not isinstance(job_id, str) or not _RUN_ID.fullmatch(job_id):
        raise InvalidArgument(f"not an {system} job run id: {job_id!r}", job_id=str(job_id))
    return job_id


def _optional(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


class _JobRunJob:
    """What both job run APIs share: states, the token, cancel, the result."""

    system = ""
    active: frozenset[str] = frozenset()
    succeeded: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    read_operation = ("", "")  # the boto3 method and the API operation that read one run
    client: Any
    _last: dict[str, Mapping[str, Any]]

    def is_job_active(self, status: str) -> bool:
        return status in self.active

    def is_job_succeeded(self, status: str) -> bool:
        return status in self.succeeded

    def get_job_status(self, job_id: str) -> str:
        run = self._describe(_check_run_id(job_id, self.system))
        state = text_field(run, "state", what=f"{self.system} job run {job_id}", job_id=job_id)
        if state not in self.active | self.succeeded | self.failed:
            raise ProtocolError(f"{self.system} job run {job_id} is in an unknown state", job_id=job_id, status=state)
        return state

    def cancel_job(self, job_id: str) -> None:
        """CancelJobRun; a run that already ended is not an error (EMR may refuse the cancel of one)."""
        _check_run_id(job_id, self.system)
        try:
            self._cancel(job_id)
        except InvalidArgument:
            if self.get_job_status(job_id) in self.active:
                raise

    # -- batched status (resumable_core.aio.SupportsBatchStatus) ---------------------------------

    @property
    def batch_key(self) -> str:
        """The container, the endpoint and region, and the credentials: what one ListJobRuns covers."""
        return emr_batch_key(self.system, self.client, self._container())

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The active runs among *job_ids*: one ListJobRuns of the container filtered to the active
        states, every page. A run that ended is not listed: the core asks it directly (that read is
        the one its result comes from), as it asks a run the listing has not caught up with."""
        runs = listed_pages(f"{self.system} ListJobRuns {self._where()}", self.client.list_job_runs, "jobRuns",
                            "nextToken", "nextToken", **self._listing(), states=sorted(self.active))
        return active_statuses(runs, set(job_ids), self.active, lambda r: r.get("id"), lambda r: r.get("state"))

    def _container(self) -> str:
        """The application or virtual cluster id."""
        raise NotImplementedError

    def _listing(self) -> dict[str, Any]:
        """The members that name the container in ListJobRuns."""
        raise NotImplementedError

    def _run_result(self, job_id: str, status: str) -> dict[str, JsonValue]:
        run = self._last.get(job_id) or self._describe(_check_run_id(job_id, self.system))
        details = run.get("stateDetails") or run.get("failureReason")
        return {
            "job_run_id": job_id,
            "name": run.get("name"),
            "arn": run.get("arn"),
            "state": status,
            "state_details": redact(str(details)) if details else None,
            "created_at": iso(run.get("createdAt")),
            "ended_at": iso(run.get("finishedAt") or (run.get("updatedAt") if status not in self.active else None)),
        }

    def _where(self) -> str:
        """The container, in words: ``on application X``."""
        raise NotImplementedError

    def _run_ids(self, job_id: str) -> dict[str, Any]:
        """The members that name run *job_id* in GetJobRun / DescribeJobRun / CancelJobRun."""
        raise NotImplementedError

    def _describe(self, job_id: str) -> Mapping[str, Any]:
        method, operation = self.read_operation
        what = f"{self.system} {operation} {job_id} {self._where()}"
        answer = aws_call(what, getattr(self.client, method), job_id=job_id, **self._run_ids(job_id))
        run = answer.get("jobRun") if isinstance(answer, Mapping) else None
        if not isinstance(run, Mapping):
            raise ProtocolError(f"{what}: the answer has no jobRun", job_id=job_id)
        self._last[job_id] = run
        return run

    def _cancel(self, job_id: str) -> None:
        aws_call(f"{self.system} CancelJobRun {job_id} {self._where()}", self.client.cancel_job_run, job_id=job_id,
                 **self._run_ids(job_id))


class EmrServerlessJob(_JobRunJob):
    """One job run on the EMR Serverless application *application_id*.

    *client*: a boto3 ``emr-serverless`` client. The other arguments are StartJobRun's
    (``jobDriver``, ``configurationOverrides``, ``tags``, ``executionTimeoutMinutes``,
    ``name``); *extra* adds any member this class does not name (``mode``,
    ``retryPolicy``, ...). The result is JSON: ``application_id``, ``job_run_id``,
    ``name``, ``arn``, ``state``, ``state_details``, ``created_at``, ``ended_at``.
    """

    system = "EMR Serverless"
    active, succeeded, failed = SERVERLESS_STATES_ACTIVE, SERVERLESS_STATES_SUCCEEDED, SERVERLESS_STATES_FAILED
    read_operation = ("get_job_run", "GetJobRun")

    def __init__(
        self,
        client: Any,
        application_id: str,
        execution_role_arn: str,
        job_driver: Mapping[str, Any],
        *,
        configuration_overrides: Mapping[str, Any] | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        execution_timeout_minutes: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if not application_id or not execution_role_arn or not isinstance(job_driver, Mapping) or not job_driver:
            raise InvalidArgument("EmrServerlessJob needs an application id, an execution role ARN and a job driver")
        if extra and "clientToken" in extra:
            raise InvalidArgument("EmrServerlessJob sets clientToken itself (the submission reference): "
                                  "a fixed token would return an old failed run on every retry")
        self.client = client
        self.application_id = application_id
        self.request: dict[str, Any] = {
            "applicationId": application_id,
            "executionRoleArn": execution_role_arn,
            "jobDriver": dict(job_driver),
            **_optional(configurationOverrides=configuration_overrides, name=name, tags=tags,
                        executionTimeoutMinutes=execution_timeout_minutes),
            **(extra or {}),
        }
        self._last = {}

    def __repr__(self) -> str:
        return redact(f"EmrServerlessJob(application_id={self.application_id!r}, name={self.request.get('name')!r})")

    def submit_job(self, reference: str) -> str:
        _check_reference(reference, self.system)
        answer = aws_call(f"{self.system} StartJobRun on application {self.application_id}",
                          self.client.start_job_run, submitting=True, clientToken=reference, **self.request)
        return text_field(answer, "jobRunId", what=f"{self.system} StartJobRun")

    def find_job_by_reference(self, reference: str) -> str | None:
        """The run StartJobRun made with this token: the replay returns it (or makes it now)."""
        return self.submit_job(reference)

    def get_job_result(self, job_id: str, status: str) -> EmrRunResult:
        return {"application_id": self.application_id, **self._run_result(job_id, status)}

    def job_fingerprint(self) -> str:
        return fingerprint("emr-serverless", self.request)

    def _where(self) -> str:
        return f"on application {self.application_id}"

    def _container(self) -> str:
        return self.application_id

    def _listing(self) -> dict[str, Any]:
        return {"applicationId": self.application_id}

    def _run_ids(self, job_id: str) -> dict[str, Any]:
        return {"applicationId": self.application_id, "jobRunId": job_id}


def eks_run_name(name: str | None, reference: str) -> str:
    """The EKS run's name carrying *reference*: ``<name>.<reference>``, the name shortened to fit 64."""
    prefix = (name or "resumable")[: _EKS_NAME_MAX - len(reference) - 1]
    return f"{prefix}.{reference}"


class EmrEksJob(_JobRunJob):
    """One job run on the EMR on EKS virtual cluster *virtual_cluster_id* (the ``emr-containers`` API).

    *client*: a boto3 ``emr-containers`` client. The other arguments are StartJobRun's;
    *name* is kept as the start of the run's name, which also carries the reference (EKS
    names: 1-64 of ``[.-_/#A-Za-z0-9]``). The result is JSON: ``virtual_cluster_id``,
    ``job_run_id``, ``name``, ``arn``, ``state``, ``state_details``, ``created_at``,
    ``ended_at``.
    """

    system = "EMR on EKS"
    active, succeeded, failed = EKS_STATES_ACTIVE, EKS_STATES_SUCCEEDED, EKS_STATES_FAILED
    read_operation = ("describe_job_run", "DescribeJobRun")

    def __init__(
        self,
        client: Any,
        virtual_cluster_id: str,
        execution_role_arn: str,
        release_label: str,
        job_driver: Mapping[str, Any],
        *,
        name: str | None = None,
        configuration_overrides: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if not virtual_cluster_id or not execution_role_arn or not release_label or not job_driver:
            raise InvalidArgument("EmrEksJob needs a virtual cluster id, an execution role ARN, a release label "
                                  "and a job driver")
        if name is not None and not _EKS_NAME.fullmatch(name):
            raise InvalidArgument(f"an EMR on EKS run name is made of [.-_/#A-Za-z0-9], got {name!r}")
        if extra and ({"clientToken", "name"} & set(extra)):
            raise InvalidArgument("EmrEksJob sets clientToken and the run's name itself (they carry the reference)")
        self.client = client
        self.virtual_cluster_id = virtual_cluster_id
        self.name = name
        self.request: dict[str, Any] = {
            "virtualClusterId": virtual_cluster_id,
            "executionRoleArn": execution_role_arn,
            "releaseLabel": release_label,
            "jobDriver": dict(job_driver),
            **_optional(configurationOverrides=configuration_overrides, tags=tags),
            **(extra or {}),
        }
        self._last = {}

    def __repr__(self) -> str:
        return redact(f"EmrEksJob(virtual_cluster_id={self.virtual_cluster_id!r}, name={self.name!r})")

    def submit_job(self, reference: str) -> str:
        _check_reference(reference, self.system)
        answer = aws_call(f"{self.system} StartJobRun on virtual cluster {self.virtual_cluster_id}",
                          self.client.start_job_run, submitting=True, clientToken=reference,
                          name=eks_run_name(self.name, reference), **self.request)
        return text_field(answer, "id", what=f"{self.system} StartJobRun")

    def find_job_by_reference(self, reference: str) -> str | None:
        """The run named for *reference*: ListJobRuns filtered by that name, every page."""
        _check_reference(reference, self.system)
        wanted = eks_run_name(self.name, reference)
        what = f"{self.system} ListJobRuns on virtual cluster {self.virtual_cluster_id}"
        found: list[Mapping[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"virtualClusterId": self.virtual_cluster_id, "name": wanted}
            if token:
                kwargs["nextToken"] = token
            page = aws_call(what, self.client.list_job_runs, not_found=False, **kwargs)
            # The filter's matching rule is not documented: the exact name is checked here.
            found += [r for r in page.get("jobRuns") or [] if isinstance(r, Mapping) and r.get("name") == wanted]
            token = page.get("nextToken")
            if not token:
                break
        if not found:
            return None
        newest = max(found, key=lambda r: iso(r.get("createdAt")) or "")
        return text_field(newest, "id", what=what)

    def get_job_result(self, job_id: str, status: str) -> EmrRunResult:
        return {"virtual_cluster_id": self.virtual_cluster_id, **self._run_result(job_id, status)}

    def job_fingerprint(self) -> str:
        return fingerprint("emr-eks", {**self.request, "name": self.name})

    def _where(self) -> str:
        return f"on virtual cluster {self.virtual_cluster_id}"

    def _container(self) -> str:
        return self.virtual_cluster_id

    def _listing(self) -> dict[str, Any]:
        return {"virtualClusterId": self.virtual_cluster_id}

    def _run_ids(self, job_id: str) -> dict[str, Any]:
        return {"id": job_id, "virtualClusterId": self.virtual_cluster_id}


__all__ = [
    "EKS_STATES_ACTIVE",
    "EKS_STATES_FAILED",
    "EKS_STATES_SUCCEEDED",
    "SERVERLESS_STATES_ACTIVE",
    "SERVERLESS_STATES_FAILED",
    "SERVERLESS_STATES_SUCCEEDED",
    "EmrEksJob",
    "EmrRunResult",
    "EmrServerlessJob",
    "eks_run_name",
]
