"""CPU and wall time per status check of a Spark standalone driver, three ways, one cluster.

    .venv/bin/python -m benchmarks.spark_poll [--client-polls 500] [--curl-runs 30] [--submit-runs 5]

1. ``SparkRestClient.status`` on a kept-alive urllib3 connection (what SparkRestJob does
   per poll), measured in this process with ``time.process_time``.
2. ``spark-submit --master spark://<rest> --status <id>``: what Airflow's SparkSubmitHook
   runs per poll in standalone cluster mode (a JVM start each time).
3. ``curl --max-time 30 <rest>/v1/submissions/status/<id>``: the hook's other command.

For 2 and 3 the CPU is the children's rusage (user + sys, every waited-for descendant),
so the JVM launcher's own child JVM counts too. A private cluster is started (the same
fixture code the tests use) with one driver sleeping through the whole run; pass
``--rest-url``/``--driver-id`` to measure an existing one instead. Prints a table and
writes benchmarks/out/spark_poll.json. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from resumable_adapters.spark import SparkRestClient, SparkSubmission
from tests.services.spark import SparkCluster, compile_driver_jar, spark_home, start_spark_cluster

OUT = Path(__file__).parent / "out"
# The hook parses "driverState" out of spark-submit's INFO log, so its runs log at INFO.
# (Measured here: spark-submit 4.3 --status sends the GET and exits 0 but prints no state
# even so; its output is therefore not checked, only its exit code.)
LOG4J2_INFO = """\
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(argv: list[str], env: dict[str, str], runs: int, expect: str | None) -> list[tuple[float, float]]:
    """(cpu, wall) seconds per run of a whole process, after one warm-up run."""
    samples = []
    for index in range(runs + 1):
        cpu0, wall0 = children_cpu(), time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        sample = (children_cpu() - cpu0, time.perf_counter() - wall0)
        if done.returncode != 0 or (expect is not None and expect not in done.stdout + done.stderr):
            raise RuntimeError(f"{argv[0]} did not report the driver: {done.stdout[-500:]} {done.stderr[-500:]}")
        if index:
            samples.append(sample)
    return samples


def time_client(client: SparkRestClient, driver_id: str, polls: int, batches: int = 5) -> list[tuple[float, float]]:
    """(cpu, wall) seconds per poll, one figure per batch of polls on the kept-alive connection."""
    client.status(driver_id)  # warm-up: opens the connection
    samples = []
    for _ in range(batches):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(polls):
            status = client.status(driver_id)
            assert status is not None and status.state == "RUNNING"
        samples.append(((time.process_time() - cpu0) / polls, (time.perf_counter() - wall0) / polls))
    return samples


def median(samples: list[tuple[float, float]], which: int) -> float:
    return statistics.median(s[which] for s in samples)


@contextlib.contextmanager
def private_cluster() -> Iterator[tuple[SparkCluster, str, Callable[[], None]]]:
    base = Path(tempfile.mkdtemp(prefix="spark-bench-"))
    try:
        jar = compile_driver_jar(base / "jar")
        with start_spark_cluster(base / "cluster") as cluster:
            client = SparkRestClient(cluster.rest_url)
            sub = SparkSubmission(app_resource=jar.app_resource, main_class=jar.main_class,
                                  app_args=("3600", "0"), driver_memory="256m", name="bench")
            driver_id = client.create(sub.create_request())
            while (status := client.status(driver_id)) is None or status.state != "RUNNING":
                time.sleep(0.2)
            def kill() -> None:
                client.kill(driver_id)

            yield cluster, driver_id, kill
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(args: argparse.Namespace, rest_url: str, driver_id: str, env: dict[str, str]) -> dict[str, Any]:
    conf_dir = Path(tempfile.mkdtemp(prefix="spark-bench-conf-"))
    (conf_dir / "log4j2.properties").write_text(LOG4J2_INFO)
    env = {**env, "SPARK_CONF_DIR": str(conf_dir)}
    client = SparkRestClient(rest_url, timeout=30.0)
    master = rest_url.replace("http://", "spark://")
    commands = {
        "spark-submit --status": [str(spark_home() / "bin" / "spark-submit"), "--master", master, "--status", driver_id],
        "curl": ["curl", "--silent", "--max-time", "30", f"{rest_url}/v1/submissions/status/{driver_id}"],
    }
    results: dict[str, list[tuple[float, float]]] = {"SparkRestClient (kept-alive)": time_client(client, driver_id, args.client_polls)}
    results["curl"] = time_command(commands["curl"], env, args.curl_runs, "RUNNING")
    results["spark-submit --status"] = time_command(commands["spark-submit --status"], env, args.submit_runs, None)
    client.close()
    table = {name: {"cpu_s": median(s, 0), "wall_s": median(s, 1), "runs": len(s)} for name, s in results.items()}
    ours = table["SparkRestClient (kept-alive)"]
    for row in table.values():
        row["cpu_ratio_vs_client"] = row["cpu_s"] / ours["cpu_s"]
        row["wall_ratio_vs_client"] = row["wall_s"] / ours["wall_s"]
    return {"commands": {k: " ".join(v) for k, v in commands.items()}, "medians": table, "cpus": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client-polls", type=int, default=500, help="polls per batch (5 batches)")
    parser.add_argument("--curl-runs", type=int, default=30)
    parser.add_argument("--submit-runs", type=int, default=5)
    parser.add_argument("--rest-url", help="an existing master's REST URL (else a private cluster)")
    parser.add_argument("--driver-id", help="a RUNNING driver on --rest-url")
    args = parser.parse_args()
    if args.rest_url:
        env = dict(os.environ)
        report = run(args, args.rest_url.rstrip("/"), args.driver_id, env)
    else:
        with private_cluster() as (cluster, driver_id, stop):
            try:
                report = run(args, cluster.rest_url, driver_id, cluster.env())
            finally:
                stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "spark_poll.json").write_text(json.dumps(report, indent=2))
    print(f"{'per status check (median)':32} {'CPU ms':>10} {'wall ms':>10} {'CPU x':>8} {'wall x':>8}")
    for name, row in report["medians"].items():
        print(f"{name:32} {row['cpu_s'] * 1e3:10.3f} {row['wall_s'] * 1e3:10.3f} "
              f"{row['cpu_ratio_vs_client']:8.1f} {row['wall_ratio_vs_client']:8.1f}")


if __name__ == "__main__":
    main()
