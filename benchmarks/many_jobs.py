"""Many jobs in one process: CPU per job-hour, memory per job, detection lag, requests to the cluster.

    .venv/bin/python -m benchmarks.many_jobs --mode compare --jobs 10000 --run-seconds 300
    .venv/bin/python -m benchmarks.many_jobs --mode async --jobs 10000 --run-seconds 120
    .venv/bin/python -m benchmarks.many_jobs --mode threads --jobs 1000 --run-seconds 120

A loopback server answering like the Spark REST status endpoint (RUNNING for
--run-seconds after each submission, then FINISHED; benchmarks/spark_status_server.py)
runs in its own process. This process runs every job to its end with the default
PollPolicy (1 s doubling to 30 s, 10 % jitter) and a SQLite state file:

- async: one ``Supervisor`` (64 calls in flight at most), ``AsyncSparkRestJob`` on one
  aiohttp session, each job asking its own status;
- batched: the same, with the client knowing the master's web UI, so the supervisor asks
  every job's status in one ``/json/`` listing per second (``batch_tick=1.0``, issue 23);
- compare: async, then batched, in one run (a fresh server and state file each);
- threads: one thread per job running ``run_resumable`` with ``SparkRestJob`` on one
  ``SparkRestClient`` (urllib3 pool), as a process embedding today's API would.

Reported: CPU seconds of this process per job-hour of supervised work (total CPU /
(jobs x run time)), resident memory added per job while all of them wait (RSS half-way
through the run, when every job sleeps between polls, minus RSS before the first; also
at the moment the last job was submitted, with the start-up burst in flight), and the lag from
each job's end on the server to its detection (Finished event), against the poll
policy's bound (the longest pause, 30 s, plus jitter). Requests to the cluster are
counted by the server: the status requests and listings per second over the middle half
of the run (every job waiting, all at the 30 s cap in a run of 240 s or more), and in all.
The run is bounded: the jobs' run time plus their submission and last polls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import urllib3

from benchmarks import spark_status_server
from resumable_adapters.spark import (
    AsyncSparkRestClient,
    AsyncSparkRestJob,
    SparkRestClient,
    SparkRestJob,
    SparkSubmission,
)
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import PollPolicy, run_resumable
from resumable_core.aio import Supervisor
from resumable_core.events import Event, Finished, Submitted

# Every module is loaded above, before the baseline RSS is read: memory per job is
# what the jobs add, not the code.

SUBMISSION = SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="etl.Main")
# The default policy's status polling, without progress: a job's progress is asked per job (its driver's
# own UI, found through the master's /json/: docs/progress.md), never batched, and with the web UI a
# batched run knows, ten thousand jobs would each ask it every 15 s. What is measured is the status.
POLL = PollPolicy(progress_interval=None)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def server_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/stats", timeout=30) as answer:
        data: dict[str, int] = json.load(answer)
        return data


class Watch:
    """Submission and detection times per job, the RSS once every job waits, the server's counts."""

    def __init__(self, jobs: int, url: str) -> None:
        self.jobs = jobs
        self.url = url
        self.submitted: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.rss_all_waiting: int | None = None
        self.rss_mid_run: int | None = None
        self.window: list[tuple[float, dict[str, int]]] = []
        self.all_submitted = threading.Event()
        self.lock = threading.Lock()

    def sample_mid_run(self, run_seconds: float) -> None:
        """RSS half-way through the jobs' run, when every job sleeps between polls; the server's
        counts a quarter and three quarters of the way (the middle half: every job waiting)."""
        self.all_submitted.wait()
        start = time.monotonic()
        for at in (run_seconds / 4, run_seconds / 2, 3 * run_seconds / 4):
            time.sleep(max(0.0, start + at - time.monotonic()))
            if at == run_seconds / 2:
                self.rss_mid_run = rss_bytes()
            else:
                self.window.append((time.monotonic(), server_stats(self.url)))

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        with self.lock:
            if isinstance(event, Submitted):
                self.submitted[event.key] = now
                if len(self.submitted) == self.jobs:
                    self.rss_all_waiting = rss_bytes()
                    self.all_submitted.set()
            elif isinstance(event, Finished):
                self.finished[event.key] = now


def run_async(url: str, store: Any, jobs: int, watch: Watch, *, batched: bool = False) -> None:
    async def main() -> None:
        # Without the web UI the job has no listing (an empty batch_key): each asks its own status.
        async with AsyncSparkRestClient(url, max_connections=64, web_ui_url=url if batched else None) as client:
            supervisor = Supervisor(store, max_concurrent_calls=64, listener=watch,
                                    batch_tick=1.0 if batched else None)
            for n in range(jobs):
                supervisor.add(AsyncSparkRestJob(client, SUBMISSION), key=f"job-{n:05d}",
                               poll=POLL)
            outcomes = await supervisor.run()
            failed = [o for o in outcomes.values() if not o.ok]
            assert not failed, failed[:3]

    asyncio.run(main())


def run_threads(url: str, store: Any, jobs: int, watch: Watch) -> None:
    # One pool for every thread, as large as the async side's: the comparison is the waiting, not the pool.
    client = SparkRestClient(url, pool=urllib3.PoolManager(num_pools=2, maxsize=64, block=True, retries=False))
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            run_resumable(SparkRestJob(client, SUBMISSION), store, key=f"job-{n:05d}",
                          poll=POLL, listener=watch)
        except BaseException as exc:  # reported below: a benchmark that half-failed says so
            errors.append(exc)

    threading.stack_size(256 * 1024)  # a generous bound for this call depth; the default 8 MiB is virtual anyway
    threads = [threading.Thread(target=one, args=(n,)) for n in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]


def measure(mode: str, jobs: int, run_seconds: float) -> dict[str, Any]:
    with spark_status_server.started(run_seconds) as url:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStateStore(str(Path(tmp) / "state.db"))
            watch = Watch(jobs, url)
            threading.Thread(target=watch.sample_mid_run, args=(run_seconds,), daemon=True).start()
            rss_before, cpu_before, started = rss_bytes(), cpu_seconds(), time.monotonic()
            if mode == "threads":
                run_threads(url, store, jobs, watch)
            else:
                run_async(url, store, jobs, watch, batched=mode == "batched")
            cpu, wall = cpu_seconds() - cpu_before, time.monotonic() - started
            served = server_stats(url)
        lags = sorted(watch.finished[k] - (watch.submitted[k] + run_seconds) for k in watch.finished)
        job_hours = jobs * run_seconds / 3600
        (t0, first), (t1, last) = watch.window if len(watch.window) == 2 else ((0.0, served), (1.0, served))
        polls = {k: last[k] - first[k] for k in ("status", "listing")}
        return {
            "mode": mode,
            "jobs": jobs,
            "run_seconds": run_seconds,
            "requests_per_s_while_waiting": round((polls["status"] + polls["listing"]) / (t1 - t0), 2),
            "requests_while_waiting": {**polls, "seconds": round(t1 - t0, 1)},
            "requests_in_all": {"status": served["status"], "listing": served["listing"],
                                "create": served["drivers"], "all": served["requests"]},
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 2),
            "cpu_s_per_job_hour": round(cpu / job_hours, 4),
            "cores_busy_while_waiting": round(cpu / wall, 4),
            "rss_before_mib": round(rss_before / 2**20, 1),
            "rss_all_waiting_mib": round((watch.rss_all_waiting or 0) / 2**20, 1),
            "kib_per_job_at_last_submit": round(((watch.rss_all_waiting or rss_before) - rss_before) / 1024 / jobs, 2),
            "rss_mid_run_mib": round((watch.rss_mid_run or 0) / 2**20, 1),
            "kib_per_job_mid_run": round(((watch.rss_mid_run or rss_before) - rss_before) / 1024 / jobs, 2),
            "detection_lag_s": {"median": round(statistics.median(lags), 2), "p99": round(lags[int(len(lags) * .99)], 2),
                                "max": round(lags[-1], 2), "bound": 30 * 1.1},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["async", "batched", "compare", "threads"], required=True)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--run-seconds", type=float, default=120.0)
    args = parser.parse_args()
    if args.mode != "compare":
        print(json.dumps(measure(args.mode, args.jobs, args.run_seconds), indent=2))
        return
    # Each mode in a fresh process: memory per job is measured from a clean baseline, and the
    # first run's freed memory does not flatter the second's.
    reports = []
    for mode in ("async", "batched"):
        done = subprocess.run([sys.executable, "-m", "benchmarks.many_jobs", "--mode", mode, "--jobs", str(args.jobs),
                               "--run-seconds", str(args.run_seconds)], check=True, capture_output=True, text=True)
        reports.append(json.loads(done.stdout))
    print(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
