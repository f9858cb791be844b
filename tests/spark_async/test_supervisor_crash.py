"""Issue 17, item 2: a Supervisor SIGKILLed while its submissions are in flight, then restarted.

Real processes (tests/spark_async/supervisor_client.py), a real SQLite file, the real Spark
standalone cluster of tests/services/spark.py. At the kill, one key in three has its driver
recorded, one has a driver the master accepted but whose id was never persisted, one an
intent whose submit never started. The restart must end every key with one driver: the
recorded ones reattached, the accepted ones found by reference (the async job's lookup,
the blocking job's scan), the others submitted once their dead owner's lease ran out.
Counted on the master's own list of drivers.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Phase, load_record
from tests.services.spark import DriverJar, SparkCluster

pytestmark = pytest.mark.spark
ROOT = Path(__file__).parents[2]
KEYS = 6  # two of each kind of submission in flight


class Client:
    """The supervisor process, its JSON lines read by a thread so every wait has a deadline."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.spark_async.supervisor_client",
                                         json.dumps(config)], cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the supervisor within {timeout}s") from None
        if line is None:
            err = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the supervisor ended ({self.process.wait()}):\n{err[-3000:]}")
        return line


def test_a_supervisor_killed_with_submissions_in_flight_leaves_one_driver_per_key(
    spark_cluster: SparkCluster, spark_driver_jar: DriverJar, tmp_path: Path
) -> None:
    before = spark_cluster.driver_ids()
    db = tmp_path / "state.db"
    config = dict(rest_url=spark_cluster.rest_url, web_ui_url=spark_cluster.web_ui_url, db=str(db), keys=KEYS,
                  app_resource=spark_driver_jar.app_resource, main_class=spark_driver_jar.main_class, lease=5.0)

    first = Client({**config, "hold": True})
    seen: dict[str, set[str]] = {"recorded": set(), "accepted": set(), "holding": set()}
    accepted_ids: set[str] = set()
    try:
        while any(len(keys) < KEYS // 3 for keys in seen.values()):
            line = first.next(timeout=120)
            kind = next(k for k in seen if k in line)
            seen[kind].add(line["key"] if kind == "accepted" else line[kind])
            if kind == "accepted":
                accepted_ids.add(line["accepted"])
    finally:
        os.kill(first.process.pid, signal.SIGKILL)  # every kind of submission in flight at once
        first.process.wait(10)
    assert first.process.returncode == -signal.SIGKILL
    assert accepted_ids <= spark_cluster.driver_ids()  # the master took them; the record names none
    with SqliteStateStore(db) as store:
        for key in seen["accepted"] | seen["holding"]:
            record = load_record(store, key)
            assert record is not None and record.phase is Phase.INTENT and record.job_id is None

    second = Client(config)
    resubmitted: set[str] = set()
    while "outcomes" not in (line := second.next(timeout=600)):
        resubmitted.add(line["recorded"])
    outcomes = line["outcomes"]
    assert second.process.wait(30) == 0
    if not all(str(v).startswith("driver-") for v in outcomes.values()):
        drivers = [(d["id"], d["state"], d.get("worker")) for d in spark_cluster.drivers()]
        pytest.fail(f"not every key ended with its driver: {outcomes}; the master's drivers: {drivers}")
    new_drivers = spark_cluster.driver_ids() - before
    # One driver per key: each key names its own, and the master has no other.
    assert len(set(outcomes.values())) == KEYS and set(outcomes.values()) == new_drivers
    assert accepted_ids <= new_drivers  # the accepted ones were adopted, not submitted again
    assert resubmitted == seen["holding"]  # only the intents whose submit never started were submitted
