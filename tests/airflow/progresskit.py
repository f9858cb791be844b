"""A job for the progress test in real Airflow: it runs until it sees its own progress in the task state store.

Imported by the DAG file inside the Airflow process. Each status query reads the task instance's
``progress`` entry through the task's own task state store accessor and appends what it saw to
a JSON-lines file, so the test can tell that the entry existed while the job was still running.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from resumable_adapters.airflow import ResumableOperator
from resumable_core import PollPolicy
from resumable_core.progress import Count, Progress

UI_URL = "http://job-ui.invalid/runs/1"
MAX_POLLS = 400  # a bound, not a wait: the job ends as soon as it has seen its progress
PROGRESS_POLL = PollPolicy(min_interval=0.05, max_interval=0.1, jitter=0.0, progress_interval=0.0)


class SeesItsProgressJob:
    def __init__(self, accessor: Any, seen_log: Path) -> None:
        self.accessor = accessor
        self.seen_log = seen_log
        self.polls = 0
        self.seen = False

    def submit_job(self, reference: str) -> str:
        return "probe-1"

    def get_job_status(self, job_id: str) -> str:
        self.polls += 1
        entry = self.accessor.get("progress")
        if entry is not None:
            with self.seen_log.open("a") as log:
                log.write(json.dumps({"poll": self.polls, "entry": entry}) + "\n")
            self.seen = True
        return "SUCCEEDED" if (self.seen and self.polls >= 3) or self.polls >= MAX_POLLS else "RUNNING"

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def get_job_result(self, job_id: str, status: str) -> dict[str, Any]:
        return {"polls": self.polls, "seen": self.seen}

    def job_progress(self, job_id: str) -> Progress:
        return Progress(counts=(Count("steps", self.polls, 10),), label=f"step {self.polls}", ui_url=UI_URL)


def progress_operator(task_id: str, seen_log: str) -> ResumableOperator:
    return ResumableOperator(
        task_id=task_id,
        job=lambda context: SeesItsProgressJob(context["task_state_store"], Path(seen_log)),
        poll=PROGRESS_POLL,
    )
