"""The operator's progress parts without Airflow running: the task state entry, and the link a try publishes."""

from __future__ import annotations

from typing import Any

from resumable_adapters.airflow._progress import JobUiLink, ProgressReporter, progress_entry
from resumable_core import MemoryStateStore, run_resumable
from resumable_core.events import ProgressReported
from resumable_core.progress import Count, Progress
from tests.airflow.progresskit import PROGRESS_POLL, UI_URL


class FakeTi:
    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


class BrokenStore(MemoryStateStore):
    def set(self, key: str, value: Any) -> None:
        raise OSError("state store down")


def event(done: int, url: str | None = UI_URL) -> ProgressReported:
    return ProgressReported("k", "r", "job-1", Progress(counts=(Count("steps", done, 4),), label="x", ui_url=url))


def test_the_entry_is_readable_and_keeps_the_raw_counts() -> None:
    entry = progress_entry(event(1), 5.0)
    assert entry["text"] == f"1/4 steps; x; {UI_URL}" and entry["percent"] == 25.0
    assert entry["counts"] == [{"unit": "steps", "done": 1, "total": 4, "skipped": 0}] and entry["updated_at"] == 5.0


def test_the_link_is_published_once_per_url_and_a_store_failure_is_only_logged() -> None:
    ti = FakeTi()
    reporter = ProgressReporter(BrokenStore(), ti, state_key="progress")
    for done in (1, 2, 3):
        reporter.reported(event(done), float(done))  # the store fails: nothing raised
    reporter.reported(event(4, url=None), 4.0)
    assert ti.pushed == [(JobUiLink().xcom_key, UI_URL)]
    assert JobUiLink().get_link(type("Op", (), {"job_ui_url": UI_URL})(), ti_key=None) == UI_URL
    assert JobUiLink().get_link(object(), ti_key=None) == ""


def test_a_try_that_reattaches_publishes_the_recorded_link() -> None:
    from tests.airflow.progresskit import SeesItsProgressJob

    store = MemoryStateStore()

    class Quiet(SeesItsProgressJob):
        def get_job_status(self, job_id: str) -> str:  # three polls, then success
            self.polls += 1
            return "RUNNING" if self.polls < 3 else "SUCCEEDED"

    run_resumable(Quiet(store, None), store, key="rec", poll=PROGRESS_POLL)  # type: ignore[arg-type]
    ti = FakeTi()
    reporter = ProgressReporter(store, ti, state_key=None)
    reporter.reattached("rec")
    assert ti.pushed == [(JobUiLink().xcom_key, UI_URL)] and reporter.ui_url == UI_URL
    reporter.reattached("nothing-here")
    assert len(ti.pushed) == 1
