"""A client process for the Flink crash tests: run_resumable + FlinkJob + SqliteStateStore.

``python -m tests.flink.crash_client '<json config>'`` prints one JSON line per event, then
``{"result": ...}`` or ``{"error": ...}``. With ``"crash": "after_submit"`` it SIGKILLs itself
right after the cluster accepted the job and before the core could persist its id (printing
``{"accepted": id}`` first). With ``"lookup": "miss"`` its lookup by reference answers "none"
(as when the JobManager had not registered the job yet), so the retry submits again with the
same reference and must adopt the job from Flink's duplicate refusal.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from resumable_adapters.flink import FlinkJob, FlinkRestClient
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Event, Policy, PollPolicy, ResumableError, run_resumable
from tests.flink.conftest import count_submission
from tests.services.flink import Control, CountJar


def emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, default=str), flush=True)


class CrashAfterSubmit(FlinkJob):
    def submit_job_from(self, reference: str, state: str | None) -> str:
        job_id = super().submit_job_from(reference, state)
        emit({"accepted": job_id, "reference": reference})
        os.kill(os.getpid(), signal.SIGKILL)  # the crash: no chance to persist the id
        raise AssertionError("unreachable")


class LookupMisses(FlinkJob):
    def find_job_by_reference(self, reference: str) -> str | None:
        return None


def on_event(event: Event) -> None:
    emit({"event": type(event).__name__, **dataclasses.asdict(event)})


def main(config: dict[str, Any]) -> int:
    client = FlinkRestClient(config["rest_url"], timeout=10.0)
    submission = count_submission(CountJar(Path(config["jar"])), Control(Path(config["control"])),
                                  Path(config["checkpoints"]))
    job_class: type[FlinkJob] = FlinkJob
    if config.get("crash") == "after_submit":
        job_class = CrashAfterSubmit
    elif config.get("lookup") == "miss":
        job_class = LookupMisses
    job = job_class(client, submission)
    poll = PollPolicy(min_interval=0.1, max_interval=0.3, jitter=0.0, transient_attempts=60, transient_seconds=60.0)
    with SqliteStateStore(config["db"]) as store:
        try:
            result = run_resumable(job, store, key=config["key"], poll=poll, policy=Policy(intent_lease=1.0),
                                   listener=on_event)
        except ResumableError as exc:
            emit({"error": type(exc).__name__, "message": str(exc)})
            return 1
    emit({"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
