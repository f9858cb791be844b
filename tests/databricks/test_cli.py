"""``resumable databricks-submit``: the command, its state file and the loopback workspace.

One real process per run (the real databricks-sdk inside), the workspace credentials from
the environment as the SDK reads them; the proof that a rerun made nothing is the
workspace's own list of runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.databricks.conftest import task
from tests.paths import PYTHONPATH
from tests.services.databricks_api import DatabricksApiServer


def resumable(tmp_path: Path, api: DatabricksApiServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESUMABLE_", "DATABRICKS_"))}
    env.update({"PYTHONPATH": PYTHONPATH, "HOME": str(tmp_path), "RESUMABLE_STATE": str(tmp_path / "state.db"),
                "DATABRICKS_HOST": api.url, "DATABRICKS_TOKEN": api.token})
    return subprocess.run([sys.executable, "-m", "resumable_adapters.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_submit_then_rerun_reuses_the_recorded_run(databricks_api: DatabricksApiServer, tmp_path: Path) -> None:
    databricks_api.steps_per_read = 4  # a run ends at its first look: the command's 1 s poll is not waited for
    request = tmp_path / "etl.json"
    request.write_text(json.dumps({"run_name": "etl", "tasks": [task("ingest"), task("load")]}))
    first = resumable(tmp_path, databricks_api, "databricks-submit", "--key", "etl", "--request", str(request),
                      "--json")
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines() if line.startswith("{")]
    assert [e["job_id"] for e in events if e.get("event") == "submitted"] == [str(next(iter(databricks_api.runs)))]
    again = resumable(tmp_path, databricks_api, "databricks-submit", "--key", "etl", "--request", str(request))
    assert again.returncode == 0, again.stderr
    assert databricks_api.runs_created() == 1  # the rerun returned the recorded result
    for out in (first.stdout, first.stderr, again.stdout, again.stderr):
        assert databricks_api.token not in out
    status = resumable(tmp_path, databricks_api, "status", "etl")
    assert status.returncode == 0 and "TERMINATED SUCCESS/SUCCESS" in status.stdout, status.stdout + status.stderr


def test_a_command_for_another_system_does_not_load_the_sdk(tmp_path: Path) -> None:
    code = ("import sys; from resumable_adapters.cli import build_parser; build_parser(); "
            "print('databricks.sdk' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": PYTHONPATH},
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
