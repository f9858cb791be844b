"""``resumable flink run`` on the real cluster: real processes, a real state file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.cli.plugin import EXIT_USAGE
from tests.flink.conftest import FlinkKit
from tests.paths import PYTHONPATH, REPO


def resumable(tmp: Path, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    # The common options before the jar: what follows it is the jar's own arguments.
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "RESUMABLE_STATE": str(tmp / "state.db")}
    done = subprocess.run([sys.executable, "-m", "resumable_adapters.cli", *args[:2], "--json", *args[2:]],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, events, done.stderr


@pytest.mark.flink
def test_flink_run_then_the_rerun_returns_the_recorded_result(kit: FlinkKit, tmp_path: Path) -> None:
    control = kit.control()
    command = ["flink", "run", "--key", "count", "--jobmanager", kit.cluster.rest_url.removeprefix("http://"),
               "-c", kit.jar.main_class, "-p", "1", "-D", "restart-strategy.type=none", str(kit.jar.jar),
               str(control.directory), "20", "200"]
    before = set(kit.cluster.jobs())
    code, events, err = resumable(tmp_path, *command)
    assert code == 0, (events, err)
    names = [e.get("event") for e in events]
    assert "submitted" in names and events[-1].get("result", {}).get("state") == "FINISHED", events
    code, events, err = resumable(tmp_path, *command)
    assert code == 0, (events, err)
    assert "submitted" not in [e.get("event") for e in events]
    assert len(set(kit.cluster.jobs()) - before) == 1  # one job for the key


@pytest.mark.parametrize("bad", [["-D", "no-value"], ["-p", "0"], ["--savepoint-dir", "/sp"]])
def test_a_usage_error_writes_nothing(tmp_path: Path, bad: list[str]) -> None:
    code, _, err = resumable(tmp_path, "flink", "run", "--key", "k", "--jobmanager", "127.0.0.1:9", *bad,
                             "job.jar")
    assert code == EXIT_USAGE, err
    assert not (tmp_path / "state.db").exists()
