"""SIGKILL across the submit window and while polling, through the public API: one step or run per key.

A real client process (tests/aws/_emr_client.py) submits through the adapter to moto's
server and our layer and is killed by its PID at a point it reports; a second run in this
process then finds the step by its name (EMR on EC2, EKS) or replays the token (Serverless)
and adopts it, or reattaches to the recorded one, and the system's own listing shows one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Phase, load_record, run_resumable
from resumable_core.events import Reattached
from tests.aws.emrkit import FAST, HOLD, KINDS, job_ids, make_job, new_container
from tests.paths import PYTHONPATH, REPO
from tests.services.moto_emr import EmrMotoServer
from tests.services.processes import stop_process

KEY = "dag/run/emr"
SUCCESS = {"step": "COMPLETED", "serverless": "SUCCESS", "eks": "COMPLETED"}


def _wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        if process.poll() is not None:
            raise AssertionError(f"the client exited ({process.returncode}) before its point")
        time.sleep(0.05)
    raise AssertionError("the client did not reach its point")


def _client_killed_at(server: EmrMotoServer, kind: str, container: str, db: Path, point: str, tmp: Path,
                      directives: list[str]) -> str:
    ready = tmp / f"ready-{point}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.aws._emr_client", server.endpoint_url, kind, container, str(db), KEY, point,
         str(ready), *directives],
        cwd=REPO, env={**os.environ, "PYTHONPATH": PYTHONPATH}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        job_id = _wait_for(ready, process)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        stop_process(process)
    return job_id


@pytest.mark.parametrize("kind", KINDS)
def test_killed_between_submit_and_persist_is_found_again(emr_moto: EmrMotoServer, kind: str, tmp_path: Path) -> None:
    container = new_container(emr_moto, kind)
    db = tmp_path / "state.db"
    submitted = _client_killed_at(emr_moto, kind, container, db, "after-submit", tmp_path, [])
    with SqliteStateStore(db) as store:
        record = load_record(store, KEY)
        assert record is not None and record.phase is Phase.INTENT and record.job_id is None
        result = run_resumable(make_job(emr_moto.endpoint_url, kind, container), store, key=KEY, poll=FAST)
        record = load_record(store, KEY)
    assert job_ids(emr_moto.endpoint_url, kind, container) == [submitted]  # found, not submitted twice
    assert record is not None and record.phase is Phase.SUCCEEDED and record.job_id == submitted
    assert result["state"] == SUCCESS[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_killed_while_polling_reattaches_to_the_running_job(emr_moto: EmrMotoServer, kind: str, tmp_path: Path) -> None:
    container = new_container(emr_moto, kind)
    db = tmp_path / "state.db"
    submitted = _client_killed_at(emr_moto, kind, container, db, "polling", tmp_path, [HOLD])
    reattached = threading.Event()
    outcome: dict[str, object] = {}

    def rerun() -> None:
        with SqliteStateStore(db) as store:
            try:
                outcome["result"] = run_resumable(
                    make_job(emr_moto.endpoint_url, kind, container, [HOLD]), store, key=KEY, poll=FAST,
                    listener=lambda event: reattached.set() if isinstance(event, Reattached) else None)
            except Exception as exc:  # reported below
                outcome["error"] = exc

    thread = threading.Thread(target=rerun)
    thread.start()
    try:
        assert reattached.wait(30), outcome  # still held RUNNING: the retry attached to it
    finally:
        emr_moto.release(submitted)
        thread.join(60)
    assert "error" not in outcome, outcome
    result = outcome["result"]
    assert isinstance(result, dict) and result["state"] == SUCCESS[kind]
    assert job_ids(emr_moto.endpoint_url, kind, container) == [submitted]
