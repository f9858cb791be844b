"""Fixtures for the local job's tests: real detached processes in a private jobs directory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.local import LocalProcessJob
from resumable_core import ResumableError

WAIT = 30.0  # an upper bound for things that take well under a second: never a timing assertion


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_for_file(path: Path) -> str:
    """A shell loop that ends once *path* exists: a job the test ends when it chooses.

    Bounded (at least five minutes: a busy machine's start-ups of the commands a test runs
    before it releases the job must never outlast it), so that a failed test whose job
    directory is gone (and with it what ``stop_leftover_jobs`` goes by) leaves no process
    behind for long.
    """
    return f"i=0; while [ ! -e '{path}' ] && [ $i -lt 6000 ]; do sleep 0.05; i=$((i+1)); done"


def stop_leftover_jobs(jobs_dir: Path) -> None:
    """Cancel (TERM, then KILL) every job a test left running: only our own, verified processes."""
    if not jobs_dir.is_dir():
        return
    watcher = LocalProcessJob(None, jobs_dir=jobs_dir, grace_period=1.0)
    for entry in jobs_dir.iterdir():
        if entry.name.startswith("."):
            continue
        try:
            watcher.cancel_job(entry.name)
        except ResumableError:
            pass


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "jobs"
    yield path
    stop_leftover_jobs(path)
