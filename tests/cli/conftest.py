"""Fixtures for the command line's end-to-end tests: real subprocesses, real files, real signals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.local import LocalProcessJob
from tests.local.conftest import stop_leftover_jobs
from tests.paths import PYTHONPATH

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def event_names(self) -> list[str]:
        return [e.get("event", "") for e in self.events]


@dataclass
class Cli:
    """Runs ``python -m resumable_adapters.cli`` with a private state file and data directory."""

    tmp: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        return self.tmp / "state.db"

    @property
    def jobs_dir(self) -> Path:
        return self.tmp / "state-jobs"

    def argv(self, *args: str, script: str | None = None) -> list[str]:
        head = [sys.executable, str(REPO / "tests" / "cli" / script)] if script else [sys.executable, "-m", "resumable_adapters.cli"]
        return head + list(args)

    def run(self, *args: str, timeout: float = 60.0) -> Result:
        done = subprocess.run(self.argv(*args), cwd=self.tmp, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, script: str | None = None, **kwargs: Any) -> subprocess.Popen[str]:
        options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        options.update(kwargs)
        return subprocess.Popen(self.argv(*args, script=script), cwd=self.tmp, env=self.env, **options)

    def watcher(self) -> LocalProcessJob:
        return LocalProcessJob(None, jobs_dir=self.jobs_dir, grace_period=1.0)

    def job_dirs(self) -> list[str]:
        if not self.jobs_dir.is_dir():
            return []
        return sorted(p.name for p in self.jobs_dir.iterdir() if not p.name.startswith("."))


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESUMABLE_", "XDG_"))}
    env.update({
        "RESUMABLE_STATE": str(tmp_path / "state.db"),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": PYTHONPATH,
        "PYTHONUNBUFFERED": "1",
    })
    runner = Cli(tmp_path, env)
    yield runner
    stop_leftover_jobs(runner.jobs_dir)
