"""A loopback server that answers like the Spark standalone REST server, for load benchmarks.

    python -m benchmarks.spark_status_server --port 0 --run-seconds 60

``POST /v1/submissions/create`` hands out ``driver-<n>``; ``GET /v1/submissions/status/<id>``
answers RUNNING until the driver's run time has passed since its submission, then
FINISHED; ``POST /v1/submissions/kill/<id>`` ends it KILLED; ``GET /json/`` lists every driver
as the master's web UI does (``activedrivers``, ``completeddrivers``: the batched status);
``GET /stats`` says how many requests of each kind it answered; ``POST /finish`` ends every driver
submitted so far (a test holds drivers running until it says so). HTTP/1.1 keep-alive, one
asyncio process (run it apart from the client under test, so its CPU is not counted).
It prints ``port <n>`` on its first line once it listens; ``started`` runs it so for a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Drivers:
    def __init__(self, run_seconds: float) -> None:
        self.run_seconds = run_seconds
        self.started: dict[str, float] = {}
        self.killed: set[str] = set()
        self.status_calls = 0
        self.listing_calls = 0
        self.requests = 0
        self.finished: set[str] = set()  # ended by POST /finish, whatever their run time

    def create(self) -> dict[str, object]:
        driver_id = f"driver-20261127000000-{len(self.started):05d}"
        self.started[driver_id] = time.monotonic()
        return {"action": "CreateSubmissionResponse", "success": True, "submissionId": driver_id,
                "serverSparkVersion": "4.3.0", "message": "Driver successfully submitted"}

    def state(self, driver_id: str, now: float) -> str:
        if driver_id in self.killed:
            return "KILLED"
        if driver_id in self.finished:
            return "FINISHED"
        return "FINISHED" if now - self.started[driver_id] >= self.run_seconds else "RUNNING"

    def status(self, driver_id: str) -> dict[str, object]:
        self.status_calls += 1
        started = self.started.get(driver_id)
        if started is None:
            return {"action": "SubmissionStatusResponse", "success": False, "submissionId": driver_id}
        state = self.state(driver_id, time.monotonic())
        return {"action": "SubmissionStatusResponse", "success": True, "submissionId": driver_id,
                "driverState": state, "serverSparkVersion": "4.3.0", "workerId": "worker-1",
                "workerHostPort": "127.0.0.1:7078"}

    def listing(self) -> dict[str, object]:
        """The master UI's ``/json/``: every driver it holds, active then completed (the fields Spark sends)."""
        self.listing_calls += 1
        now = time.monotonic()
        active: list[dict[str, object]] = []
        completed: list[dict[str, object]] = []
        for driver_id in self.started:
            state = self.state(driver_id, now)
            entry = {"id": driver_id, "starttime": "1764201600000", "state": state, "cores": 1, "memory": 1024,
                     "worker": "worker-1", "mainclass": "etl.Main"}
            (active if state == "RUNNING" else completed).append(entry)
        return {"url": "spark://127.0.0.1:7077", "status": "ALIVE", "workers": [], "activedrivers": active,
                "completeddrivers": completed}

    def stats(self) -> dict[str, object]:
        return {"requests": self.requests, "status": self.status_calls, "listing": self.listing_calls,
                "drivers": len(self.started)}

    def kill(self, driver_id: str) -> dict[str, object]:
        self.killed.add(driver_id)
        return {"action": "KillSubmissionResponse", "success": driver_id in self.started, "submissionId": driver_id}


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, drivers: Drivers) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if length:
                await reader.readexactly(length)
            if path != "/stats":
                drivers.requests += 1
            if method == "GET" and path.rstrip("/") == "/json":
                payload = drivers.listing()
            elif method == "GET" and path == "/stats":
                payload = drivers.stats()
            elif method == "POST" and path == "/finish":  # a test's release: every driver so far ends now
                drivers.finished.update(drivers.started)
                payload = drivers.stats()
            elif method == "POST" and path.endswith("/v1/submissions/create"):
                payload = drivers.create()
            elif method == "GET" and "/v1/submissions/status/" in path:
                payload = drivers.status(path.rsplit("/", 1)[1])
            elif method == "POST" and "/v1/submissions/kill/" in path:
                payload = drivers.kill(path.rsplit("/", 1)[1])
            else:
                payload = {"action": "ErrorResponse", "success": False, "message": f"no route {path}"}
            body = json.dumps(payload).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, run_seconds: float) -> None:
    drivers = Drivers(run_seconds)
    server = await asyncio.start_server(lambda r, w: serve(r, w, drivers), "127.0.0.1", port, backlog=4096)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


@contextmanager
def started(run_seconds: float, *, cwd: str | None = None) -> Iterator[str]:
    """This server in a process of its own (its CPU is not the benchmark's): its base URL while it runs."""
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.spark_status_server", "--run-seconds",
                               str(run_seconds)], stdout=subprocess.PIPE, text=True, cwd=cwd)
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{int(server.stdout.readline().split()[1])}"
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--run-seconds", type=float, default=60.0)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.run_seconds))
