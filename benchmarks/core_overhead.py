"""What the core adds around a job: time per run_resumable and per store write.

    .venv/bin/python -m benchmarks.core_overhead [--runs N]

A run against the in-process fake (submit, three polls, success) costs a few
store writes: intent, job id, status changes, the end. With SQLite those are
durable commits (WAL, synchronous=FULL: an fsync each), which dominate.
Prints medians over batches; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import MemoryStateStore, PollPolicy, StateStore, run_resumable
from resumable_core.testing import FakeExternalSystem, FakeJob

NO_WAIT = PollPolicy(min_interval=0, max_interval=0)


def per_call(fn: Callable[[int], object], calls: int, batches: int = 5) -> tuple[float, float]:
    """Median (cpu, wall) seconds per call over *batches* batches of *calls* calls."""
    cpu: list[float] = []
    wall: list[float] = []
    for batch in range(batches):
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(calls):
            fn(batch * calls + i)
        cpu.append((time.process_time() - c0) / calls)
        wall.append((time.perf_counter() - w0) / calls)
    return statistics.median(cpu), statistics.median(wall)


def fresh_runs(store: StateStore) -> Callable[[int], object]:
    system = FakeExternalSystem(running_polls=2)
    return lambda i: run_resumable(FakeJob(system), store, key=f"k{i}", poll=NO_WAIT, sleep=lambda s: None)


def reused_runs(store: StateStore) -> Callable[[int], object]:
    system = FakeExternalSystem(running_polls=0)
    run_resumable(FakeJob(system), store, key="done", poll=NO_WAIT, sleep=lambda s: None)
    return lambda i: run_resumable(FakeJob(system), store, key="done", poll=NO_WAIT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteStateStore(Path(tmp) / "bench.db")
        rows = [
            ("submit + 3 polls + success, MemoryStateStore", fresh_runs(MemoryStateStore())),
            ("submit + 3 polls + success, SqliteStateStore", fresh_runs(sqlite)),
            ("recorded success reused, MemoryStateStore", reused_runs(MemoryStateStore())),
            ("recorded success reused, SqliteStateStore", reused_runs(sqlite)),
            ("one durable compare_and_set, SqliteStateStore", lambda i: sqlite.compare_and_set(f"c{i}", None, {"i": i})),
        ]
        print(f"{'what':52} {'cpu/call':>10} {'wall/call':>10}")
        for name, fn in rows:
            cpu, wall = per_call(fn, args.runs)
            print(f"{name:52} {cpu * 1e3:8.3f}ms {wall * 1e3:8.3f}ms")
        sqlite.close()


if __name__ == "__main__":
    main()
