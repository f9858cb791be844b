"""A client process for the crash tests: run_resumable + SparkRestJob + SqliteStateStore.

``python -m tests.spark.crash_client '<json config>'`` prints one JSON line per event,
then ``{"result": ...}`` or ``{"error": ...}``. With ``"crash": "after_submit"`` it
SIGKILLs itself right after the server accepted the driver and before the core could
persist the driver id (printing ``{"accepted": id}`` first, so the test knows it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from typing import Any

from resumable_adapters.spark import SparkRestClient, SparkRestJob, SparkSubmission
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Event, Policy, PollPolicy, ResumableError, run_resumable


def emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, default=str), flush=True)


class CrashAfterSubmit(SparkRestJob):
    def submit_job(self, reference: str) -> str:
        driver_id = super().submit_job(reference)
        emit({"accepted": driver_id, "reference": reference})
        os.kill(os.getpid(), signal.SIGKILL)  # the crash: no chance to persist the id
        raise AssertionError("unreachable")


def on_event(event: Event) -> None:
    emit({"event": type(event).__name__, **dataclasses.asdict(event)})


def main(config: dict[str, Any]) -> int:
    client = SparkRestClient(config["rest_url"], web_ui_urls=config["web_ui_url"], timeout=10.0)
    submission = SparkSubmission(
        app_resource=config["app_resource"],
        main_class=config["main_class"],
        app_args=(str(config["seconds"]), str(config.get("code", 0))),
        driver_memory="256m",
        name="crash-test",
    )
    job_class = CrashAfterSubmit if config.get("crash") == "after_submit" else SparkRestJob
    job = job_class(client, submission, find_wait=30.0, find_interval=0.3)
    poll = PollPolicy(min_interval=0.2, max_interval=0.5, jitter=0.0, transient_attempts=60, transient_seconds=60.0)
    with SqliteStateStore(config["db"]) as store:
        try:
            result = run_resumable(
                job, store, key=config["key"], poll=poll, policy=Policy(intent_lease=5.0), listener=on_event
            )
        except ResumableError as exc:
            emit({"error": type(exc).__name__, "message": str(exc)})
            return 1
    emit({"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
