"""Progress in the command line, on the real Spark standalone cluster with a real multi-stage application.

``spark-submit --json`` prints ``progress_reported`` lines (the versioned progress JSON); after
that client is SIGKILLed, ``resumable watch`` in a real terminal (tmux) draws the progress bar,
the label and the UI link; ``status`` shows the same rows, and ``status --json`` the record's
progress. The application is held running until the test releases it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli
from tests.services.spark import DriverJar, SparkCluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]


class Tmux:
    """A private tmux server (its own socket): one window of a fixed size, read with capture-pane."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.socket = f"resumable-progress-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.cwd = cwd

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30,
                              env=self.env, cwd=self.cwd)
        return done.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "watch", "-x", "160", "-y", "30", command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "watch")

    def wait_for(self, check: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            assert time.monotonic() < deadline, f"the terminal never showed it; it shows:\n{screen}"
            time.sleep(0.5)  # polling a screen: there is no event to wait on

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def tmux(cli: Cli) -> Iterator[Tmux]:
    terminal = Tmux({**cli.env, "TERM": "xterm-256color"}, cli.tmp)
    yield terminal
    terminal.close()


def read_events(process: subprocess.Popen[str], until: Callable[[dict[str, Any]], bool], timeout: float) -> list[Any]:
    """JSON lines from *process* until one satisfies *until* (the process's own lines are the events)."""
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), True)
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, f"the client ended early: {events[-3:]}"
        if line.startswith("{"):
            events.append(json.loads(line))
            if until(events[-1]):
                return events
    raise AssertionError(f"no such event within {timeout}s: {events[-3:]}")


def held(event: dict[str, Any]) -> bool:
    """Progress showing the held job: the shuffle job's 8 tasks done and 4 more tasks known."""
    if event.get("event") != "progress_reported":
        return False
    tasks = event["progress"]["counts"][0]
    return bool(tasks["unit"] == "tasks" and tasks["done"] >= 8 and (tasks["total"] or 0) >= 12)


def test_run_json_status_and_the_live_watch_show_progress(
    cli: Cli, tmux: Tmux, spark_cluster: SparkCluster, spark_multistage_jar: DriverJar, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    rest = spark_cluster.rest_url.replace("http://", "spark://")
    run = cli.start(
        "spark-submit", "--json", "--key", "prog", "--master", rest, "--master-web-ui", spark_cluster.web_ui_url,
        "--class", spark_multistage_jar.main_class, "--driver-memory", "512m", "--name", "resumable-progress-cli",
        "--conf", "spark.executor.memory=512m", "--conf", "spark.cores.max=2",
        spark_multistage_jar.app_resource, str(release),
    )
    try:
        events = read_events(run, held, timeout=400)
        progress = events[-1]["progress"]
        assert progress["v"] == 1 and progress["ui_url"].startswith("http://")
        assert [c["unit"] for c in progress["counts"]] == ["tasks", "stages"]
        assert events[-1]["message"].startswith(f"job {events[-1]['job_id']}: ")
    finally:
        run.kill()  # the client dies; the driver runs on, and the watch takes over
        run.wait(timeout=30)

    # The live display: the watch in a real terminal.
    command = " ".join(shlex.quote(a) for a in cli.argv("watch")) + "; echo WATCH-EXIT $?; sleep 600"
    tmux.start(f"cd {shlex.quote(str(cli.tmp))} && {command}")
    screen = tmux.wait_for(lambda s: "tasks" in s and "ui: http://" in s and "] " in s, timeout=120)
    row = next(line for line in screen.splitlines() if line.startswith("prog "))
    assert "[" in row and "/" in row and "tasks" in row, screen

    # status: the same progress as rows, and in the record's JSON.
    status = cli.run("status", "prog", timeout=60)
    rows = dict(line.split(None, 1) for line in status.stdout.splitlines() if line.strip())
    assert rows["progress"].startswith("[") and "tasks" in rows["progress"], status.stdout
    assert rows["ui"].startswith("http://") and "stage" in rows["now"]
    status_json = cli.run("status", "--json", "prog", timeout=60).events[0]
    assert status_json["progress"]["counts"][0]["done"] >= 8 and status_json["phase"] == "submitted"

    release.write_text("go")
    tmux.wait_for(lambda s: "WATCH-EXIT" in s, timeout=300)
    assert "WATCH-EXIT 0" in tmux.screen(), tmux.screen()
    final = cli.run("status", "--json", "prog", timeout=60).events[0]
    assert final["phase"] == "succeeded" and final["progress"]["counts"][0]["done"] >= 8  # kept after the end
