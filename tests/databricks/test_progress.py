"""Databricks progress (docs/progress.md): the run's tasks finished of total, the running ones, its
run page. Against the loopback workspace (tests/services/databricks_api.py) through the real
databricks-sdk client, except the table of ``run_progress`` over SDK objects built from JSON."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from databricks.sdk.service import jobs

from resumable_adapters.databricks import DatabricksJobsClient, DatabricksSubmitRunJob
from resumable_adapters.databricks._progress import run_progress, running_label
from resumable_adapters.databricks._repair import RunRef
from resumable_core import JobNotFound, MemoryStateStore, Phase, PollPolicy, TransientError, load_record, run_resumable
from resumable_core.events import ProgressReported, StatusChanged
from resumable_core.progress import Count, Progress
from tests.databricks.conftest import FAST_POLL, task
from tests.services.databricks_api import DatabricksApiServer

LONG_KEY = "transform_every_customer_order_of_the_last_quarter"
READS = 40  # bound on the reads a loopback run needs to end (each read moves it one step)


class FakeTime:
    """The core's clock and sleep: a poll interval passes at once, so the run takes no wall time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def chain(n: int) -> list[dict[str, Any]]:
    """n tasks, each after the one before: the loopback ends one per read."""
    return [task(f"step{i}", depends_on=(f"step{i - 1}",) if i else ()) for i in range(n)]


def submit(client: DatabricksJobsClient, tasks: list[dict[str, Any]]) -> tuple[DatabricksSubmitRunJob, str]:
    job = DatabricksSubmitRunJob(client, {"run_name": "etl", "tasks": tasks})
    return job, job.submit_job(uuid.uuid4().hex)


def read_until(job: DatabricksSubmitRunJob, job_id: str, ended: Any) -> list[Progress]:
    """Progress read again and again (each read moves the loopback run a step) until *ended* says so."""
    seen: list[Progress] = []
    for _ in range(READS):
        progress = job.job_progress(job_id)
        assert progress is not None
        seen.append(progress)
        if ended(progress):
            return seen
    raise AssertionError(f"not there after {READS} reads: {seen[-1]}")


def finished(progress: Progress) -> bool:
    main = progress.main
    return main is not None and main.total is not None and main.done + main.skipped == main.total


def test_counts_only_grow_while_tasks_finish_across_task_pages(databricks_api: DatabricksApiServer,
                                                               databricks_client: DatabricksJobsClient) -> None:
    databricks_api.page_size = 2  # five tasks come in three pages
    job, job_id = submit(databricks_client, [
        task("ingest"), task(LONG_KEY, "HOLD", depends_on=("ingest",)), task("score", "HOLD", depends_on=("ingest",)),
        task("report", depends_on=(LONG_KEY, "score")), task("archive", depends_on=("report",))])
    held = read_until(job, job_id, lambda p: p.label is not None)
    assert held[-1].label == f"running: {LONG_KEY[:39]}…, score"  # the running tasks' keys, each cut short
    assert held[-1].main == Count("tasks", done=1, total=5)
    databricks_api.release(int(job_id))
    seen = held + read_until(job, job_id, finished)
    done = [p.main.done for p in seen if p.main is not None]
    assert len(seen) == len(done) and done == sorted(done) and len(set(done)) >= 4  # only grows, step by step
    assert {p.main.total for p in seen if p.main is not None} == {5}
    assert seen[-1].main == Count("tasks", done=5, total=5) and seen[-1].label is None
    url = databricks_client.get_run(int(job_id), job_id=job_id).run_page_url
    assert url and url.startswith(databricks_api.url) and {p.ui_url for p in seen} == {url}
    assert any(path.endswith("/runs/get") and body.get("page_token") for _, path, body in databricks_api.requests)


def test_tasks_that_never_run_count_as_skipped(databricks_api: DatabricksApiServer,
                                               databricks_client: DatabricksJobsClient) -> None:
    job, job_id = submit(databricks_client, [task("ingest", "FAILED"), task("load", depends_on=("ingest",)),
                                             task("report", depends_on=("load",))])
    seen = read_until(job, job_id, finished)
    assert seen[-1].main == Count("tasks", done=1, total=3, skipped=2)  # the failed one ran; the rest never will
    assert seen[-1].main.fraction == 1.0


def test_a_repair_counts_its_own_tasks(databricks_api: DatabricksApiServer,
                                       databricks_client: DatabricksJobsClient) -> None:
    job, job_id = submit(databricks_client, [task("ingest"), task("load", "FAILED", "SUCCESS", depends_on=("ingest",)),
                                             task("report", depends_on=("load",))])
    read_until(job, job_id, lambda _: not job.is_job_active(job.get_job_status(job_id)))
    repair_id = databricks_client.repair(int(job_id), latest_repair_id=None, rerun_dependent_tasks=True)
    repair = f"{job_id}/repair/{repair_id}"
    seen = read_until(job, repair, finished)
    assert seen[0].main == Count("tasks", done=0, total=2)  # load and report again; ingest left alone
    assert seen[-1].main == Count("tasks", done=2, total=2)
    job.progress_reuse = 0.0  # the status read before the repair is seconds old: read the run anew
    whole = job.job_progress(job_id)
    assert whole is not None and whole.main == Count("tasks", done=3, total=3)
    with pytest.raises(JobNotFound):
        job.job_progress(f"{job_id}/repair/{repair_id + 1}")


def test_a_failed_read_is_a_transient_error(databricks_api: DatabricksApiServer,
                                            databricks_client: DatabricksJobsClient) -> None:
    job, job_id = submit(databricks_client, chain(1))
    databricks_api.fail("/runs/get", 429, "TOO_MANY_REQUESTS", "Too many requests.", **{"Retry-After": "7"})
    with pytest.raises(TransientError) as info:
        job.job_progress(job_id)
    assert info.value.retry_after == 7.0
    with pytest.raises(JobNotFound):
        job.job_progress("987654321")


def run_chain(databricks_client: DatabricksJobsClient, poll: PollPolicy, n: int = 8,
              reuse: float | None = None) -> tuple[MemoryStateStore, list[tuple[float, Any]], FakeTime]:
    job = DatabricksSubmitRunJob(databricks_client, {"run_name": "etl", "tasks": chain(n)})
    if reuse is not None:
        job.progress_reuse = reuse
    store, clock, events = MemoryStateStore(), FakeTime(), []
    result = run_resumable(job, store, key="etl", poll=poll, clock=clock.time, sleep=clock.sleep,
                           listener=lambda event: events.append((clock.now, event)))
    assert result["status"] == "TERMINATED SUCCESS/SUCCESS"
    return store, events, clock


def test_a_run_records_its_progress_at_most_once_per_interval(databricks_api: DatabricksApiServer,
                                                              databricks_client: DatabricksJobsClient) -> None:
    poll = PollPolicy(min_interval=1.0, max_interval=1.0, jitter=0.0, progress_interval=3.0)
    before = databricks_api.calls("/runs/get")
    store, events, _ = run_chain(databricks_client, poll)
    with_progress = databricks_api.calls("/runs/get") - before
    reported = [(at, event.progress) for at, event in events if isinstance(event, ProgressReported)]
    # The counts change at every poll (one task a second); the record takes them once per 3 s.
    assert len(reported) >= 3
    assert all(b[0] - a[0] >= 3.0 for a, b in zip(reported, reported[1:], strict=False))
    assert all(a[1] != b[1] for a, b in zip(reported, reported[1:], strict=False))
    done = [p.main.done for _, p in reported if p.main is not None]
    assert len(done) == len(reported) and done == sorted(done) and done[-1] > done[0]
    record = load_record(store, "etl")
    assert record is not None and record.phase is Phase.SUCCEEDED
    assert record.progress == reported[-1][1] and record.progress.ui_url  # kept after the end, link and all
    # Progress read the run the status poll had just read: not one runs/get more than without it.
    before = databricks_api.calls("/runs/get")
    run_chain(databricks_client, PollPolicy(min_interval=1.0, max_interval=1.0, jitter=0.0, progress_interval=None))
    assert databricks_api.calls("/runs/get") - before == with_progress


def test_a_failing_progress_read_costs_no_poll(databricks_api: DatabricksApiServer,
                                               databricks_client: DatabricksJobsClient,
                                               caplog: pytest.LogCaptureFixture) -> None:
    # One transient error in polling ends this run (transient_attempts=1); progress asks after every
    # poll and reads the run itself: the runs/get right after a poll saw PENDING, then RUNNING, is its read.
    poll = PollPolicy(min_interval=1.0, max_interval=1.0, jitter=0.0, transient_attempts=1, progress_interval=0.0)
    failures = {"PENDING": (503, "TEMPORARILY_UNAVAILABLE"), "RUNNING": (500, "INTERNAL_ERROR")}
    job = DatabricksSubmitRunJob(databricks_client, {"run_name": "etl", "tasks": chain(3)})
    job.progress_reuse = 0.0
    store, clock, events = MemoryStateStore(), FakeTime(), []

    def listener(event: Any) -> None:
        events.append(event)
        if isinstance(event, StatusChanged) and event.status in failures:
            status, code = failures[event.status]
            databricks_api.fail("/runs/get", status, code, "try again later")

    with caplog.at_level(logging.DEBUG, logger="resumable_core"):
        result = run_resumable(job, store, key="etl", poll=poll, clock=clock.time, sleep=clock.sleep,
                               listener=listener)
    assert result["status"] == "TERMINATED SUCCESS/SUCCESS"
    assert not databricks_api.fail_next  # both errors were answered, to progress reads
    said = [r.levelno for r in caplog.records if "could not get progress" in r.getMessage()]
    assert said == [logging.WARNING, logging.DEBUG]
    record = load_record(store, "etl")
    assert record is not None and record.progress is not None  # the asks after them landed
    assert any(isinstance(event, ProgressReported) for event in events)


# -- run_progress over SDK objects (pure) -------------------------------------------------------


def sdk_task(key: str, run_id: int, state: str, code: str | None = None, attempt: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"state": state}
    if code is not None:
        status["termination_details"] = {"code": code, "type": "SUCCESS" if code == "SUCCESS" else "CLIENT_ERROR"}
    return {"task_key": key, "run_id": run_id, "attempt_number": attempt, "status": status}


URL = "https://adb-1.azuredatabricks.net/?o=1#job/7/run/11"


@pytest.mark.parametrize(("run", "job_id", "expected"), [
    pytest.param({"run_id": 11, "run_page_url": URL, "tasks": [
        sdk_task("a", 1, "TERMINATED", "RUN_EXECUTION_ERROR", 0), sdk_task("a", 2, "RUNNING", attempt=1),
        sdk_task("b", 3, "TERMINATED", "SUCCESS")]},
        "11", Progress((Count("tasks", 1, 2),), "running: a", URL), id="a retried task counts its latest attempt"),
    pytest.param({"run_id": 11, "run_page_url": URL, "tasks": [
        sdk_task("a", 1, "TERMINATED", "SUCCESS"), sdk_task("b", 5, "PENDING")],
        "repair_history": [{"id": 11, "type": "ORIGINAL", "task_run_ids": [1, 2]},
                           {"id": 90, "type": "REPAIR", "task_run_ids": [5, 6]}]},
        "11/repair/90", Progress((Count("tasks", 0, 2),), None, URL), id="a repair's task run no entry shows"),
    pytest.param({"run_id": 11, "run_page_url": URL, "tasks": [sdk_task("only", 1, "QUEUED")]},
                 "11", Progress((Count("tasks", 0, 1),), None, URL), id="a single task: 0 of 1"),
    pytest.param({"run_id": 11, "run_page_url": URL}, "11", Progress((), None, URL), id="no tasks yet: the link"),
    pytest.param({"run_id": 11, "run_page_url": "javascript:alert(1)"}, "11", None, id="no honest link: nothing"),
    pytest.param({"run_id": 11, "tasks": [sdk_task("x", 1, "TERMINATING")]}, "11",
                 Progress((Count("tasks", 0, 1),), "running: x"), id="no link"),
])
def test_run_progress(run: dict[str, Any], job_id: str, expected: Progress | None) -> None:
    assert run_progress(jobs.Run.from_dict(run), RunRef.parse(job_id)) == expected


def test_the_label_names_three_running_tasks_and_counts_the_rest() -> None:
    assert running_label([]) is None
    assert running_label(["a", "b", "c", "d", "e"]) == "running: a, b, c (+2 more)"


# -- Airflow -----------------------------------------------------------------------------------


@pytest.mark.airflow
def test_the_airflow_operators_link_the_run_page_as_their_job_ui(databricks_api: DatabricksApiServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("airflow.providers.databricks.operators.databricks")
    from resumable_adapters.airflow._databricks import (
        ResumableDatabricksRunNowOperator,
        ResumableDatabricksSubmitRunOperator,
    )
    from resumable_adapters.airflow._progress import LINK_NAME, PROGRESS_STATE_KEY, JobUiLink
    from tests.airflow_bridge.toy import FakeTaskInstance, FakeTaskStateStore, context_for

    host, port = databricks_api.url.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps({
        "conn_type": "databricks", "host": host, "port": int(port), "schema": "http",
        "password": databricks_api.token}))
    for cls in (ResumableDatabricksSubmitRunOperator, ResumableDatabricksRunNowOperator):
        assert [link.name for link in cls.operator_extra_links] == [LINK_NAME]
    ti, store = FakeTaskInstance(), FakeTaskStateStore()
    tasks: list[object] = list(chain(2))
    operator = ResumableDatabricksSubmitRunOperator(task_id="etl", tasks=tasks, poll=FAST_POLL)
    context: Any = context_for(ti, store)  # what the operators read of a task's context
    result = operator.execute(context)
    url = result["run_page_url"]
    assert url and ti.xcoms[JobUiLink().xcom_key] == url  # what Airflow 3 shows as the "Job UI" button
    assert JobUiLink().get_link(operator, ti_key=None) == url
    entry = store.values[PROGRESS_STATE_KEY]
    assert entry["ui_url"] == url and entry["job_id"] == str(result["run_id"])
    assert [(c["unit"], c["total"]) for c in entry["counts"]] == [("tasks", 2)]


def test_supervised_runs_get_their_progress_from_the_status_listing(databricks_api: DatabricksApiServer,
                                                                    databricks_client: DatabricksJobsClient) -> None:
    """Under a Supervisor, progress comes from the one active-run listing (``expand_tasks``) that
    also gave the runs' status: while they run, not one ``runs/get``, however many runs and
    however often their progress is due. A run with more tasks than a listing shows is read on its
    own, within the workspace's progress budget."""
    import asyncio

    from resumable_adapters.databricks._client import LISTED_TASKS_MAX
    from resumable_core.aio import Supervisor, in_threads

    poll = PollPolicy(min_interval=0.05, max_interval=0.05, jitter=0.0, progress_interval=0.0)
    plans = {f"etl-{i}": [task("ingest"), task("transform", "HOLD", depends_on=("ingest",))] for i in range(6)}
    wide = [task(f"part{i}") for i in range(LISTED_TASKS_MAX)] + [task("merge", "HOLD")]
    plans["wide"] = wide
    store, events = MemoryStateStore(), list[Any]()

    def all_held() -> bool:
        records = [load_record(store, key) for key in plans]
        return all(r is not None and r.progress is not None and r.progress.label == "running: transform"
                   for r in records if r is not None and r.key != "wide") and all(r is not None for r in records)

    async def main() -> dict[str, Any]:
        supervisor = Supervisor(store, batch_tick=0.05, progress_rate=2.0, listener=events.append)
        for key, tasks in plans.items():
            supervisor.add(in_threads(DatabricksSubmitRunJob(databricks_client, {"run_name": key, "tasks": tasks})),
                           key=key, poll=poll)
        run = asyncio.ensure_future(supervisor.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not all_held() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        held["runs/get"] = databricks_api.calls("/runs/get")
        held["wide"] = load_record(store, "wide")
        for key in plans:
            record = load_record(store, key)
            assert record is not None and record.job_id is not None
            databricks_api.release(int(record.job_id))
        return await run

    held: dict[str, Any] = {}
    outcomes = asyncio.run(main())
    assert all(o.ok for o in outcomes.values()), outcomes
    reported = {e.key for e in events if isinstance(e, ProgressReported)}
    assert reported == set(plans)
    # The six small runs: progress from the listing alone; the wide one: runs/get of its own.
    wide = held["wide"]
    assert wide is not None and wide.progress is not None and wide.progress.main is not None
    assert wide.progress.main.total == LISTED_TASKS_MAX + 1  # every task, read past the listing's 100
    assert held["runs/get"] >= 1
    gets = [q for m, path, q in databricks_api.requests if path.endswith("/runs/get")]
    run_ids = {str(q.get("run_id")) for q in gets[:held["runs/get"]]}
    assert run_ids == {wide.job_id}, run_ids  # while they ran, only the wide run was read on its own
