"""The client SIGKILLed at the moments that matter, on YARN, and a new process carrying on.

Real processes (tests/spark_yarn/crash_client.py), a real SQLite file, the loopback RM and
the recorded launcher. The proof that no second application was started is the RM's own
list of applications.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Phase, load_record
from tests.services.yarn_rm import YarnResourceManager
from tests.spark_yarn.conftest import hadoop_conf_dir, write_wrapper

ROOT = Path(__file__).parents[2]


def config(rm: YarnResourceManager, tmp_path: Path, key: str, seconds: float, **extra: Any) -> dict[str, Any]:
    conf_dir = hadoop_conf_dir(tmp_path / "hadoop-conf", rm)
    return dict(manager="yarn", rm_url=rm.url, application="hdfs:///jobs/etl.jar", seconds=seconds,
                db=str(tmp_path / "state.db"), key=key,
                spark_submit=write_wrapper(tmp_path, "tests.spark_yarn.fake_spark_submit"),
                env={"HADOOP_CONF_DIR": str(conf_dir), **extra.pop("env", {})}, **extra)


def start_client(cfg: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.spark_yarn.crash_client", json.dumps(cfg)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, err = process.communicate(timeout=60)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert process.returncode == 0, f"client failed ({process.returncode}): {lines}\n{err[-2000:]}"
    return lines


def finish_after_reattach(process: subprocess.Popen[str], end_job: Callable[[], None]) -> list[dict[str, Any]]:
    """*process*'s event lines; once it said it reattached, *end_job* lets the held job end."""
    assert process.stdout is not None
    seen = []
    for text in process.stdout:
        seen.append(text)
        if text.startswith("{") and json.loads(text).get("event") == "Reattached":
            break
    end_job()
    out, err = process.communicate(timeout=60)
    lines = [json.loads(line) for line in [*seen, *out.splitlines()] if line.startswith("{")]
    assert process.returncode == 0, f"client failed ({process.returncode}): {lines}\n{err[-2000:]}"
    return lines


def wait_for_record(db: Path, key: str, process: subprocess.Popen[str], ready: Any) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if db.exists():
            with SqliteStateStore(db) as store:
                record = load_record(store, key)
            if record is not None and ready(record):
                return record
        time.sleep(0.05)
    raise AssertionError(f"{key} never reached the awaited state")


def kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL


def test_sigkill_while_polling_then_reattach_to_the_same_application(
    yarn_rm: YarnResourceManager, tmp_path: Path
) -> None:
    # The application runs until the test ends it (600 s is never reached): the rerun finds it
    # running however slowly a new process starts.
    cfg = config(yarn_rm, tmp_path, "nightly", seconds=600.0)
    first = start_client(cfg)
    record = wait_for_record(tmp_path / "state.db", "nightly", first,
                             lambda r: r.job_id is not None and r.status == "RUNNING/UNDEFINED")
    kill(first)  # mid-poll: the application keeps running on the cluster

    lines = finish_after_reattach(start_client(cfg), lambda: yarn_rm.set_state(record.job_id, "FINISHED", "SUCCEEDED"))
    assert "Submitted" not in [line.get("event") for line in lines]
    reattached = [line for line in lines if line.get("event") == "Reattached"]
    assert reattached and reattached[0]["job_id"] == record.job_id and reattached[0]["via"] == "record"
    assert lines[-1]["result"]["application_id"] == record.job_id
    assert lines[-1]["result"]["final_status"] == "SUCCEEDED"
    assert set(yarn_rm.apps) == {record.job_id}  # one application, not two


def test_sigkill_between_submit_and_persist_then_found_by_tag(yarn_rm: YarnResourceManager, tmp_path: Path) -> None:
    crashed = start_client(config(yarn_rm, tmp_path, "hourly", seconds=0.5, crash="after_submit"))
    out, _ = crashed.communicate(timeout=60)
    assert crashed.returncode == -signal.SIGKILL
    accepted = [json.loads(line) for line in out.splitlines() if '"accepted"' in line][0]
    with SqliteStateStore(tmp_path / "state.db") as store:
        record = load_record(store, "hourly")
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None

    lines = finish(start_client(config(yarn_rm, tmp_path, "hourly", seconds=0.5)))
    assert "Submitted" not in [line.get("event") for line in lines]
    reattached = [line for line in lines if line.get("event") == "Reattached"]
    assert reattached and reattached[0]["via"] == "reference" and reattached[0]["job_id"] == accepted["accepted"]
    assert set(yarn_rm.apps) == {accepted["accepted"]}


def launch_alive(pid: int) -> bool:
    """Whether *pid* is still the fake spark-submit (a zombie or a reused pid is not)."""
    try:
        return b"fake_spark_submit" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_sigkill_during_spark_submit_takes_the_launch_down_with_it(
    yarn_rm: YarnResourceManager, tmp_path: Path
) -> None:
    # The launch would register its application 60 s in; its parent dies first. Were the launch
    # to outlive it, the retry could look the tag up, find nothing, and submit a second one.
    # The test waits for the launch process itself to be gone (its pid, which it wrote), not for
    # a fixed time that a busy machine could stretch either way.
    started = tmp_path / "launch-started"
    hanging = config(yarn_rm, tmp_path, "weekly", seconds=0.3,
                     env={"FAKE_SPARK_MODE": "hang", "FAKE_SPARK_SLEEP": "60", "FAKE_SPARK_STARTED": str(started)})
    first = start_client(hanging)
    wait_for_record(tmp_path / "state.db", "weekly", first,
                    lambda r: r.phase is Phase.INTENT and started.exists() and started.read_text() != "")
    launch = int(started.read_text())
    assert launch_alive(launch)
    kill(first)
    deadline = time.monotonic() + 30
    while launch_alive(launch):
        assert time.monotonic() < deadline, f"the launch (pid {launch}) outlived its parent"
        time.sleep(0.05)
    assert not yarn_rm.apps

    lines = finish(start_client(config(yarn_rm, tmp_path, "weekly", seconds=0.3)))
    assert "Submitted" in [line.get("event") for line in lines]
    assert len(yarn_rm.apps) == 1
