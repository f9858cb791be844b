"""A client process for the SIGKILL tests: one resumable EMR job, held still at one point.

    python -m tests.aws._emr_client ENDPOINT KIND CONTAINER DB KEY POINT READY [DIRECTIVE...]

``after-submit``: StartJobRun / AddJobFlowSteps returned, the id is not recorded yet.
``polling``: the id is recorded and the job is being polled. At that point READY is
written (the job id) and the process waits for the test's SIGKILL.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import run_resumable
from resumable_core.events import Submitted
from tests.aws.emrkit import FAST, make_job


def main() -> int:
    endpoint, kind, container, db, key, point, ready, *directives = sys.argv[1:]
    job = make_job(endpoint, kind, container, directives)
    real_submit = job.submit_job

    def held_submit(reference: str) -> str:
        job_id = real_submit(reference)
        Path(ready).write_text(job_id)
        threading.Event().wait()  # until the SIGKILL
        raise AssertionError("unreachable")

    def listener(event: object) -> None:
        if point == "polling" and isinstance(event, Submitted):
            Path(ready).write_text(event.job_id)

    if point == "after-submit":
        job.submit_job = held_submit  # type: ignore[method-assign]  # the harness's one hook
    with SqliteStateStore(db) as store:
        run_resumable(job, store, key=key, poll=FAST, listener=listener)
    return 0


if __name__ == "__main__":
    sys.exit(main())
