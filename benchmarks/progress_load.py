"""What showing progress costs a cluster: progress calls per second under one Supervisor.

    .venv/bin/python -m benchmarks.progress_load --jobs 10000 --run-seconds 120

Every job runs for --run-seconds under the default PollPolicy (status polled from 1 s
doubling to 30 s, progress asked every 15 s while the job runs), its status batched (one
listing per second). The jobs are in-process fakes of one cluster that count the calls a
cluster would see: what is measured is how many calls the core makes, not HTTP. Three runs,
a fresh Supervisor each:

- unbudgeted: ``progress_rate=None``, each job asks its own progress (as before the budget);
- budgeted: the default budget, ``progress_rate=1.0`` calls a second per system;
- batched: jobs that can say the progress of many in one call (``get_job_progresses``).

Reported for each: progress calls per second over the middle half of the run (every job
running), listings per second, and the share of jobs whose progress was recorded at least once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from resumable_core import MemoryStateStore, PollPolicy, load_record
from resumable_core.aio import Supervisor
from resumable_core.progress import Count, Progress


class Cluster:
    """One cluster's jobs: each runs for *run_seconds* after its submission; calls are timestamped."""

    def __init__(self, run_seconds: float) -> None:
        self.run_seconds = run_seconds
        self.started: dict[str, float] = {}
        self.progress_calls: list[float] = []
        self.listings: list[float] = []

    def status(self, job_id: str) -> str:
        return "RUNNING" if time.monotonic() - self.started[job_id] < self.run_seconds else "FINISHED"


class Job:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    batch_key = "cluster"

    async def submit_job(self, reference: str) -> str:
        self.cluster.started[reference] = time.monotonic()
        return reference

    async def get_job_status(self, job_id: str) -> str:
        return self.cluster.status(job_id)

    async def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        self.cluster.listings.append(time.monotonic())
        return {job_id: self.cluster.status(job_id) for job_id in job_ids}

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "FINISHED"

    async def get_job_result(self, job_id: str, status: str) -> None:
        return None

    async def job_progress(self, job_id: str) -> Progress:
        self.cluster.progress_calls.append(time.monotonic())
        return Progress(counts=(Count("tasks", int(time.monotonic() - self.cluster.started[job_id]), 100),))


class BatchJob(Job):
    async def get_job_progresses(self, job_ids: Sequence[str]) -> Mapping[str, Progress]:
        self.cluster.progress_calls.append(time.monotonic())
        now = time.monotonic()
        return {job_id: Progress(counts=(Count("tasks", int(now - self.cluster.started[job_id]), 100),))
                for job_id in job_ids}


def run(kind: str, jobs: int, run_seconds: float) -> dict[str, Any]:
    cluster = Cluster(run_seconds)
    store = MemoryStateStore()
    options: dict[str, Any] = {"progress_rate": None} if kind == "unbudgeted" else {}
    supervisor = Supervisor(store, batch_tick=1.0, **options)
    for i in range(jobs):
        supervisor.add(BatchJob(cluster) if kind == "batched" else Job(cluster), key=f"k{i:05d}", poll=PollPolicy())
    began = time.monotonic()
    outcomes = asyncio.run(supervisor.run())
    assert all(o.ok for o in outcomes.values())
    lo, hi = began + run_seconds / 4, began + 3 * run_seconds / 4

    def rate(stamps: list[float]) -> float:
        return round(sum(1 for t in stamps if lo <= t < hi) / (hi - lo), 2)

    with_progress = sum(1 for i in range(jobs) if (r := load_record(store, f"k{i:05d}")) and r.progress is not None)
    return {"kind": kind, "jobs": jobs, "run_seconds": run_seconds,
            "progress_calls_per_s": rate(cluster.progress_calls), "listings_per_s": rate(cluster.listings),
            "jobs_with_progress": round(with_progress / jobs, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--run-seconds", type=float, default=120.0)
    args = parser.parse_args()
    for kind in ("unbudgeted", "budgeted", "batched"):
        print(json.dumps(run(kind, args.jobs, args.run_seconds)), flush=True)


if __name__ == "__main__":
    main()
