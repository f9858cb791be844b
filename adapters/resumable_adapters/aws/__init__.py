"""Amazon EMR for resumable_core, on boto3 (the ``aws`` extra): three jobs, each with find by
reference, cancel and a fingerprint (docs/emr.md).

- ``EmrStepJob``: one step on an EMR on EC2 cluster (AddJobFlowSteps has no client token:
  the reference travels in the step's name and is found again by a ListSteps scan).
- ``EmrServerlessJob``: one EMR Serverless job run, ``clientToken`` = the submission reference.
- ``EmrEksJob``: one EMR on EKS job run, ``clientToken`` and the run's name carry the reference.

::

    import boto3
    from resumable_adapters.aws import EmrServerlessJob
    from resumable_adapters.sqlite import SqliteStateStore
    from resumable_core import run_resumable

    job = EmrServerlessJob(boto3.client("emr-serverless"), "00f1abc", "arn:aws:iam::123456789012:role/etl",
                           {"sparkSubmit": {"entryPoint": "s3://bucket/etl.py"}})
    result = run_resumable(job, SqliteStateStore("state.db"), key="etl-2026-11-24")

Every boto3 failure is mapped at this edge: throttling, HTTP 429 and 5xx, expired
credentials and connection errors are TransientError; ResourceNotFoundException on the
run is JobNotFound; a refused submission (AccessDenied, ValidationException) is
SubmissionRejected with AWS's message. A terminated cluster is ``EmrClusterTerminated``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

# Each public name and the private module that defines it, loaded on first use: the
# ``resumable`` command imports this package to find its emr-* commands, and a command that
# never touches EMR must not pay for botocore, nor fail without the 'aws' extra. ``_boto``
# raises the ImportError naming the extra.
_HOMES: dict[str, str] = {
    "EKS_STATES_ACTIVE": "_emr_runs",
    "EKS_STATES_FAILED": "_emr_runs",
    "EKS_STATES_SUCCEEDED": "_emr_runs",
    "EmrClusterTerminated": "_emr_steps",
    "EmrEksJob": "_emr_runs",
    "EmrRunResult": "_emr_runs",
    "EmrServerlessJob": "_emr_runs",
    "EmrStepJob": "_emr_steps",
    "EmrStepResult": "_emr_steps",
    "SERVERLESS_STATES_ACTIVE": "_emr_runs",
    "SERVERLESS_STATES_FAILED": "_emr_runs",
    "SERVERLESS_STATES_SUCCEEDED": "_emr_runs",
    "STEP_STATES_ACTIVE": "_emr_steps",
    "STEP_STATES_FAILED": "_emr_steps",
    "STEP_STATES_SUCCEEDED": "_emr_steps",
    "eks_run_name": "_emr_runs",
    "reference_of": "_emr_steps",
    "step_name": "_emr_steps",
}

if TYPE_CHECKING:
    from ._emr_runs import (
        EKS_STATES_ACTIVE,
        EKS_STATES_FAILED,
        EKS_STATES_SUCCEEDED,
        SERVERLESS_STATES_ACTIVE,
        SERVERLESS_STATES_FAILED,
        SERVERLESS_STATES_SUCCEEDED,
        EmrEksJob,
        EmrRunResult,
        EmrServerlessJob,
        eks_run_name,
    )
    from ._emr_steps import (
        STEP_STATES_ACTIVE,
        STEP_STATES_FAILED,
        STEP_STATES_SUCCEEDED,
        EmrClusterTerminated,
        EmrStepJob,
        EmrStepResult,
        reference_of,
        step_name,
    )


__getattr__, __dir__ = exports(__name__, _HOMES)


__all__ = [
    "EKS_STATES_ACTIVE",
    "EKS_STATES_FAILED",
    "EKS_STATES_SUCCEEDED",
    "EmrClusterTerminated",
    "EmrEksJob",
    "EmrRunResult",
    "EmrServerlessJob",
    "EmrStepJob",
    "EmrStepResult",
    "SERVERLESS_STATES_ACTIVE",
    "SERVERLESS_STATES_FAILED",
    "SERVERLESS_STATES_SUCCEEDED",
    "STEP_STATES_ACTIVE",
    "STEP_STATES_FAILED",
    "STEP_STATES_SUCCEEDED",
    "eks_run_name",
    "reference_of",
    "step_name",
]
