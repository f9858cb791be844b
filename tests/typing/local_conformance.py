"""Type-checked only (mypy --strict): LocalProcessJob satisfies every protocol it claims."""

from __future__ import annotations

from resumable_adapters.local import LocalProcessJob
from resumable_core import (
    JsonValue,
    MemoryStateStore,
    ResumableJob,
    SupportsCancel,
    SupportsFindByReference,
    SupportsFingerprint,
    run_resumable,
)

job = LocalProcessJob(["true"], jobs_dir="/tmp/jobs")
as_job: ResumableJob[dict[str, JsonValue]] = job
as_finder: SupportsFindByReference = job
as_canceller: SupportsCancel = job
as_fingerprinted: SupportsFingerprint = job


def result_is_a_json_dict() -> dict[str, JsonValue]:
    return run_resumable(job, MemoryStateStore(), key="k")
