"""What the accepted-submission DAG uses (issue 17, item 1): a file-backed job whose first submit
creates the job and answers None, as a buggy adapter would, with or without a lookup.

Imported by the DAG file inside the Airflow process (PYTHONPATH is the repo root).
"""

from __future__ import annotations

import os
from typing import Any

from resumable_adapters.airflow import ResumableOperator
from resumable_core import JsonValue, ResumableJob
from tests.airflow.dagkit import FAST_POLL
from tests.airflow.filejob import FileJob, FileJobSystem


class NoIdOnceJob:
    """A FileJob without lookup whose submit answers None while the trigger "no-id" is armed."""

    def __init__(self, root: str) -> None:
        self.inner = FileJob(root, running_polls=1)
        self.system = self.inner.system

    def submit_job(self, reference: str) -> str:
        job_id = self.inner.submit_job(reference)  # the system did create it...
        if self.system.take("no-id"):
            return None  # type: ignore[return-value]  # ...and the adapter answered nonsense
        return job_id

    def get_job_status(self, job_id: str) -> str:
        return self.inner.get_job_status(job_id)

    def is_job_active(self, status: str) -> bool:
        return self.inner.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.inner.is_job_succeeded(status)

    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        return self.inner.get_job_result(job_id, status)


class FindableNoIdOnceJob(NoIdOnceJob):
    """The same, with the FileJob's lookup by reference."""

    def find_job_by_reference(self, reference: str) -> str | None:
        return self.inner.find_job_by_reference(reference)


class NoIdOnceOperator(ResumableOperator):
    """ResumableOperator on NoIdOnceJob (``lookup``: FindableNoIdOnceJob), its jobs under ``<jobs>/<task_id>``."""

    def __init__(self, *, jobs: str, lookup: bool, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST_POLL)
        super().__init__(**kwargs)
        self.root = os.path.join(jobs, self.task_id)
        FileJobSystem(self.root)
        self.lookup = lookup

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return FindableNoIdOnceJob(self.root) if self.lookup else NoIdOnceJob(self.root)
