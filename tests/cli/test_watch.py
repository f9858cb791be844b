"""``resumable watch``: real clients SIGKILLed over a real state file, then one watch follows them all.

The jobs wait for a file the test creates (``wait_for_file``): they end when the test
says, never after a guessed delay. What is checked is what a watch must never get
wrong: every job is followed to its recorded end, nothing is submitted (the job
directories are counted), terminal and other keys are not touched.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
from pathlib import Path

from resumable_adapters.cli import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_NO_RECORD, EXIT_OK, EXIT_USAGE
from resumable_adapters.cli._follow import followed
from resumable_adapters.cli._watch_output import Row, WatchOutput
from resumable_core import JobFailed, JobLost, JobRecord, MemoryStateStore, Phase, Policy, PollPolicy, load_record
from resumable_core.aio import Supervisor, in_threads
from resumable_core.errors import NothingToAttach
from resumable_core.events import Finished, Reattached
from resumable_core.record import Outcome, Submission
from resumable_core.testing import FakeExternalSystem, FakeJob
from tests.cli.conftest import Cli, Result
from tests.cli.test_cli_e2e import kill9, kill9_paused, record, start_and_wait_submitted
from tests.local.conftest import wait_for_file, wait_until


def waiting_job(go: Path, then: str) -> list[str]:
    return ["sh", "-c", f"{wait_for_file(go)}; {then}"]


def start_watch(cli: Cli, *args: str) -> subprocess.Popen[str]:
    return cli.start("watch", "--json", *args)


def reattached(watch: subprocess.Popen[str], count: int) -> tuple[dict[str, str], str]:
    """Read the watch's events until it reattached to *count* keys: {key: job id}, and the lines read."""
    assert watch.stdout is not None
    seen: dict[str, str] = {}
    lines = ""
    while len(seen) < count:
        line = watch.stdout.readline()
        assert line, "the watch ended before reattaching to every key"
        lines += line
        event = json.loads(line)
        if event["event"] == "reattached":
            seen[event["key"]] = event["job_id"]
    return seen, lines


def finish(watch: subprocess.Popen[str], read: str) -> Result:
    out, err = watch.communicate(timeout=60)
    return Result(watch.returncode, read + out, err)


def by_key(result: Result, event: str) -> dict[str, dict[str, object]]:
    return {str(e["key"]): e for e in result.events if e.get("event") == event}


def test_watch_follows_every_unfinished_key_to_its_end_and_submits_nothing(cli: Cli) -> None:
    go = cli.tmp / "go"
    assert cli.run("run", "--key", "batch/done", "--", "true").code == 0
    done_before = record(cli, "batch/done")
    jobs = {}
    for name in ("a", "b", "c"):
        client, jobs[f"batch/{name}"] = start_and_wait_submitted(cli, f"batch/{name}", waiting_job(go, f"echo {name}"))
        kill9(client)
    other, other_job = start_and_wait_submitted(cli, "other", waiting_job(go, "true"))
    kill9(other)
    dirs_before = cli.job_dirs()
    assert len(dirs_before) == 5

    watch = start_watch(cli, "--key-prefix", "batch/", "--max-concurrent-calls", "2")
    # Every followed key is reattached by its recorded id before any job ends.
    seen, read = reattached(watch, 3)
    assert seen == jobs
    go.write_text("")
    result = finish(watch, read)

    assert result.code == EXIT_OK, result.stdout + result.stderr
    results = by_key(result, "result")
    assert sorted(results) == sorted(jobs)
    for key, job_id in jobs.items():
        assert results[key]["job_id"] == job_id and results[key]["exit_code"] == 0
        status = cli.run("status", "--json", key).events[0]
        assert status["phase"] == "succeeded" and status["job_id"] == job_id
        assert status["result"]["exit_code"] == 0 and status["result"]["job_id"] == job_id
    assert "submitted" not in result.event_names() and "error" not in result.event_names()
    summary = result.events[-1]
    assert summary["event"] == "summary" and summary["followed"] == 3 and summary["succeeded"] == 3
    assert summary["terminal"] == 1 and summary["exit_code"] == EXIT_OK
    # Nothing submitted; the terminal key and the key outside the prefix untouched.
    assert cli.job_dirs() == dirs_before
    assert record(cli, "batch/done") == done_before
    other_record = record(cli, "other")
    assert other_record is not None and other_record.phase is Phase.SUBMITTED and other_record.job_id == other_job


def test_a_failed_job_makes_the_watch_exit_117_and_an_already_failed_one_is_not_resubmitted(cli: Cli) -> None:
    go = cli.tmp / "go"
    client, ok_job = start_and_wait_submitted(cli, "ok", waiting_job(go, "true"))
    kill9(client)
    client, bad_job = start_and_wait_submitted(cli, "bad", waiting_job(go, "echo oops >&2; exit 3"))
    kill9(client)
    # This one ends (exit 4) with no client alive, before the watch starts: `run` would
    # resubmit it; a watch reports it and leaves the record as it was.
    early_go = cli.tmp / "early-go"
    client, early_job = start_and_wait_submitted(cli, "early", waiting_job(early_go, "exit 4"))
    kill9(client)
    early_go.write_text("")
    wait_until(lambda: cli.watcher().get_job_status(early_job) == "FAILED", "the early job to fail")
    early_before = record(cli, "early")
    dirs_before = cli.job_dirs()

    watch = start_watch(cli)
    seen, read = reattached(watch, 2)  # "early" is not reattached: it had ended
    assert seen == {"ok": ok_job, "bad": bad_job}
    go.write_text("")
    result = finish(watch, read)

    assert result.code == EXIT_JOB_FAILED, result.stdout + result.stderr
    errors = by_key(result, "error")
    assert sorted(errors) == ["bad", "early"]
    assert errors["bad"]["job_id"] == bad_job and errors["bad"]["job_exit_code"] == 3
    assert errors["bad"]["exit_code"] == EXIT_JOB_FAILED and "exit code 3" in str(errors["bad"]["message"])
    assert errors["early"]["job_id"] == early_job and errors["early"]["job_exit_code"] == 4
    assert "does not submit" in str(errors["early"]["message"])
    assert by_key(result, "result")["ok"]["job_id"] == ok_job
    assert "submitted" not in result.event_names()
    assert cli.job_dirs() == dirs_before
    bad = record(cli, "bad")
    assert bad is not None and bad.phase is Phase.FAILED and bad.job_id == bad_job
    assert record(cli, "early") == early_before  # not rewritten: its next `run` decides
    # The watch wrote nothing that stops a later run from doing what it always does.
    rerun = cli.run("run", "--json", "--key", "early", "--", *waiting_job(early_go, "exit 4"))
    assert rerun.code == 4 and [e["reason"] for e in rerun.events if e["event"] == "submitted"] == ["previous_failed"]


def test_an_intent_is_looked_up_by_reference_adopted_when_found_and_reported_when_not(cli: Cli) -> None:
    never_reference = kill9_paused(cli, "before-submit", "never", ["true"])
    mid_reference = kill9_paused(cli, "after-submit", "mid", ["true"])
    never_before = record(cli, "never")
    assert never_before is not None and never_before.phase is Phase.INTENT
    assert cli.job_dirs() == [mid_reference]

    result = cli.run("watch", "--json")

    assert result.code == EXIT_JOB_FAILED, result.stdout + result.stderr
    reattached = [e for e in result.events if e["event"] == "reattached"]
    assert [(e["key"], e["via"], e["job_id"]) for e in reattached] == [("mid", "reference", mid_reference)]
    assert by_key(result, "result")["mid"]["job_id"] == mid_reference
    error = by_key(result, "error")["never"]
    assert never_reference in str(error["message"]) and error["exit_code"] == EXIT_JOB_FAILED
    assert cli.job_dirs() == [mid_reference]  # nothing submitted for "never"
    assert record(cli, "never") == never_before


def test_sigterm_stops_the_watch_and_leaves_the_job_running_as_recorded(cli: Cli) -> None:
    client, job_id = start_and_wait_submitted(cli, "long", waiting_job(cli.tmp / "go", "true"))
    kill9(client)
    watch = start_watch(cli)
    seen, read = reattached(watch, 1)
    assert seen == {"long": job_id}
    watch.send_signal(signal.SIGTERM)
    result = finish(watch, read)
    assert result.code == EXIT_INTERRUPTED
    assert result.events[-1] == {"event": "interrupted", "keys": ["long"], "ended": [], "exit_code": EXIT_INTERRUPTED}
    assert cli.watcher().get_job_status(job_id) == "RUNNING"
    rec = record(cli, "long")
    assert rec is not None and rec.phase is Phase.SUBMITTED and rec.job_id == job_id


def test_watch_usage_and_nothing_to_follow(cli: Cli) -> None:
    assert cli.run("watch").code == EXIT_NO_RECORD  # no state file: nothing is created
    assert not cli.state.exists()
    assert cli.run("run", "--key", "x", "--", "true").code == 0
    nothing = cli.run("watch")
    assert nothing.code == EXIT_OK and "nothing to follow" in nothing.stderr
    assert cli.run("watch", "--max-concurrent-calls", "0").code == EXIT_USAGE


# -- in process: the rule and the table -----------------------------------------------------------


def test_in_process_a_watch_never_submits_whatever_the_record_calls_for() -> None:
    """The rule over the core's three ways to a new submission, with the public fakes."""
    system = FakeExternalSystem(running_polls=0, outcomes=["FAILED", "SUCCEEDED", "SUCCEEDED"])
    job = FakeJob(system)  # has a fingerprint: a watch must not present it (the record's differs)
    failed, lost, running = (job.submit_job(f"ref-{n}") for n in (1, 2, 3))
    system.finish(failed)
    system.forget(lost)
    store = MemoryStateStore()

    def submitted(key: str, reference: str, job_id: str) -> JobRecord:
        entry = Submission(reference, job_id, Outcome.ACTIVE, intent_at=1.0, submitted_at=1.0)
        return JobRecord(key, Phase.SUBMITTED, reference, 2, 1.0, job_id=job_id, status="RUNNING",
                         fingerprint="another spec", history=(entry,))

    records = {
        "failed": submitted("failed", "ref-1", failed),
        "lost": submitted("lost", "ref-2", lost),
        "never": JobRecord("never", Phase.INTENT, "ref-none", 1, 1.0,
                           history=(Submission("ref-none", None, Outcome.PENDING, intent_at=1.0),)),
        "running": submitted("running", "ref-3", running),
    }
    for key, rec in records.items():
        store.set(key, rec.to_json())
    output = WatchOutput("json", [], out=io.StringIO())
    supervisor = Supervisor(store)
    for key in records:
        supervisor.add(followed(in_threads(job), key, output), key=key, policy=Policy(), attach_only=True,
                       poll=PollPolicy(min_interval=0.01, max_interval=0.01))

    outcomes = asyncio.run(supervisor.run())

    assert system.submissions() == [failed, lost, running]  # nothing new
    assert isinstance(outcomes["failed"].error, JobFailed) and outcomes["failed"].error.status == "FAILED"
    assert isinstance(outcomes["lost"].error, JobLost) and outcomes["lost"].error.job_id == lost
    assert isinstance(outcomes["never"].error, NothingToAttach) and "ref-none" in outcomes["never"].error.message
    assert outcomes["running"].ok
    for key in ("failed", "lost", "never"):
        assert load_record(store, key) == records[key]  # the refused intent was never written
    done = load_record(store, "running")
    assert done is not None and done.phase is Phase.SUCCEEDED and done.fingerprint == "another spec"


def test_the_table_shows_a_row_per_key_redrawn_in_place() -> None:
    err = io.StringIO()
    now = [1000.0]
    output = WatchOutput("tty", [Row("etl/a", "job-1", "RUNNING", 990.0), Row("etl/b", None, "INTENT", 1000.0)],
                         err=err, clock=lambda: now[0])
    output.redraw()
    first = err.getvalue()
    assert "KEY" in first and "etl/a  job-1" in first and "RUNNING" in first and "0:10" in first
    now[0] = 1005.0
    output.event(Reattached("etl/b", "ref", "job-2", "RUNNING", "reference"))
    output.event(Finished("etl/a", "ref", "job-1", "SUCCEEDED", True))
    text = err.getvalue()[len(first):]
    assert text.count("\r\x1b[3A\x1b[J") >= 1  # the old table (3 lines) erased, not scrolled
    last_table = text.rsplit("KEY", 1)[1]
    assert "job-2" in last_table and "SUCCEEDED" in last_table and "0:15" in last_table
    assert "resumable: etl/a: job job-1 ended SUCCEEDED" in text
