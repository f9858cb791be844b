"""Progress of a real Spark application on the real standalone cluster (tests/services/spark.py).

The MultiStage driver runs a shuffle job (two stages), then a job held running until the test
writes its release file, then a job whose map stage is skipped. While it is held, the run must
have recorded progress read from the driver's own UI (found from its stderr on the worker), with
a link that answers; counts only grow; progress writes are bounded by the policy's interval.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.spark import SparkRestClient, SparkRestJob, SparkSubmission
from resumable_core import MemoryStateStore, Phase, PollPolicy, load_record, run_resumable
from resumable_core.events import Event, ProgressReported
from tests.services.spark import DriverJar, SparkCluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]

INTERVAL = 2.0
POLL = PollPolicy(min_interval=0.3, max_interval=1.0, jitter=0.0, transient_attempts=60, transient_seconds=120.0,
                  progress_interval=INTERVAL)


class WriteCountingStore(MemoryStateStore):
    """Remembers every value written, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[dict[str, Any]] = []

    def compare_and_set(self, key: str, expected: Any, value: Any) -> bool:
        ok = super().compare_and_set(key, expected, value)
        if ok:
            self.written.append(value)
        return ok


def test_progress_of_a_multi_stage_application_is_recorded_while_it_runs(
    spark_cluster: SparkCluster, spark_multistage_jar: DriverJar, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    client = SparkRestClient(spark_cluster.rest_url, web_ui_urls=spark_cluster.web_ui_url)
    submission = SparkSubmission(
        app_resource=spark_multistage_jar.app_resource, main_class=spark_multistage_jar.main_class,
        app_args=(str(release),), driver_memory="512m", name="resumable-progress",
        properties={"spark.executor.memory": "512m", "spark.cores.max": "2", "spark.ui.showConsoleProgress": "false"},
    )
    job = SparkRestJob(client, submission)
    store = WriteCountingStore()
    events: list[Event] = []
    seen = threading.Condition()

    def listen(event: Event) -> None:
        with seen:
            events.append(event)
            seen.notify_all()

    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            outcome["result"] = run_resumable(job, store, key="progress", poll=POLL, listener=listen)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    started = time.monotonic()
    runner = threading.Thread(target=drive, daemon=True)
    runner.start()

    def held() -> ProgressReported | None:
        """A progress that shows the held job running: the shuffle job's 8 tasks done, 4 more known."""
        for event in events:
            if isinstance(event, ProgressReported):
                tasks = event.progress.counts[0]
                if tasks.done >= 8 and (tasks.total or 0) >= 12:
                    return event
        return None

    try:
        with seen:
            assert seen.wait_for(lambda: held() is not None or "error" in outcome, timeout=300), (
                f"no progress of the held job; events: {[e.describe() for e in events]}")
        assert "error" not in outcome, outcome
        event = held()
        assert event is not None
        # Recorded while it runs, read back from the store.
        record = load_record(store, "progress")
        assert record is not None and record.phase is Phase.SUBMITTED and record.progress is not None
        tasks, stages = record.progress.counts
        assert (tasks.unit, stages.unit) == ("tasks", "stages")
        assert stages.done >= 2 and stages.total is not None and stages.total >= 3
        assert record.progress.label is not None and "stage" in record.progress.label
        # The link is the driver's own UI, and it answers.
        ui = record.progress.ui_url
        assert ui is not None and ui.startswith("http://")
        with urllib.request.urlopen(ui + "api/v1/applications", timeout=30) as answer:  # loopback
            apps = json.loads(answer.read())
        assert [a["id"] for a in apps] and all(isinstance(a["id"], str) for a in apps)
    finally:
        release.write_text("go")
    runner.join(timeout=300)
    elapsed = time.monotonic() - started
    assert not runner.is_alive(), "the run did not end after the release"
    assert "error" not in outcome, outcome
    assert outcome["result"]["state"] == "FINISHED"

    reported = [e.progress for e in events if isinstance(e, ProgressReported)]
    for unit in (0, 1):
        done = [p.counts[unit].done for p in reported]
        totals = [p.counts[unit].total or 0 for p in reported]
        assert done == sorted(done), f"counts went down: {done}"
        assert totals == sorted(totals), f"totals went down: {totals}"
    # Writes: one per change at most once per interval, whatever the number of polls.
    stamps: list[float] = []
    for value in store.written:
        at = value.get("progress_at")
        if at is not None and (not stamps or at != stamps[-1]):
            stamps.append(at)
    assert len(stamps) == len(reported)
    assert all(b - a >= INTERVAL for a, b in zip(stamps, stamps[1:], strict=False))
    assert len(reported) <= 1 + elapsed / INTERVAL
    final = load_record(store, "progress")
    assert final is not None and final.phase is Phase.SUCCEEDED
    assert final.progress == reported[-1]  # kept after the end
