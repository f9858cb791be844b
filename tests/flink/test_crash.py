"""The client SIGKILLed between "the cluster accepted the job" and "its id is recorded".

Real processes (tests/flink/crash_client.py), a real SQLite file, the real cluster. The
proof that no second job ran is the JobManager's own list of jobs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Phase, load_record
from tests.flink.conftest import FlinkKit

pytestmark = pytest.mark.flink
ROOT = Path(__file__).parents[2]


def run_client(cfg: dict[str, Any], timeout: float = 120.0) -> tuple[int, list[dict[str, Any]], str]:
    process = subprocess.Popen([sys.executable, "-m", "tests.flink.crash_client", json.dumps(cfg)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return finish(process, timeout)


def finish(process: subprocess.Popen[str], timeout: float = 120.0) -> tuple[int, list[dict[str, Any]], str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def finish_after_reattach(process: subprocess.Popen[str], release: Callable[[], None],
                          timeout: float = 120.0) -> tuple[int, list[dict[str, Any]], str]:
    """*process*'s exit code, event lines and stderr; once it said it reattached, *release* lets the held job end."""
    assert process.stdout is not None
    seen = []
    try:
        for text in process.stdout:
            seen.append(text)
            if text.startswith("{") and json.loads(text).get("event") == "Reattached":
                break
    finally:
        release()  # also when the client ended without reattaching: nothing is left running
    out, err = process.communicate(timeout=timeout)
    return process.returncode, [json.loads(line) for line in [*seen, *out.splitlines()] if line.startswith("{")], err


def wait_recorded(db: Path, key: str, process: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The job id once the second client recorded it (the job is held running until then)."""
    deadline = time.monotonic() + timeout
    with SqliteStateStore(db) as store:
        while True:
            record = load_record(store, key)
            if record is not None and record.phase is Phase.SUCCEEDED:
                raise AssertionError("the job ended before the test let it")
            if record is not None and record.job_id is not None and record.phase is Phase.SUBMITTED:
                return record.job_id
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the retry never recorded a job id"
            time.sleep(0.05)


@pytest.mark.parametrize("lookup", ["hit", "miss"])
def test_sigkill_between_submit_and_persist_then_the_retry_adopts_the_job(
    kit: FlinkKit, tmp_path: Path, lookup: str
) -> None:
    control = kit.control()
    db = tmp_path / "state.db"
    cfg = dict(rest_url=kit.cluster.rest_url, jar=str(kit.jar.jar), control=str(control.directory),
               checkpoints=str(tmp_path / "checkpoints"), db=str(db), key="stream")
    before = set(kit.cluster.jobs())

    code, lines, err = run_client({**cfg, "crash": "after_submit"})
    assert code == -signal.SIGKILL, err
    accepted = lines[-1]["accepted"]
    with SqliteStateStore(db) as store:
        record = load_record(store, "stream")
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None

    # "miss": the lookup says nothing, so the retry submits again with the same reference,
    # and Flink's duplicate refusal for that id is what proves the job exists.
    retry = subprocess.Popen([sys.executable, "-m", "tests.flink.crash_client", json.dumps({**cfg, "lookup": lookup})],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_recorded(db, "stream", retry) == accepted
    finally:
        control.finish()  # released only now: it ran all along
    code, lines, err = finish(retry)
    assert code == 0, (lines, err)
    events = [line["event"] for line in lines if "event" in line]
    assert lines[-1]["result"]["job_id"] == accepted and lines[-1]["result"]["state"] == "FINISHED"
    if lookup == "hit":
        assert "Submitted" not in events and "Reattached" in events
    else:
        assert "Submitted" in events  # submitted again, and Flink answered "duplicate": adopted
        assert "exists already" in err  # FlinkJob's warning when it adopts from the duplicate refusal
    assert set(kit.cluster.jobs()) - before == {accepted}  # one job, not two


def test_sigkill_while_polling_then_the_rerun_reattaches_to_the_same_job(kit: FlinkKit, tmp_path: Path) -> None:
    control = kit.control()
    db = tmp_path / "state.db"
    cfg = dict(rest_url=kit.cluster.rest_url, jar=str(kit.jar.jar), control=str(control.directory),
               checkpoints=str(tmp_path / "checkpoints"), db=str(db), key="stream")
    before = set(kit.cluster.jobs())
    first = subprocess.Popen([sys.executable, "-m", "tests.flink.crash_client", json.dumps(cfg)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job_id = wait_recorded(db, "stream", first)  # held running: the client is polling it
    finally:
        first.kill()  # SIGKILL mid-poll: the job keeps running on the cluster
        first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    # The job runs until the rerun said it reattached (then the finish file ends it): however
    # slowly the rerun's interpreter starts, it finds the job running, not ended.
    rerun = subprocess.Popen([sys.executable, "-m", "tests.flink.crash_client", json.dumps(cfg)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, lines, err = finish_after_reattach(rerun, control.finish)
    assert code == 0, (lines, err)
    reattached = [line for line in lines if line.get("event") == "Reattached"]
    assert reattached and reattached[0]["job_id"] == job_id and reattached[0]["via"] == "record"
    assert "Submitted" not in [line.get("event") for line in lines]
    assert lines[-1]["result"]["job_id"] == job_id
    assert set(kit.cluster.jobs()) - before == {job_id}
