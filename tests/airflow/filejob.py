"""A fake external system whose jobs live in files, so that they outlive the process that submitted them.

resumable_core.testing's fakes are in-process; these tests kill the Airflow
process mid-task and resume in another one, and the job must still be there.
Each job is one JSON file under ``<root>/jobs``; every submission and cancel
is appended to a log the tests read. One-shot triggers (files under
``<root>/triggers``) make the next status query crash the process, send it
SIGTERM, or call a hook: the ways a task gets interrupted in real life.
``TriggeredJob`` adds those triggers to any job (the Spark one included).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from resumable_core import JobNotFound, JsonValue, ResumableJob, SupportsCancel, SupportsFindByReference

R = TypeVar("R")

CRASH_EXIT_CODE = 86  # what a crashed try exits with: recognisable in the test's assertion

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"


class FileJobSystem:
    """Paths and logs of one fake system rooted at a directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.jobs = self.root / "jobs"
        self.triggers = self.root / "triggers"
        for directory in (self.jobs, self.triggers):
            directory.mkdir(parents=True, exist_ok=True)

    def arm(self, trigger: str) -> None:
        """Make the next status query fire *trigger* once: "crash", "sigterm" or "hook"."""
        (self.triggers / trigger).touch()

    def armed(self, trigger: str) -> bool:
        return (self.triggers / trigger).exists()

    def take(self, trigger: str) -> bool:
        """Consume *trigger*; True when it was armed (removed before acting, so it fires once)."""
        try:
            (self.triggers / trigger).unlink()
        except FileNotFoundError:
            return False
        return True

    def log(self, name: str) -> list[dict[str, Any]]:
        path = self.root / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def append(self, name: str, entry: dict[str, Any]) -> None:
        with (self.root / f"{name}.jsonl").open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def job(self, job_id: str) -> dict[str, Any] | None:
        path = self.jobs / f"{job_id}.json"
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def save(self, job: dict[str, Any]) -> None:
        path = self.jobs / f"{job['job_id']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(job))
        os.replace(tmp, path)

    def new_job_id(self) -> str:
        # Named after the root (tests give each task its own), so ids are unique across roots.
        for number in itertools.count(len(list(self.jobs.glob("*.json"))) + 1):
            job_id = f"{self.root.name}-{number:04d}"
            if not (self.jobs / f"{job_id}.json").exists():
                return job_id
        raise AssertionError("unreachable")


class FileJob:
    """A ResumableJob on a FileJobSystem; it supports cancel and lookup by reference.

    A job is RUNNING for *running_polls* status queries, then SUCCEEDED with
    ``{"job_id": ..., "value": value}`` as its result; ``running_polls=-1``
    keeps it running until cancelled.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        value: JsonValue = "done",
        running_polls: int = 2,
    ) -> None:
        self.system = FileJobSystem(root)
        self.value = value
        self.running_polls = running_polls

    def submit_job(self, reference: str) -> str:
        job_id = self.system.new_job_id()
        self.system.save(
            {"job_id": job_id, "reference": reference, "status": RUNNING, "polls": 0,
             "running_polls": self.running_polls, "value": self.value}
        )
        self.system.append("submissions", {"job_id": job_id, "reference": reference, "pid": os.getpid()})
        return job_id

    def get_job_status(self, job_id: str) -> str:
        job = self.system.job(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id}", job_id=job_id)
        if job["status"] == RUNNING:
            job["polls"] += 1
            if 0 <= job["running_polls"] <= job["polls"]:
                job["status"] = SUCCEEDED
            self.system.save(job)
        status: str = job["status"]
        return status

    def is_job_active(self, status: str) -> bool:
        return status == RUNNING

    def is_job_succeeded(self, status: str) -> bool:
        return status == SUCCEEDED

    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        job = self.system.job(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id}", job_id=job_id)
        result: JsonValue = {"job_id": job_id, "value": job["value"]}
        return result

    def cancel_job(self, job_id: str) -> None:
        job = self.system.job(job_id)
        if job is None:
            return
        if job["status"] == RUNNING:
            job["status"] = CANCELLED
            self.system.save(job)

    def find_job_by_reference(self, reference: str) -> str | None:
        for path in sorted(self.system.jobs.glob("*.json")):
            job = json.loads(path.read_text())
            if job["reference"] == reference:
                found: str = job["job_id"]
                return found
        return None


class TriggeredJob(Generic[R]):
    """*inner* with the armed triggers of *system* fired on its next status query.

    The query comes after the core persisted the job id (the core polls only
    once the id is recorded), so "crash" there is a crash inside the window a
    retry must reattach from. Cancel and lookup pass through.
    """

    def __init__(self, inner: ResumableJob[R], system: FileJobSystem, hook: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.system = system
        self.hook = hook

    def submit_job(self, reference: str) -> str:
        return self.inner.submit_job(reference)

    def get_job_status(self, job_id: str) -> str:
        if self.system.take("crash"):
            # A hard crash: no exception handler, no finally, no Airflow bookkeeping.
            os._exit(CRASH_EXIT_CODE)
        if self.system.take("hook") and self.hook is not None:
            self.hook()
        if self.system.take("sigterm"):
            os.kill(os.getpid(), signal.SIGTERM)
        return self.inner.get_job_status(job_id)

    def is_job_active(self, status: str) -> bool:
        return self.inner.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.inner.is_job_succeeded(status)

    def get_job_result(self, job_id: str, status: str) -> R:
        return self.inner.get_job_result(job_id, status)

    def cancel_job(self, job_id: str) -> None:
        assert isinstance(self.inner, SupportsCancel)
        self.inner.cancel_job(job_id)
        self.system.append("cancels", {"job_id": job_id, "pid": os.getpid()})

    def find_job_by_reference(self, reference: str) -> str | None:
        assert isinstance(self.inner, SupportsFindByReference)
        return self.inner.find_job_by_reference(reference)
