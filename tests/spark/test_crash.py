"""The client SIGKILLed at the two moments that matter, and a new process carrying on.

Real processes (tests/spark/crash_client.py), a real SQLite file, the real cluster. The
proof that no second driver was started is the master's own list of drivers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Phase, load_record
from tests.services.spark import DriverJar, SparkCluster
from tests.spark_yarn.test_crash import finish_after_reattach

pytestmark = pytest.mark.spark
ROOT = Path(__file__).parents[2]


def config(cluster: SparkCluster, jar: DriverJar, db: Path, key: str, seconds: float | str,
           **extra: Any) -> dict[str, Any]:
    # seconds: how long the driver runs, or a file it waits for (SleepExit: held until released)
    return dict(
        rest_url=cluster.rest_url, web_ui_url=cluster.web_ui_url, app_resource=jar.app_resource,
        main_class=jar.main_class, seconds=seconds, db=str(db), key=key, **extra,
    )


def start_client(cfg: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.spark.crash_client", json.dumps(cfg)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120.0) -> list[dict[str, Any]]:
    out, err = process.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert process.returncode == 0, f"client failed ({process.returncode}): {lines}\n{err[-2000:]}"
    return lines


def events(lines: list[dict[str, Any]]) -> list[str]:
    return [line["event"] for line in lines if "event" in line]


def test_sigkill_while_polling_then_reattach_to_the_same_driver(
    spark_cluster: SparkCluster, spark_driver_jar: DriverJar, tmp_path: Path
) -> None:
    before = spark_cluster.driver_ids()
    db = tmp_path / "state.db"
    release = tmp_path / "release"  # the driver runs until the rerun reattached, however slow its start
    cfg = config(spark_cluster, spark_driver_jar, db, "nightly", seconds=str(release))
    first = start_client(cfg)
    try:
        driver_id = _wait_for_running(db, "nightly", first)
    finally:
        os.kill(first.pid, signal.SIGKILL)  # mid-poll: the driver keeps running on the cluster
        first.wait(10)
    assert first.returncode == -signal.SIGKILL

    lines = finish_after_reattach(start_client(cfg), release.touch)
    assert "Submitted" not in events(lines)
    reattached = [line for line in lines if line.get("event") == "Reattached"]
    assert reattached and reattached[0]["job_id"] == driver_id and reattached[0]["via"] == "record"
    assert lines[-1]["result"]["driver_id"] == driver_id
    assert lines[-1]["result"]["state"] == "FINISHED"
    assert spark_cluster.driver_ids() - before == {driver_id}  # one driver, not two


def test_sigkill_between_accept_and_persist_then_found_by_reference(
    spark_cluster: SparkCluster, spark_driver_jar: DriverJar, tmp_path: Path
) -> None:
    before = spark_cluster.driver_ids()
    db = tmp_path / "state.db"
    crashed = start_client(config(spark_cluster, spark_driver_jar, db, "hourly", seconds=4, crash="after_submit"))
    out, _ = crashed.communicate(timeout=60)
    assert crashed.returncode == -signal.SIGKILL
    accepted = [json.loads(line) for line in out.splitlines() if '"accepted"' in line][0]
    with SqliteStateStore(db) as store:
        record = load_record(store, "hourly")
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None
    assert record.reference == accepted["reference"]

    lines = finish(start_client(config(spark_cluster, spark_driver_jar, db, "hourly", seconds=4)))
    assert "Submitted" not in events(lines)
    reattached = [line for line in lines if line.get("event") == "Reattached"]
    assert reattached and reattached[0]["via"] == "reference"
    assert reattached[0]["job_id"] == accepted["accepted"]
    assert lines[-1]["result"]["driver_id"] == accepted["accepted"]
    assert spark_cluster.driver_ids() - before == {accepted["accepted"]}


def _wait_for_running(db: Path, key: str, process: subprocess.Popen[str], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if db.exists():
            with SqliteStateStore(db) as store:
                record = load_record(store, key)
            if record is not None and record.job_id is not None and record.status == "RUNNING":
                return record.job_id
        time.sleep(0.1)
    raise AssertionError(f"{key} never reached RUNNING")
