"""Resumption on the real cluster: a failed streaming job, and one stopped with a savepoint, go on
from where they got to. The proof is in the job's own state (the count it restored, written by
the job) and in Flink's word (``/checkpoints`` ``latest.restored`` of the new job).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.flink import FlinkJob
from resumable_core import JobFailed, MemoryStateStore, Phase, cancel_resumable, load_record, run_resumable
from resumable_core.record import JobRecord
from tests.flink.conftest import FAST_POLL, FlinkKit

pytestmark = pytest.mark.flink
POLL = replace(FAST_POLL, resume_state_interval=0.2)


class Background:
    """One run_resumable in a thread: its result or error, waited for with a deadline."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 120.0) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the run did not end"
        return self.result


def wait_record(store: MemoryStateStore, key: str, check: Callable[[JobRecord], bool], run: Background,
                timeout: float = 60.0) -> JobRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = load_record(store, key)
        if record is not None and check(record):
            return record
        assert run.error is None, run.error
        assert time.monotonic() < deadline, f"the record never got there: {record}"
        time.sleep(0.05)


@pytest.fixture
def runs() -> Iterator[list[Background]]:
    started: list[Background] = []
    yield started
    for run in started:
        run.join(30)


def test_a_failed_streaming_job_is_resubmitted_from_its_last_checkpoint(kit: FlinkKit, runs: list[Background]) -> None:
    control = kit.control()
    job = kit.job(control)
    store = MemoryStateStore()
    first = Background(lambda: run_resumable(job, store, key="stream", poll=POLL))
    runs.append(first)
    # Held running until a checkpoint was recorded; then made to fail.
    wait_record(store, "stream", lambda r: r.resume_state is not None, first)
    control.wait_for("count", at_least=30)
    control.fail()
    first.join()
    assert isinstance(first.error, JobFailed), first.error
    failed = load_record(store, "stream")
    assert failed is not None and failed.phase is Phase.FAILED and failed.resume_state is not None
    checkpoint = failed.resume_state
    assert "chk-" in checkpoint and failed.history[-1].resume_state == checkpoint

    control.clear()
    second = Background(lambda: run_resumable(kit.job(control), store, key="stream", poll=POLL))
    runs.append(second)
    resumed = wait_record(store, "stream", lambda r: r.phase is Phase.SUBMITTED and len(r.history) == 2, second)
    restored = control.wait_for("restored", at_least=1)  # the count went on from the checkpoint, not from 0
    assert resumed.history[-1].started_from == checkpoint and resumed.history[0].started_from is None
    assert resumed.job_id is not None and resumed.job_id != failed.job_id
    summary = kit.client.checkpoints(resumed.job_id)
    assert summary is not None and summary.restored_path == checkpoint  # Flink's own word
    control.finish()
    result = second.join()
    assert second.error is None, second.error
    assert result["state"] == "FINISHED" and result["restored_from"] == checkpoint
    assert control.read("started") == restored


def test_stop_with_savepoint_through_cancel_then_the_next_run_resumes_from_it(
    kit: FlinkKit, runs: list[Background], tmp_path: Path
) -> None:
    control = kit.control()
    savepoints = tmp_path / "savepoints"

    def job() -> FlinkJob:
        return kit.job(control, stop_with_savepoint=True, savepoint_directory=savepoints.as_uri())

    store = MemoryStateStore()
    first = Background(lambda: run_resumable(job(), store, key="stream", poll=POLL))
    runs.append(first)
    running = wait_record(store, "stream", lambda r: r.status == "RUNNING", first)
    control.wait_for("count", at_least=20)
    stopped = cancel_resumable(job(), store, key="stream", rerun=True)
    first.join()
    assert isinstance(first.error, JobFailed) and first.error.status == "STOPPED", first.error
    record = load_record(store, "stream")
    assert stopped is not None and record is not None and record.phase is Phase.FAILED
    savepoint = record.resume_state
    assert savepoint is not None and "savepoint-" in savepoint
    # The stop again (a retried cancel): the same trigger id joins the first stop; no second savepoint.
    assert running.job_id is not None
    job().cancel_job(running.job_id)
    assert len(list(savepoints.iterdir())) == 1

    second = Background(lambda: run_resumable(job(), store, key="stream", poll=POLL))
    runs.append(second)
    resumed = wait_record(store, "stream", lambda r: r.phase is Phase.SUBMITTED and len(r.history) == 2, second)
    assert control.wait_for("restored", at_least=20) >= 20
    assert resumed.history[-1].started_from == savepoint
    assert resumed.job_id is not None
    summary = kit.client.checkpoints(resumed.job_id)
    assert summary is not None and summary.restored_path == savepoint
    control.finish()
    assert second.join()["restored_from"] == savepoint and second.error is None
