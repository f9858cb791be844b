"""Which async HTTP client for the async Spark job: CPU per status call, httpx against aiohttp.

    .venv/bin/python -m benchmarks.async_http_clients           # --calls 20000 --concurrency 200

Starts benchmarks/spark_status_server.py in its own process, then, in this process,
makes the same number of status GETs with each client (one shared pool each, the
given number of tasks in flight), three rounds each, alternating. CPU is this
process's own (user + sys): what a supervisor of many jobs pays per poll.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from collections.abc import Awaitable, Callable

from benchmarks import spark_status_server


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(get: Callable[[str], Awaitable[None]], calls: int, concurrency: int, base: str) -> None:
    queue = iter(range(calls))

    async def worker() -> None:
        for n in queue:
            await get(f"{base}/v1/submissions/status/driver-20261127000000-{n % 100:05d}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def with_httpx(calls: int, concurrency: int, base: str) -> tuple[float, float]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def get(url: str) -> None:
            answer = await client.get(url)
            answer.json()

        await get(f"{base}/v1/submissions/status/warm")
        started, wall = cpu(), time.perf_counter()
        await drive(get, calls, concurrency, base)
        return cpu() - started, time.perf_counter() - wall


async def with_aiohttp(calls: int, concurrency: int, base: str) -> tuple[float, float]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def get(url: str) -> None:
            async with session.get(url) as answer:
                await answer.json(content_type=None)

        await get(f"{base}/v1/submissions/status/warm")
        started, wall = cpu(), time.perf_counter()
        await drive(get, calls, concurrency, base)
        return cpu() - started, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with spark_status_server.started(run_seconds=1e9) as base:
        rounds: dict[str, list[tuple[float, float]]] = {"httpx": [], "aiohttp": []}
        for _ in range(args.rounds):
            rounds["httpx"].append(asyncio.run(with_httpx(args.calls, args.concurrency, base)))
            rounds["aiohttp"].append(asyncio.run(with_aiohttp(args.calls, args.concurrency, base)))
        table = {
            name: {"cpu_us_per_call": 1e6 * statistics.median(c for c, _ in r) / args.calls,
                   "wall_us_per_call": 1e6 * statistics.median(w for _, w in r) / args.calls}
            for name, r in rounds.items()
        }
        table["ratio httpx/aiohttp cpu"] = {
            "value": table["httpx"]["cpu_us_per_call"] / table["aiohttp"]["cpu_us_per_call"]}
        print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
