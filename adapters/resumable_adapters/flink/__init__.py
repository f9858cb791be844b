"""Flink session clusters for resumable_core: ``FlinkJob`` over the JobManager's REST API.

::

    from resumable_adapters.flink import FlinkJob, FlinkRestClient, FlinkSubmission
    from resumable_adapters.sqlite import SqliteStateStore
    from resumable_core import run_resumable

    client = FlinkRestClient("http://jobmanager:8081")
    job = FlinkJob(client, FlinkSubmission("jobs/etl.jar", entry_class="etl.Main", args=["2026-11-24"]))
    result = run_resumable(job, SqliteStateStore("state.db"), key="etl-2026-11-24")

The job id is the submission reference (32 hex digits), chosen before the submit: a retry
after a crash finds the job by it, and a repeated run with it is refused by Flink as a
duplicate, which counts as "submitted". The jar is uploaded once per content (its name
carries its SHA-256). Job states (flink-core ``JobStatus``): INITIALIZING, CREATED,
RUNNING, FAILING, RESTARTING, CANCELLING, RECONCILING and SUSPENDED are active; FINISHED
succeeded; FAILED, CANCELED and STOPPED (ours: FINISHED by a stop-with-savepoint) failed.
docs/flink.md says more, resumption from checkpoints included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

# Loaded on first use: the ``resumable`` command imports this package to find its commands,
# and a command that never touches Flink must not pay for urllib3, nor fail without it.
_HOMES: dict[str, str] = {
    "Checkpoint": "_model",
    "CheckpointSummary": "_model",
    "FlinkJob": "_job",
    "FlinkJobResult": "_job",
    "FlinkRestClient": "_client",
    "FlinkSubmission": "_model",
    "JarNotFound": "_client",
    "JobDetails": "_model",
    "RunAnswer": "_client",
    "STATES_ACTIVE": "_model",
    "STATES_FAILED": "_model",
    "STATES_SUCCEEDED": "_model",
    "STOPPED": "_model",
    "SavepointOperation": "_model",
    "UploadedJar": "_client",
    "job_id_for": "_model",
    "stop_trigger_id": "_job",
}

if TYPE_CHECKING:
    from ._client import FlinkRestClient, JarNotFound, RunAnswer, UploadedJar
    from ._job import FlinkJob, FlinkJobResult, stop_trigger_id
    from ._model import (
        STATES_ACTIVE,
        STATES_FAILED,
        STATES_SUCCEEDED,
        STOPPED,
        Checkpoint,
        CheckpointSummary,
        FlinkSubmission,
        JobDetails,
        SavepointOperation,
        job_id_for,
    )


__getattr__, __dir__ = exports(__name__, _HOMES)


__all__ = [
    "STATES_ACTIVE",
    "STATES_FAILED",
    "STATES_SUCCEEDED",
    "STOPPED",
    "Checkpoint",
    "CheckpointSummary",
    "FlinkJob",
    "FlinkJobResult",
    "FlinkRestClient",
    "FlinkSubmission",
    "JarNotFound",
    "JobDetails",
    "RunAnswer",
    "SavepointOperation",
    "UploadedJar",
    "job_id_for",
    "stop_trigger_id",
]
