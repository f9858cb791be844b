"""The crash-and-resume demo: ``python -m resumable_adapters.demo`` (``make demo``).

On the embedded default (a SQLite state file and a local process), in a
temporary directory, through the real ``resumable`` command line:

1. start a job that takes a few seconds, and SIGKILL the client while it runs;
2. run the same command again: it reattaches to the same job (same job id, same pid);
3. run it once more after completion: the recorded result is reused, nothing submitted.

Narrates each step, ends with a summary (``submissions made: 1``) and exits
non-zero when the story did not happen as told. No Java, no network, ~10 s.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from resumable_core import load_record

from .local import LocalProcessJob
from .sqlite import SqliteStateStore

KEY = "nightly-report"
SCRIPT = "build-report.sh"
RELEASE = "inputs-ready"
# The job runs until the demo creates RELEASE, once the rerun said it reattached: a fixed-length
# job could end while a slow machine starts the rerun, which would then reuse the result
# instead of reattaching, and the demo would fail for a reason that is no fault of the library.
# Bounded (about DEMO_TIMEOUT), so a demo that failed leaves no job behind for long.
SCRIPT_TEXT = ("echo 'building the report...'\n"
               f"i=0; while [ ! -e {RELEASE} ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done\n"
               "echo 'report ready: 42 rows'\n")
JOB = ["sh", SCRIPT]
STEP_TIMEOUT = 20.0  # no step may hang the demo
DEMO_TIMEOUT = 90  # seconds; it takes about 8


CLIENTS: list[Client] = []


class DemoFailed(Exception):
    """The story did not happen as the demo tells it."""


def say(text: str = "") -> None:
    print(text, flush=True)


class Client:
    """One ``resumable run --json`` process, read event by event."""

    def __init__(self, workdir: Path, state: Path) -> None:
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        argv = [sys.executable, "-m", "resumable_adapters.cli", "run", "--json", "--key", KEY, "--state", str(state), "--", *JOB]
        shown = ["resumable", "run", "--key", KEY, "--state", state.name, "--", *JOB]
        say(f"  $ {shlex.join(shown)}")
        self.process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.events: list[dict[str, Any]] = []
        CLIENTS.append(self)

    def next_event(self) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            return None
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        narrate(event)
        return event

    def wait_for(self, name: str) -> dict[str, Any]:
        while True:
            event = self.next_event()
            if event is None:
                raise DemoFailed(f"the client ended before a {name!r} event: {self.stderr()}")
            if event["event"] == name:
                return event

    def finish(self) -> int:
        while self.next_event() is not None:
            pass
        return self.process.wait(timeout=STEP_TIMEOUT)

    def stderr(self) -> str:
        assert self.process.stderr is not None
        if self.process.poll() is None:
            return ""
        return self.process.stderr.read().strip()


def narrate(event: dict[str, Any]) -> None:
    """Say a ``resumable run --json`` line: a core event in its one text (its ``message``,
    ``describe()`` in the core), the final result in the demo's own words."""
    name = event["event"]
    if name == "result":
        result = event.get("result") or {}
        say(f"    -> result: exit code {result.get('exit_code')}, ran {result.get('duration', 0):.1f}s, "
            f"pid {result.get('runner_pid')}")
    elif isinstance(event.get("message"), str):
        say(f"    -> {event['message']}")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailed(what)
    say(f"    ok: {what}")


def run_demo(workdir: Path) -> int:
    state = workdir / "state.db"
    jobs = LocalProcessJob(None, jobs_dir=workdir / "state-jobs")
    started = time.monotonic()
    (workdir / SCRIPT).write_text(SCRIPT_TEXT)
    say(f"The job, {SCRIPT}:")
    for line in SCRIPT_TEXT.splitlines():
        say(f"  | {line}")
    say()

    say(f"Step 1: start a job (it runs until {RELEASE} exists), then SIGKILL the client while the job runs.")
    first = Client(workdir, state)
    submitted = first.wait_for("submitted")
    job_id = submitted["job_id"]
    pid = jobs.inspect(job_id).runner_pid
    deadline = time.monotonic() + STEP_TIMEOUT
    while jobs.get_job_status(job_id) != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)
    first.process.send_signal(signal.SIGKILL)
    code = first.process.wait(timeout=STEP_TIMEOUT)
    say(f"  client killed (SIGKILL, exit status {code}); the job runs on: pid {pid}, "
        f"status {jobs.get_job_status(job_id)}")
    expect(code == -signal.SIGKILL, "the client died without any chance to clean up")
    expect(jobs.get_job_status(job_id) == "RUNNING", f"job {job_id} kept running without its client")

    say()
    say("Step 2: run the same command again.")
    second = Client(workdir, state)
    second.wait_for("reattached")
    (workdir / RELEASE).touch()
    say(f"  created {RELEASE}: the job may finish now")
    code = second.finish()
    names = [e["event"] for e in second.events]
    result = next((e.get("result") or {} for e in second.events if e["event"] == "result"), {})
    expect("submitted" not in names and "reattached" in names, "it reattached instead of submitting again")
    expect(result.get("job_id") == job_id and result.get("runner_pid") == pid,
           f"same job id ({job_id}) and same pid ({pid})")
    expect(code == 0 and result.get("exit_code") == 0, "the job finished and succeeded (exit status 0)")
    output = Path(result["stdout"]).read_text().strip().splitlines()
    say(f"  the job's output: {' / '.join(output)}")

    say()
    say("Step 3: run it once more, now that it is done.")
    third = Client(workdir, state)
    code = third.finish()
    names = [e["event"] for e in third.events]
    expect(code == 0 and "result_reused" in names, "the recorded result was returned")
    expect("submitted" not in names and "reattached" not in names, "nothing was submitted or attached")

    record = load_record(SqliteStateStore(state), KEY)
    assert record is not None
    job_dirs = [p for p in (workdir / "state-jobs").iterdir() if not p.name.startswith(".")]
    say()
    say("Summary")
    say("  clients started: 3 (one SIGKILLed mid-run)")
    say(f"  submissions made: {record.submissions}")
    say(f"  processes started: {len(job_dirs)} (job {job_id}, pid {pid})")
    say(f"  final state: {record.phase.value}, {record.status}")
    say(f"  took {time.monotonic() - started:.1f}s")
    expect(record.submissions == 1 and len(job_dirs) == 1, "one submission, one process, for three runs")
    return 0


def main() -> int:
    say("resumable-core demo: submit once, survive the client's crash, reuse the result.")
    say("(a SQLite state file and a local process; the client is the real `resumable` command)")
    say()
    def too_slow(signum: int, frame: object) -> None:
        raise DemoFailed(f"the demo took more than {DEMO_TIMEOUT}s")

    signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(DEMO_TIMEOUT)  # a client that hangs must not hang the demo
    with tempfile.TemporaryDirectory(prefix="resumable-demo-") as tmp:
        try:
            return run_demo(Path(tmp))
        except (DemoFailed, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as exc:
            say()
            say(f"DEMO FAILED: {exc}")
            return 1
        finally:
            signal.alarm(0)
            (Path(tmp) / RELEASE).touch()  # a job a failed demo left waiting ends now
            for client in CLIENTS:
                if client.process.poll() is None:
                    client.process.kill()
                    client.process.wait()


if __name__ == "__main__":
    sys.exit(main())
