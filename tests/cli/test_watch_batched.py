"""``resumable watch`` asks the keys of one Spark master in one listing per tick (issue 23).

Against the loopback master of benchmarks/spark_status_server.py (its REST status endpoint and its
web UI's ``/json/``, which counts what it is asked), with real ``resumable`` processes: three
``spark-submit`` clients are SIGKILLed once their drivers are submitted, and one watch follows all
three. The drivers stay RUNNING until the test releases them (``POST /finish``).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.spark_status_server import started
from tests.cli.conftest import REPO, Cli

KEYS = ("etl-a", "etl-b", "etl-c")
DEADLINE = 60.0


@pytest.fixture
def master() -> Iterator[str]:
    with started(3600.0, cwd=str(REPO)) as url:
        yield url


def ask(master: str, path: str, method: str = "GET") -> dict[str, Any]:
    request = urllib.request.Request(f"{master}{path}", method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as answer:
        data: dict[str, Any] = json.load(answer)
        return data


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def submitted_then_killed(cli: Cli, master: str, key: str) -> None:
    client = cli.start("spark-submit", "--json", "--key", key, "--master", master, "--master-web-ui", master,
                       "--class", "etl.Main", "file:/jobs/etl.jar")
    try:
        assert client.stdout is not None
        for line in client.stdout:  # the driver is recorded before the first poll: then the client dies
            if line.startswith("{") and json.loads(line).get("event") == "submitted":
                break
        else:
            raise AssertionError(f"spark-submit ended without submitting: {client.stderr.read() if client.stderr else ''}")
    finally:
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=30)


def test_a_watch_follows_the_keys_of_one_master_through_its_listing(cli: Cli, master: str) -> None:
    for key in KEYS:
        submitted_then_killed(cli, master, key)
    before = ask(master, "/stats")
    assert before["drivers"] == 3
    watch = cli.start("watch", "--json")
    try:
        # While the drivers run, the watch's status checks all go out as listings.
        wait_for(lambda: ask(master, "/stats")["listing"] >= before["listing"] + 2, "two listings")
        running = ask(master, "/stats")
        assert running["status"] == before["status"], "a running driver was asked on its own"
        ask(master, "/finish", "POST")
        out, err = watch.communicate(timeout=DEADLINE)
    finally:
        if watch.poll() is None:
            os.kill(watch.pid, signal.SIGKILL)
            watch.wait(timeout=30)
    assert watch.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["succeeded"] == 3, summary
    after = ask(master, "/stats")
    # An ended driver leaves the blocking job's listing and is asked directly, once: the verdict is its.
    assert after["status"] - running["status"] <= len(KEYS), after
    assert after["drivers"] == 3  # nothing resubmitted
