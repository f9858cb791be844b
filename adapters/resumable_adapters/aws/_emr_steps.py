"""EmrStepJob: one step on an EMR on EC2 cluster, as a ResumableJob with every capability.

``AddJobFlowSteps`` takes no client token, so the reference travels in the step's name:
``<the user's name> [resumable:<reference>]`` (the user's name kept, shortened when the
two would pass EMR's 256 characters). After a crash between submit and persist the step
is found again by scanning ``ListSteps`` of the cluster, every page (EMR has no name
filter: the match is ours), newest first.

A cluster that is terminating or terminated takes no step, and a step of a cluster EMR
no longer knows cannot be asked about: both raise ``EmrClusterTerminated`` (a
SubmissionRejected), never JobNotFound, so the core does not resubmit into a cluster
that will never run it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from resumable_core import InvalidArgument, JobNotFound, JsonValue, ProtocolError, SubmissionRejected
from resumable_core.redaction import redact

from ._batch import active_statuses, emr_batch_key, listed_pages
from ._boto import aws_call, error_code, fingerprint, iso, text_field

STEP_STATES_ACTIVE = frozenset({"PENDING", "RUNNING", "CANCEL_PENDING"})
STEP_STATES_SUCCEEDED = frozenset({"COMPLETED"})
STEP_STATES_FAILED = frozenset({"CANCELLED", "FAILED", "INTERRUPTED"})
STEP_STATES = STEP_STATES_ACTIVE | STEP_STATES_SUCCEEDED | STEP_STATES_FAILED
CLUSTER_STATES_ENDED = frozenset({"TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"})

_NAME_MAX = 256  # EMR's limit on a step's name
_REFERENCE_IN_NAME = re.compile(r" \[resumable:([0-9A-Za-z_-]{1,64})\]$")
_STEP_ID = re.compile(r"s-[0-9A-Za-z]{1,64}")

EmrStepResult = dict[str, JsonValue]


class EmrClusterTerminated(SubmissionRejected):
    """The cluster is terminating, terminated, or unknown to EMR: no step of it can run again.

    A SubmissionRejected, so a submission into it ends the intent as failed; raised by a
    status check too, where it stops the run instead of a resubmission into nothing.
    """


def step_name(name: str, reference: str) -> str:
    """The step's name carrying *reference*: the user's name, shortened if need be, then the tag."""
    tag = f" [resumable:{reference}]"
    return name[: _NAME_MAX - len(tag)] + tag


def reference_of(name: str) -> str | None:
    """The reference a step's name carries, None when it carries none."""
    match = _REFERENCE_IN_NAME.search(name)
    return match.group(1) if match else None


def _check_reference(reference: str) -> None:
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", reference):
        raise InvalidArgument(f"an EMR step reference must be 1-64 of [0-9A-Za-z_-], got {reference!r}")


def check_step_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _STEP_ID.fullmatch(job_id):
        raise InvalidArgument(f"not an EMR step id: {job_id!r}", job_id=str(job_id))
    return job_id


class EmrStepJob:
    """One step (the ``Steps`` item of ``AddJobFlowSteps``) on the cluster *cluster_id*.

    *client* is a boto3 ``emr`` client (its retry configuration is the caller's: each
    error it finally raises is mapped here). *step* is the step as boto3 takes it:
    ``Name``, ``ActionOnFailure``, ``HadoopJarStep``. *execution_role_arn*: the runtime
    role, passed to AddJobFlowSteps when given. *cancel_option*: ``SEND_INTERRUPT``
    (EMR's default) or ``TERMINATE_PROCESS``.

    The result is JSON: ``cluster_id``, ``step_id``, ``name``, ``state``, ``reason``
    (EMR's state change message or failure reason), ``log_file``, ``started_at``,
    ``ended_at``.
    """

    def __init__(
        self,
        client: Any,
        cluster_id: str,
        step: Mapping[str, Any],
        *,
        execution_role_arn: str | None = None,
        cancel_option: str = "SEND_INTERRUPT",
    ) -> None:
        if not isinstance(cluster_id, str) or not cluster_id:
            raise InvalidArgument(f"EmrStepJob needs a cluster id, got {cluster_id!r}")
        if not isinstance(step, Mapping) or not isinstance(step.get("Name"), str) or not step.get("Name"):
            raise InvalidArgument("EmrStepJob needs one step, a mapping with a non-empty Name")
        if not isinstance(step.get("HadoopJarStep"), Mapping):
            raise InvalidArgument(f"EMR step {step['Name']!r} has no HadoopJarStep")
        if cancel_option not in ("SEND_INTERRUPT", "TERMINATE_PROCESS"):
            raise InvalidArgument(f"EmrStepJob cancel_option must be SEND_INTERRUPT or TERMINATE_PROCESS, "
                                  f"got {cancel_option!r}")
        self.client = client
        self.cluster_id = cluster_id
        self.step: dict[str, Any] = dict(step)
        self.execution_role_arn = execution_role_arn
        self.cancel_option = cancel_option
        self._last: dict[str, Mapping[str, Any]] = {}

    def __repr__(self) -> str:
        return redact(f"EmrStepJob(cluster_id={self.cluster_id!r}, name={self.step['Name']!r})")

    def _what(self, operation: str, job_id: str | None = None) -> str:
        return f"EMR {operation} on cluster {self.cluster_id}" + (f" step {job_id}" if job_id else "")

    # -- ResumableJob -------------------------------------------------------------------------

    def submit_job(self, reference: str) -> str:
        _check_reference(reference)
        self._check_cluster_takes_steps()
        request: dict[str, Any] = {
            "JobFlowId": self.cluster_id,
            "Steps": [{**self.step, "Name": step_name(self.step["Name"], reference)}],
        }
        if self.execution_role_arn is not None:
            request["ExecutionRoleArn"] = self.execution_role_arn
        try:
            answer = aws_call(self._what("AddJobFlowSteps"), self.client.add_job_flow_steps, submitting=True,
                              **request)
        except SubmissionRejected:
            self._check_cluster_takes_steps()  # terminated since we looked: say so, by its own type
            raise
        ids = answer.get("StepIds") if isinstance(answer, Mapping) else None
        if not isinstance(ids, list) or len(ids) != 1 or not isinstance(ids[0], str) or not ids[0]:
            raise ProtocolError(f"{self._what('AddJobFlowSteps')}: expected one step id, got {ids!r}")
        return ids[0]

    def get_job_status(self, job_id: str) -> str:
        step = self._describe(check_step_id(job_id))
        state = text_field(step, "Status", "State", what=self._what("DescribeStep", job_id), job_id=job_id)
        if state not in STEP_STATES:
            raise ProtocolError(f"{self._what('DescribeStep', job_id)}: unknown state", job_id=job_id, status=state)
        return state

    def is_job_active(self, status: str) -> bool:
        return status in STEP_STATES_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return status in STEP_STATES_SUCCEEDED

    def get_job_result(self, job_id: str, status: str) -> EmrStepResult:
        step = self._last.get(job_id) or self._describe(check_step_id(job_id))
        state_of = step.get("Status", {})
        failure = state_of.get("FailureDetails") or {}
        timeline = state_of.get("Timeline") or {}
        reason = failure.get("Message") or failure.get("Reason") or (state_of.get("StateChangeReason") or {}).get("Message")
        return {
            "cluster_id": self.cluster_id,
            "step_id": job_id,
            "name": step.get("Name"),
            "state": status,
            "reason": redact(str(reason)) if reason else None,
            "log_file": failure.get("LogFile"),
            "started_at": iso(timeline.get("StartDateTime")),
            "ended_at": iso(timeline.get("EndDateTime")),
        }

    # -- capabilities -------------------------------------------------------------------------

    def find_job_by_reference(self, reference: str) -> str | None:
        """The step whose name carries *reference*: a scan of every ListSteps page, newest first."""
        _check_reference(reference)
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"ClusterId": self.cluster_id}
            if marker:
                kwargs["Marker"] = marker
            page = self._cluster_call("ListSteps", self.client.list_steps, **kwargs)
            for step in page.get("Steps") or []:
                if isinstance(step, Mapping) and reference_of(str(step.get("Name", ""))) == reference:
                    return text_field(step, "Id", what=self._what("ListSteps"))
            marker = page.get("Marker")
            if not marker:
                return None

    def cancel_job(self, job_id: str) -> None:
        """CancelSteps; a step that already ended is not an error (EMR answers FAILED for it)."""
        check_step_id(job_id)
        try:
            answer = self._cluster_call("CancelSteps", self.client.cancel_steps, job_id=job_id,
                                        ClusterId=self.cluster_id, StepIds=[job_id],
                                        StepCancellationOption=self.cancel_option)
        except InvalidArgument:  # a terminated cluster refuses any change: its steps ended with it
            if self.get_job_status(job_id) in STEP_STATES_ACTIVE:
                raise
            return
        for info in answer.get("CancelStepsInfoList") or []:
            if info.get("StepId") == job_id and info.get("Status") == "FAILED":
                state = self.get_job_status(job_id)
                if state in STEP_STATES_ACTIVE:
                    raise SubmissionRejected(
                        f"{self._what('CancelSteps', job_id)} refused: {info.get('Reason') or 'no reason given'}",
                        job_id=job_id, status=state,
                    )

    # -- batched status (resumable_core.aio.SupportsBatchStatus) ---------------------------------

    @property
    def batch_key(self) -> str:
        """The cluster, the endpoint and region, and the credentials: what one ListSteps covers."""
        return emr_batch_key("emr-steps", self.client, self.cluster_id)

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The active steps among *job_ids*: one ListSteps of the cluster filtered to the active
        states, every page. A step that ended is not listed: the core asks it directly (that read
        is the one its result comes from), as it asks a step the listing has not caught up with."""
        steps = listed_pages(self._what("ListSteps"), self.client.list_steps, "Steps", "Marker", "Marker",
                             ClusterId=self.cluster_id, StepStates=sorted(STEP_STATES_ACTIVE))
        return active_statuses(steps, set(job_ids), STEP_STATES_ACTIVE, lambda s: s.get("Id"),
                               lambda s: (s.get("Status") or {}).get("State"))

    def job_fingerprint(self) -> str:
        return fingerprint("emr-step", {"cluster_id": self.cluster_id, "step": self.step,
                                        "execution_role_arn": self.execution_role_arn})

    # -- helpers ------------------------------------------------------------------------------

    def _describe(self, job_id: str) -> Mapping[str, Any]:
        answer = self._cluster_call("DescribeStep", self.client.describe_step, job_id=job_id,
                                    ClusterId=self.cluster_id, StepId=job_id)
        step = answer.get("Step") if isinstance(answer, Mapping) else None
        if not isinstance(step, Mapping):
            raise ProtocolError(f"{self._what('DescribeStep', job_id)}: the answer has no Step", job_id=job_id)
        self._last[job_id] = step
        return step

    def _cluster_call(self, operation: str, call: Any, *, job_id: str | None = None, **kwargs: Any) -> Any:
        """A call about the cluster's steps. EMR answers InvalidRequestException both for a step
        and for a cluster it does not know: DescribeCluster tells which (JobNotFound or
        EmrClusterTerminated)."""
        try:
            return aws_call(self._what(operation, job_id), call, job_id=job_id, **kwargs)
        except InvalidArgument as exc:  # the edge's mapping of a 4xx outside a submission
            if error_code(exc.__cause__ or exc) not in ("InvalidRequestException", "ResourceNotFoundException"):
                raise
            self._check_cluster_known(job_id)
            if job_id is None:
                raise
            raise JobNotFound(exc.message.replace(" refused:", ":", 1), job_id=job_id) from exc

    def _describe_cluster(self, job_id: str | None) -> Mapping[str, Any] | None:
        """The cluster, or None when EMR does not know it (any more)."""
        try:
            answer = aws_call(self._what("DescribeCluster"), self.client.describe_cluster, job_id=job_id,
                              ClusterId=self.cluster_id)
        except InvalidArgument as exc:
            if error_code(exc.__cause__ or exc) in ("InvalidRequestException", "ResourceNotFoundException"):
                return None
            raise
        cluster = answer.get("Cluster") if isinstance(answer, Mapping) else None
        if not isinstance(cluster, Mapping):
            raise ProtocolError(f"{self._what('DescribeCluster')}: the answer has no Cluster", job_id=job_id)
        return cluster

    def _check_cluster_known(self, job_id: str | None) -> None:
        if self._describe_cluster(job_id) is None:
            raise EmrClusterTerminated(
                f"EMR does not know cluster {self.cluster_id} (terminated long ago, or a wrong id): "
                "its steps cannot be asked about, and no step can be added to it",
                job_id=job_id,
            )

    def _check_cluster_takes_steps(self) -> None:
        cluster = self._describe_cluster(None)
        if cluster is None:
            self._check_cluster_known(None)
            return
        status = cluster.get("Status") or {}
        state = status.get("State")
        if state in CLUSTER_STATES_ENDED:
            reason = (status.get("StateChangeReason") or {}).get("Message")
            raise EmrClusterTerminated(
                f"EMR cluster {self.cluster_id} is {state}"
                + (f" ({reason})" if reason else "")
                + ": it takes no new step; start a new cluster and give its id",
                status=str(state),
            )


__all__ = [
    "CLUSTER_STATES_ENDED",
    "STEP_STATES_ACTIVE",
    "STEP_STATES_FAILED",
    "STEP_STATES_SUCCEEDED",
    "EmrClusterTerminated",
    "EmrStepJob",
    "EmrStepResult",
    "check_step_id",
    "reference_of",
    "step_name",
]
