"""Databricks Jobs for resumable_core, through the official databricks-sdk (docs/databricks.md).

::

    from resumable_adapters.databricks import DatabricksJobsClient, DatabricksSubmitRunJob
    from resumable_adapters.sqlite import SqliteStateStore
    from resumable_core import run_resumable

    client = DatabricksJobsClient("https://adb-1234.azuredatabricks.net", token=token)
    job = DatabricksSubmitRunJob(client, {"run_name": "etl", "tasks": [...]})
    result = run_resumable(job, SqliteStateStore("state.db"), key="etl-2026-11-24")

Each submission's reference is the run's ``idempotency_token``: one run per reference, a new
one per resubmission. Status from ``Run.status``: QUEUED, PENDING, BLOCKED, WAITING,
WAITING_FOR_RETRY, RUNNING, TERMINATING are active; ``TERMINATED <type>/<code>`` ended, a
success only for the codes in *success_codes* (``SUCCESS``). 429 (its ``Retry-After``
honoured), 5xx and timeouts are transient; a 404 on a run is JobNotFound; 401, 403 and
invalid parameters are refusals with the server's message. ``RepairFailedTasks`` makes a
resubmission of a failed multi-task run a repair of its failed tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

# Each public name and the private module that defines it, loaded on first use: the
# ``resumable`` command imports this package to find its commands, and a command that never
# touches Databricks must not pay for the SDK (about 2 s of CPU to import), nor fail without
# the 'databricks' extra. ``_client`` raises the ImportError naming the extra.
_HOMES: dict[str, str] = {
    "ACTIVE_STATES": "_status",
    "DatabricksJobsClient": "_client",
    "DatabricksRunNowJob": "_job",
    "DatabricksRunResult": "_job",
    "DatabricksSubmitRunJob": "_job",
    "RepairFailedTasks": "_repair",
    "RunDeleted": "_client",
    "RunRef": "_repair",
    "SUCCESS_CODES": "_status",
    "TOKEN_MAX": "_client",
    "run_state": "_status",
    "termination_code": "_status",
}

if TYPE_CHECKING:
    from ._client import TOKEN_MAX, DatabricksJobsClient, RunDeleted
    from ._job import DatabricksRunNowJob, DatabricksRunResult, DatabricksSubmitRunJob
    from ._repair import RepairFailedTasks, RunRef
    from ._status import ACTIVE_STATES, SUCCESS_CODES, run_state, termination_code


__getattr__, __dir__ = exports(__name__, _HOMES)


__all__ = [
    "ACTIVE_STATES",
    "SUCCESS_CODES",
    "TOKEN_MAX",
    "DatabricksJobsClient",
    "DatabricksRunNowJob",
    "DatabricksRunResult",
    "DatabricksSubmitRunJob",
    "RepairFailedTasks",
    "RunDeleted",
    "RunRef",
    "run_state",
    "termination_code",
]
