"""A clear while running, in-process: the try watches a cancel its record cannot carry take effect.

Airflow 3.3 gives a task instance cleared while running a new id, so the running try's task
state store answers "no such key" and the try cancels the job by the id it kept in memory,
without updating the record. The next try then decides from the job's own status. Systems
end a job some time after accepting its cancel (a YARN kill answered 202, a pod
terminating); the in-Airflow regression is in test_spark_cluster_managers_in_airflow.py,
these pin the mechanism fast: the try asks until the job reports its end, within a bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from resumable_core import JsonValue, MemoryStateStore

pytestmark = pytest.mark.airflow


class ForgettingStore(MemoryStateStore):
    """Answers "no such key" once told to: the task state store of a try whose task instance was cleared."""

    forget = False

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        return default if self.forget else super().get(key, default)


class SlowKillJob:
    """A job that runs until cancelled; the cancel is accepted at once and takes effect *kill_takes* queries later.

    ``kill_takes=-1``: the system never reports the end (a kill stuck on its side).
    """

    def __init__(self, kill_takes: int, on_first_query: Callable[[], None]) -> None:
        self.kill_takes = kill_takes
        self.on_first_query: Callable[[], None] | None = on_first_query
        self.queries_since_cancel: int | None = None
        self.seen: list[str] = []  # every status this job reported, in order
        self.cancels = 0

    def submit_job(self, reference: str) -> str:
        return "application_1_0001"

    def get_job_status(self, job_id: str) -> str:
        if self.on_first_query is not None:
            hook, self.on_first_query = self.on_first_query, None
            hook()
        status = "RUNNING"
        if self.queries_since_cancel is not None:
            self.queries_since_cancel += 1
            if 0 <= self.kill_takes < self.queries_since_cancel:
                status = "KILLED"
        self.seen.append(status)
        return status

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "FINISHED"

    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        return status

    def cancel_job(self, job_id: str) -> None:
        self.cancels += 1
        self.queries_since_cancel = 0


def clear_while_running(kill_takes: int) -> tuple[SlowKillJob, Any, float]:
    """Run a try that a user clears at its first status query; the job, what it raised, the stop's duration."""
    from resumable_adapters.airflow import ResumableOperator, TaskInterrupted
    from tests.airflow.dagkit import FAST_POLL

    store = ForgettingStore()
    operator = ResumableOperator(task_id="t", state_store=store, poll=FAST_POLL)
    stopped_at: list[float] = []

    def clear() -> None:  # what Airflow's clear does to a running try: a new id, then SIGTERM
        store.forget = True
        stopped_at.append(time.monotonic())
        operator.on_kill()  # the task runner's SIGTERM handler does nothing else

    job = SlowKillJob(kill_takes, clear)
    operator.job = job
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0,
                         get_task_states=lambda **query: {"r": {"t": "restarting"}})
    with pytest.raises(TaskInterrupted) as info:
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]  # a stand-in task instance
    return job, info.value, time.monotonic() - stopped_at[0]


def test_a_clear_while_running_cancels_the_job_even_when_the_store_no_longer_answers(tmp_path: Any) -> None:
    from resumable_adapters.airflow import KillCause, ResumableOperator, TaskInterrupted
    from tests.airflow.dagkit import FAST_POLL
    from tests.airflow.filejob import CANCELLED, FileJob, FileJobSystem, TriggeredJob

    system = FileJobSystem(tmp_path / "jobs")
    system.arm("hook")
    store = ForgettingStore()
    operator = ResumableOperator(task_id="t", state_store=store, poll=FAST_POLL)

    def clear() -> None:  # what Airflow's clear does to a running try: a new id, then SIGTERM
        store.forget = True
        operator.on_kill()

    operator.job = TriggeredJob(FileJob(system.root, running_polls=-1), system, clear)
    ti = SimpleNamespace(
        dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0,
        get_task_states=lambda **query: {"r": {"t": "restarting"}},
    )
    with pytest.raises(TaskInterrupted) as info:
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]  # a stand-in task instance
    assert info.value.cause is KillCause.USER_CLEAR and info.value.cancelled
    [submission] = system.log("submissions")
    assert system.job(submission["job_id"])["status"] == CANCELLED  # type: ignore[index]


def test_the_clearing_try_waits_until_the_cancelled_job_reports_its_end() -> None:
    job, interrupted, _ = clear_while_running(kill_takes=3)
    assert interrupted.cancelled and interrupted.cause.value == "user_clear"
    assert job.cancels == 1
    # Asked after the cancel until the end showed: the next try finds it ended and submits afresh.
    assert job.seen[-1] == "KILLED" and job.seen.count("KILLED") == 1
    assert job.queries_since_cancel == 4


class VirtualTime:
    """The kill path's clock and sleep: a sleep moves the clock, so the bound is counted, not timed."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_wait_for_the_end_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow sends SIGKILL 5 s after the SIGTERM: a kill the system never completes must not hold the try."""
    from resumable_adapters.airflow import _kill

    # Virtual time in the kill path: the bound is checked by the time it let pass, not by the
    # wall time a busy machine takes (an elapsed-time assertion would depend on the machine).
    clock = VirtualTime()
    monkeypatch.setattr(_kill, "time", clock)
    monkeypatch.setattr(_kill, "UNRECORDED_CANCEL_WAIT", 3.0)
    job, interrupted, _ = clear_while_running(kill_takes=-1)
    assert interrupted.cancelled and job.cancels == 1
    assert set(job.seen) == {"RUNNING"} and (job.queries_since_cancel or 0) >= 2
    # Asked until the bound passed, then given up: no more than the bound's worth of waiting.
    assert 3.0 <= clock.now < 3.0 + _kill.KILL_CHECK_INTERVAL + 1e-9
    assert job.queries_since_cancel == len(clock.slept) + 1
