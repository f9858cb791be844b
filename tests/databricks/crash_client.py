"""A client process for the Databricks crash tests: run_resumable + a Databricks job + SQLite.

``python -m tests.databricks.crash_client '<json config>'`` prints one JSON line per event,
then ``{"result": ...}`` or ``{"error": ...}``. ``"kind"``: ``submit`` (``tasks``) or
``run-now`` (``job_id``, ``reference_parameter``); ``"repair"``: repair mode. With
``"crash": "after_submit"`` it SIGKILLs itself right after Databricks answered the submit
(or the repair) and before the core could persist the id (printing ``{"accepted": id,
"reference": ...}`` first).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from resumable_adapters.databricks import (
    DatabricksJobsClient,
    DatabricksRunNowJob,
    DatabricksSubmitRunJob,
    RepairFailedTasks,
)
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Policy, PollPolicy, ResumableError, StateStore, run_resumable
from resumable_core.events import Event


def emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, default=str), flush=True)


def build(config: dict[str, Any], store: StateStore) -> DatabricksSubmitRunJob | DatabricksRunNowJob:
    client = DatabricksJobsClient(config["url"], token=config["token"], timeout=5.0)
    repair = RepairFailedTasks(store, config["key"]) if config.get("repair") else None
    job: DatabricksSubmitRunJob | DatabricksRunNowJob
    if config["kind"] == "submit":
        job = DatabricksSubmitRunJob(client, {"run_name": "crash", "tasks": config["tasks"]}, repair=repair)
    else:
        job = DatabricksRunNowJob(client, config["job_id"], reference_parameter=config.get("reference_parameter"),
                                  repair=repair)
    if config.get("crash") == "after_submit":
        original = job.submit_job

        def submit_then_die(reference: str) -> str:
            job_id = original(reference)
            emit({"accepted": job_id, "reference": reference})
            os.kill(os.getpid(), signal.SIGKILL)  # the crash: no chance to persist the id
            raise AssertionError("unreachable")

        job.submit_job = submit_then_die  # type: ignore[method-assign]  # the one seam a real crash needs
    return job


def on_event(event: Event) -> None:
    emit({"event": type(event).__name__, **dataclasses.asdict(event)})


def run(config: dict[str, Any], listener: Callable[[Event], None] = on_event) -> Any:
    """run_resumable of the configured job on the configured SQLite file (here, or in the tests' process)."""
    poll = PollPolicy(min_interval=0.01, max_interval=0.05, jitter=0.0, transient_attempts=60, transient_seconds=60.0)
    with SqliteStateStore(config["db"]) as store:
        # A short intent lease: a retry that finds nothing by reference waits out the crashed
        # owner's lease before submitting under the same reference (the core's rule 6).
        return run_resumable(build(config, store), store, key=config["key"], poll=poll,
                             policy=Policy(intent_lease=1.0), listener=listener)


def main(config: dict[str, Any]) -> int:
    try:
        result = run(config)
    except ResumableError as exc:
        emit({"error": type(exc).__name__, "message": str(exc)})
        return 1
    emit({"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
