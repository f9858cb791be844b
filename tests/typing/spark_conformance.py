"""Type-checked only (mypy --strict): SparkRestJob satisfies every protocol of the core."""

from __future__ import annotations

from resumable_adapters.spark import SparkDriverResult, SparkRestClient, SparkRestJob, SparkSubmission
from resumable_core import (
    MemoryStateStore,
    ResumableJob,
    SupportsCancel,
    SupportsFindByReference,
    SupportsFingerprint,
    run_resumable,
)


def conformance(client: SparkRestClient, submission: SparkSubmission) -> None:
    job = SparkRestJob(client, submission)
    as_job: ResumableJob[SparkDriverResult] = job
    as_finder: SupportsFindByReference = job
    as_cancel: SupportsCancel = job
    as_fingerprint: SupportsFingerprint = job
    result: SparkDriverResult = run_resumable(job, MemoryStateStore(), key="k")
    del as_job, as_finder, as_cancel, as_fingerprint, result
