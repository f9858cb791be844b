"""The client SIGKILLed between "Databricks made the run (or the repair)" and "its id is recorded".

A real process (tests/databricks/crash_client.py: the real databricks-sdk) is killed there;
the retry runs in this process on the same SQLite file, against the loopback workspace,
whose own list of runs and repairs is the proof that nothing was made twice. (A client
process costs about 2 s of CPU to import the SDK, so only the crash itself is a process.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import JobFailed, JobRecord, Phase, load_record
from resumable_core.events import Event, Reattached, Submitted
from tests.databricks import crash_client
from tests.databricks.conftest import task
from tests.paths import PYTHONPATH, REPO
from tests.services.databricks_api import DatabricksApiServer


def config(api: DatabricksApiServer, tmp_path: Path, key: str, **extra: Any) -> dict[str, Any]:
    return {"url": api.url, "token": api.token, "db": str(tmp_path / "state.db"), "key": key, "kind": "submit",
            "tasks": [task("ingest"), task("load", depends_on=("ingest",))], **extra}


def crash_after_submit(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run the client until Databricks answered its submit, SIGKILL it there; what it was told."""
    crashed = subprocess.Popen([sys.executable, "-m", "tests.databricks.crash_client",
                                json.dumps({**cfg, "crash": "after_submit"})], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": PYTHONPATH},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL, err[-2000:]
    accepted: dict[str, Any] = [json.loads(line) for line in out.splitlines() if '"accepted"' in line][0]
    record = stored(cfg)
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None
    assert record.reference == accepted["reference"]
    return accepted


def stored(cfg: dict[str, Any]) -> JobRecord | None:
    with SqliteStateStore(cfg["db"]) as store:
        return load_record(store, cfg["key"])


def retry_here(cfg: dict[str, Any]) -> tuple[Any, list[Event]]:
    seen: list[Event] = []
    return crash_client.run(cfg, seen.append), seen


def test_sigkill_between_submit_and_persist_then_found_by_reference(
        databricks_api: DatabricksApiServer, tmp_path: Path) -> None:
    cfg = config(databricks_api, tmp_path, "nightly")
    accepted = crash_after_submit(cfg)

    result, seen = retry_here(cfg)
    assert not [e for e in seen if isinstance(e, Submitted)]
    reattached = [e for e in seen if isinstance(e, Reattached)]
    assert reattached and reattached[0].via == "reference" and reattached[0].job_id == accepted["accepted"]
    assert result["run_id"] == int(accepted["accepted"])
    assert databricks_api.runs_created() == 1  # one run, not two


def test_sigkill_between_repair_and_persist_then_the_repair_is_found(
        databricks_api: DatabricksApiServer, tmp_path: Path) -> None:
    cfg = config(databricks_api, tmp_path, "repaired", repair=True,
                 tasks=[task("ingest"), task("load", "FAILED", "SUCCESS", depends_on=("ingest",))])
    with pytest.raises(JobFailed):
        retry_here(cfg)  # the first run fails in its "load" task
    accepted = crash_after_submit(cfg)  # the resubmission repairs it, and dies before recording the repair
    (run_id,) = databricks_api.runs
    assert accepted["accepted"].startswith(f"{run_id}/repair/")

    result, seen = retry_here(cfg)
    assert not [e for e in seen if isinstance(e, Submitted)]
    assert [e.job_id for e in seen if isinstance(e, Reattached)] == [accepted["accepted"]]
    assert result["status"] == "TERMINATED SUCCESS/SUCCESS" and result["repair_id"] is not None
    assert databricks_api.runs_created() == 1 and databricks_api.calls("/runs/repair") == 1
