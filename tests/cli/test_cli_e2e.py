"""The ``resumable`` command end to end: real subprocesses, a real SQLite file, real signals."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from resumable_adapters.cli import (
    EXIT_AMBIGUOUS,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_NO_RECORD,
    EXIT_STATE,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from resumable_adapters.cli._common import describe
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import JobRecord, Phase, Poller, PollPolicy, TransientError, load_record
from resumable_core.errors import TransientBudgetExhausted
from tests.cli.conftest import Cli, Result
from tests.local.conftest import wait_for_file, wait_until

# Ended by each test itself (cancel, interrupt, kill) or by the fixture: long enough that no
# start-up of a later command on a busy machine sees it end by itself.
LONG = ["sh", "-c", "sleep 600"]


def record(cli: Cli, key: str) -> JobRecord | None:
    with SqliteStateStore(cli.state) as store:
        return load_record(store, key)


def rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT key, value FROM resumable_state ORDER BY key"))


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"
    assert lines[0].startswith("resumable: error: ") and "Traceback" not in result.stderr
    return lines[0]


def start_and_wait_submitted(cli: Cli, key: str, command: list[str], *extra: str) -> tuple[subprocess.Popen[str], str]:
    """A client in --json mode, returned once the job id is recorded and the job runs."""
    client = cli.start("run", "--json", "--key", key, *extra, "--", *command)
    assert client.stdout is not None
    event = json.loads(client.stdout.readline())
    assert event["event"] == "submitted", event
    job_id = str(event["job_id"])
    wait_until(lambda: cli.watcher().get_job_status(job_id) == "RUNNING", "the job to run")
    return client, job_id


def run_releasing(cli: Cli, release: Path, event: str, *args: str) -> Result:
    """Run the command; once it printed *event* (``--json``), create *release* (the job then ends)."""
    process = cli.start(*args)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("{") and json.loads(line).get("event") == event:
            break
    release.touch()
    out, err = process.communicate(timeout=60)
    return Result(process.returncode, "".join(seen) + out, err)


def read_terminal(fd: int, *, release: Path | None = None, once: bytes = b"") -> bytes:
    """Everything written to a pty until the client closes it; *release* created once *once* showed."""
    seen = b""
    while True:
        if release is not None and once in seen:
            release.touch()
            release = None
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the client closed the terminal
            return seen
        if not chunk:
            return seen
        seen += chunk


def kill9(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


def kill9_paused(cli: Cli, point: str, key: str, command: list[str]) -> str:
    """A ``run`` client held at *point* of its submission by _paused_client.py (``before-submit``:
    the intent recorded; ``after-submit``: the job started, its id not recorded), SIGKILLed there:
    the reference it had."""
    ready = cli.tmp / f"ready-{point}"
    ready.unlink(missing_ok=True)
    client = cli.start(point, str(ready), "--", "run", "--key", key, "--", *command, script="_paused_client.py")
    reference = str(wait_until(lambda: ready.exists() and ready.read_text(), f"the client to reach {point}"))
    kill9(client)
    return reference


# -- run -----------------------------------------------------------------------------------------


def test_run_succeeds_prints_the_output_and_a_rerun_reuses_it(cli: Cli) -> None:
    first = cli.run("run", "--key", "hello", "--", "sh", "-c", "echo hello; echo note >&2")
    assert first.code == 0, first.stderr
    assert first.stdout == "hello\n" and "note" in first.stderr and "submitted job" in first.stderr
    again = cli.run("run", "--key", "hello", "--", "sh", "-c", "echo hello; echo note >&2")
    assert again.code == 0 and again.stdout == "hello\n"
    assert "result reused" in again.stderr and "submitted job" not in again.stderr
    rec = record(cli, "hello")
    assert rec is not None and rec.phase is Phase.SUCCEEDED and rec.submissions == 1
    assert len(cli.job_dirs()) == 1


def test_json_mode_prints_only_json_events_ending_with_the_result(cli: Cli) -> None:
    result = cli.run("run", "--json", "--key", "j", "--", "true")
    assert result.code == 0 and result.stderr == ""
    assert all(line.startswith("{") for line in result.stdout.splitlines())
    assert result.event_names()[0] == "submitted" and result.event_names()[-1] == "result"
    final = result.events[-1]
    assert final["exit_code"] == 0 and final["result"]["exit_code"] == 0
    assert final["job_id"] == result.events[0]["job_id"]


def test_a_failed_job_exits_with_its_own_status_and_one_line_and_a_rerun_submits_again(cli: Cli) -> None:
    failed = cli.run("run", "--key", "bad", "--", "sh", "-c", "echo oops >&2; exit 3")
    assert failed.code == 3  # the command's own status, as timeout/flock/nice pass it on
    assert "oops" in failed.stderr  # the job's stderr, replayed
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("resumable: error: ") and "exit code 3" in last
    again = cli.run("run", "--json", "--key", "bad", "--", "sh", "-c", "echo oops >&2; exit 3")
    submitted = [e for e in again.events if e["event"] == "submitted"]
    assert again.code == 3 and submitted and submitted[0]["reason"] == "previous_failed"
    assert "resubmitted" in submitted[0]["message"]
    assert again.events[-1] == {**again.events[-1], "event": "error", "exit_code": 3, "job_exit_code": 3}
    assert len(cli.job_dirs()) == 2
    history = cli.run("history", "--json", "bad")
    assert [e["outcome"] for e in history.events] == ["failed", "failed"]


# -- kill -9 of the client at several points -----------------------------------------------------


def test_kill9_while_polling_then_rerun_reattaches_to_the_same_job(cli: Cli) -> None:
    # The job runs until the rerun said it reattached (the test then creates the release file):
    # however slowly the rerun starts, it finds the job running.
    release = cli.tmp / "release"
    command = ["sh", "-c", f"while [ ! -e '{release}' ]; do sleep 0.05; done; echo done"]
    client, job_id = start_and_wait_submitted(cli, "poll", command)
    kill9(client)
    assert cli.watcher().get_job_status(job_id) == "RUNNING"  # the job outlived its client
    rerun = run_releasing(cli, release, "reattached", "run", "--json", "--key", "poll", "--", *command)
    assert rerun.code == 0, rerun.stderr
    reattached = [e for e in rerun.events if e["event"] == "reattached"]
    assert reattached and reattached[0]["job_id"] == job_id and reattached[0]["via"] == "record"
    assert "submitted" not in rerun.event_names()
    assert rerun.events[-1]["result"]["job_id"] == job_id
    assert cli.job_dirs() == [job_id]


def test_kill9_before_submit_then_rerun_submits_exactly_once(cli: Cli) -> None:
    # The rerun must read the record while the dead client's intent lease (5 s for a local
    # command) still runs: its interpreter is started and loaded first, and it runs the command
    # the moment the test says, so no cold start on a busy machine falls inside the lease.
    go = cli.tmp / "go-rerun"
    rerun_process = cli.start("start-on", str(go), "--", "run", "--json", "--key", "early", "--", "true",
                              script="_paused_client.py")
    wait_until(lambda: Path(f"{go}.armed").exists() or rerun_process.poll() is not None, "the rerun to load")
    reference = kill9_paused(cli, "before-submit", "early", ["true"])
    rec = record(cli, "early")
    assert rec is not None and rec.phase is Phase.INTENT and rec.reference == reference
    assert cli.job_dirs() == []
    go.touch()
    out, err = rerun_process.communicate(timeout=60)
    rerun = Result(rerun_process.returncode, out, err)
    assert rerun.code == 0, rerun.stderr
    assert rerun.event_names().count("submitted") == 1
    # While the dead client's lease runs, the rerun says what it waits for, and until when.
    waits = [e for e in rerun.events if e["event"] == "waiting_for_owner"]
    assert waits and waits[0]["reference"] == reference and waits[0]["lease_until"] > 0
    until = time.strftime("%H:%M:%S", time.localtime(waits[0]["lease_until"]))
    assert f"until {until}" in waits[0]["message"]
    assert cli.job_dirs() == [reference]  # submitted under the reference the intent recorded


def test_kill9_after_submit_before_the_id_is_recorded_then_rerun_adopts_the_job(cli: Cli) -> None:
    # The job runs until the rerun said it reattached (a release file), however slowly the rerun starts.
    release = cli.tmp / "release-mid"
    command = ["sh", "-c", f"while [ ! -e '{release}' ]; do sleep 0.05; done"]
    reference = kill9_paused(cli, "after-submit", "mid", command)
    rec = record(cli, "mid")
    assert rec is not None and rec.phase is Phase.INTENT and rec.job_id is None
    assert cli.job_dirs() == [reference]
    rerun = run_releasing(cli, release, "reattached", "run", "--json", "--key", "mid", "--", *command)
    assert rerun.code == 0, rerun.stderr
    assert "submitted" not in rerun.event_names()
    reattached = [e for e in rerun.events if e["event"] == "reattached"]
    assert reattached and reattached[0]["via"] == "reference" and reattached[0]["job_id"] == reference
    assert cli.job_dirs() == [reference]


def test_a_lost_runner_is_reported_lost_and_the_rerun_submits_again(cli: Cli) -> None:
    client, job_id = start_and_wait_submitted(cli, "lost", LONG)
    kill9(client)
    runner = cli.watcher().inspect(job_id).runner_pid
    assert runner is not None
    os.killpg(runner, signal.SIGKILL)  # runner and command die without recording an exit code
    wait_until(lambda: cli.watcher().get_job_status(job_id) == "LOST", "the job to be seen lost")
    status = cli.run("status", "--json", "lost")
    assert status.code == 0 and status.events[0]["live_status"] == "LOST"
    rerun = cli.run("run", "--json", "--key", "lost", "--", "true")  # the spec changed too: a new run
    assert rerun.code == 0, rerun.stderr
    history = cli.run("history", "--json", "lost").events
    assert history[0]["job_id"] == job_id and history[0]["outcome"] != "succeeded"
    assert history[-1]["outcome"] == "succeeded"


# -- status, history, list, cancel, forget --------------------------------------------------------


def test_status_history_and_list(cli: Cli) -> None:
    assert cli.run("run", "--key", "s1", "--", "true").code == 0
    status = cli.run("status", "s1")
    assert status.code == 0
    assert "succeeded" in status.stdout and "submissions  1" in status.stdout
    assert cli.run("status", "--json", "s1").events[0]["phase"] == "succeeded"
    history = cli.run("history", "s1")
    assert history.code == 0 and "succeeded" in history.stdout
    listing = cli.run("list")
    assert listing.code == 0 and listing.stdout.startswith("s1  succeeded")
    missing = cli.run("status", "nope")
    assert missing.code == EXIT_NO_RECORD and "nope" in one_error_line(missing)
    assert cli.run("history", "nope").code == EXIT_NO_RECORD


def test_cancel_stops_the_job_and_marks_the_record(cli: Cli) -> None:
    client, job_id = start_and_wait_submitted(cli, "c", LONG)
    wait_until(lambda: (r := record(cli, "c")) is not None and r.status == "RUNNING", "RUNNING to be recorded")
    kill9(client)
    cancelled = cli.run("cancel", "c")
    assert cancelled.code == 0, cancelled.stderr
    assert cli.watcher().get_job_status(job_id) == "CANCELLED"
    assert "it is now CANCELLED" in cancelled.stderr
    rec = record(cli, "c")
    assert rec is not None and rec.phase is Phase.CANCELLED
    # The record keeps the status seen before the cancel was sent (RUNNING): shown as
    # such, never as a cancelled job that still runs.
    status = cli.run("status", "c").stdout
    assert "CANCELLED (was RUNNING when cancelled)" in status
    assert cli.run("status", "--json", "c").events[0]["live_status"] == "CANCELLED"
    history = cli.run("history", "c").stdout.splitlines()[1]
    assert "cancelled  CANCELLED (was RUNNING when cancelled)" in history
    assert "cancelled  RUNNING before the cancel" in cli.run("list").stdout
    again = cli.run("cancel", "c")
    assert again.code == 0 and "nothing to cancel" in again.stderr
    assert cli.run("cancel", "unknown").code == EXIT_NO_RECORD
    # A cancel is a decision about the key: a plain rerun does not undo it, --fresh does.
    rerun = cli.run("run", "--key", "c", "--", *LONG)
    assert rerun.code == EXIT_JOB_FAILED and "--fresh" in one_error_line(rerun)
    assert cli.job_dirs() == [job_id]
    assert cli.run("run", "--fresh", "--key", "c", "--", "true").code == 0


def test_cancel_while_a_client_polls_ends_that_client_non_zero(cli: Cli) -> None:
    client, job_id = start_and_wait_submitted(cli, "cp", LONG)
    assert cli.run("cancel", "cp").code == 0
    _, err = client.communicate(timeout=30)
    assert client.returncode == EXIT_JOB_FAILED and "cancelled" in err.lower()
    assert cli.watcher().get_job_status(job_id) == "CANCELLED"


def test_forget_lets_the_next_run_submit_afresh(cli: Cli) -> None:
    assert cli.run("run", "--key", "f", "--", "true").code == 0
    forgot = cli.run("forget", "f")
    assert forgot.code == 0 and "forgot" in forgot.stderr
    assert cli.run("status", "f").code == EXIT_NO_RECORD
    assert cli.run("forget", "f").code == 0  # nothing to forget is fine
    rerun = cli.run("run", "--json", "--key", "f", "--", "true")
    assert rerun.code == 0 and "submitted" in rerun.event_names()
    assert len(cli.job_dirs()) == 2


# -- interrupts and the terminal -----------------------------------------------------------------


def test_ctrl_c_detaches_and_says_how_to_reattach_without_the_commands_credentials(cli: Cli) -> None:
    client = cli.start("run", "--key", "int", "--", *LONG, "sh", "--password=hunter2")
    wait_until(lambda: cli.state.exists() and (r := record(cli, "int")) is not None and r.phase is Phase.SUBMITTED,
               "the job id to be recorded")
    client.send_signal(signal.SIGINT)
    out, err = client.communicate(timeout=30)
    assert client.returncode == EXIT_INTERRUPTED
    assert "detached" in err and "Reattach with: resumable run --key int -- sh -c 'sleep 600' sh --password=***" in err
    assert "hunter2" not in out + err
    rec = record(cli, "int")
    assert rec is not None and rec.job_id is not None
    assert cli.watcher().get_job_status(rec.job_id) == "RUNNING"


def test_sigterm_with_cancel_on_interrupt_cancels_the_job(cli: Cli) -> None:
    client = cli.start("run", "--cancel-on-interrupt", "--grace", "2", "--key", "term", "--", *LONG)
    wait_until(lambda: cli.state.exists() and (r := record(cli, "term")) is not None and r.phase is Phase.SUBMITTED,
               "the job id to be recorded")
    client.send_signal(signal.SIGTERM)
    client.communicate(timeout=30)
    assert client.returncode == EXIT_INTERRUPTED
    rec = record(cli, "term")
    assert rec is not None and rec.phase is Phase.CANCELLED and rec.job_id is not None
    assert cli.watcher().get_job_status(rec.job_id) == "CANCELLED"


def test_on_a_terminal_a_live_status_line_shows_state_job_elapsed_and_how(cli: Cli) -> None:
    # The job runs until the live line showed it running (a release file): a slow client's first
    # poll still finds it running.
    release = cli.tmp / "release-tty"
    primary, secondary = pty.openpty()
    client = cli.start("run", "--key", "tty", "--", "sh", "-c", f"while [ ! -e '{release}' ]; do sleep 0.05; done",
                       stderr=secondary)
    os.close(secondary)
    seen = read_terminal(primary, release=release, once=b"[RUNNING] job ")
    os.close(primary)
    assert client.wait(timeout=30) == 0
    text = seen.decode()
    job_id = cli.job_dirs()[0]
    assert f"\r\x1b[K[RUNNING] job {job_id}  elapsed 0:0" in text and "(submitted)" in text
    # The live line is cleared before the permanent summary line.
    assert "\r\x1b[Kresumable: job " + job_id + " ended SUCCEEDED" in text
    assert text.rstrip().endswith("; output in " + str(cli.jobs_dir / job_id / "stdout"))


def test_ctrl_c_on_a_real_terminal_reaches_the_client_not_the_job(cli: Cli) -> None:
    # The terminal sends SIGINT to its whole foreground process group: the job
    # survives only because it runs in a session of its own.
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the CLI with the pty as its controlling terminal
        os.chdir(cli.tmp)
        os.execve(sys.executable, cli.argv("run", "--key", "tty-int", "--", *LONG), cli.env)
    status: int | None = None
    try:
        wait_until(lambda: cli.state.exists() and (r := record(cli, "tty-int")) is not None
                   and r.phase is Phase.SUBMITTED and r.status == "RUNNING",
                       "RUNNING to be recorded (written after the client drew it)")
        os.write(terminal, b"\x03")  # Ctrl-C, typed
        seen = read_terminal(terminal)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(terminal)
        if status is None:  # the test failed early: do not leave our client behind
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == EXIT_INTERRUPTED
    rec = record(cli, "tty-int")
    assert rec is not None and rec.job_id is not None
    assert f"[RUNNING] job {rec.job_id}" in seen.decode() and "Reattach with:" in seen.decode()
    assert cli.watcher().get_job_status(rec.job_id) == "RUNNING"


# -- errors: one line, a distinct code, the state untouched ---------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        ["run"],
        ["run", "--key", "k"],
        ["run", "--key", "k", "--"],
        ["run", "--key", "", "--", "true"],
        ["run", "--key", "k", "--grace", "soon", "--", "true"],
        ["status"],
        ["spark-submit", "--key", "k", "--master", "spark://127.0.0.1:9", "--class", "C", "--conf", "novalue", "a.jar"],
    ],
    ids=lambda a: " ".join(a) or "nothing",
)
def test_bad_arguments_give_one_line_and_the_usage_exit_creating_nothing(cli: Cli, args: list[str]) -> None:
    result = cli.run(*args)
    assert result.code == EXIT_USAGE
    one_error_line(result)
    assert not cli.state.exists()


@pytest.mark.parametrize(
    "args",
    [["run", "--key", "k", "--", "true"], ["status", "k"], ["history", "k"], ["list"], ["cancel", "k"],
     ["forget", "k"]],
    ids=lambda a: a[0],
)
def test_a_corrupt_state_file_gives_one_line_and_the_state_exit_leaving_it_untouched(cli: Cli, args: list[str]) -> None:
    garbage = b"this is not a SQLite database\n" * 10
    cli.state.write_bytes(garbage)
    result = cli.run(*args)
    assert result.code == EXIT_STATE
    assert "state file unusable" in one_error_line(result)
    assert cli.state.read_bytes() == garbage
    assert cli.job_dirs() == []


def test_a_state_path_that_cannot_be_opened_gives_the_state_exit_and_debug_shows_the_traceback(cli: Cli) -> None:
    cli.state.mkdir()  # as root, permissions cannot make a file unreadable; a directory can't be opened either
    result = cli.run("run", "--key", "k", "--", "true")
    assert result.code == EXIT_STATE
    one_error_line(result)
    debug = cli.run("run", "--debug", "--key", "k", "--", "true")
    assert debug.code == EXIT_STATE and "Traceback" in debug.stderr
    assert cli.job_dirs() == []


def test_a_foreign_value_under_the_key_is_refused_untouched_until_forgotten(cli: Cli) -> None:
    with SqliteStateStore(cli.state) as store:
        store.set("k", {"not": "a record"})
    before = rows(cli.state)
    for args in (["run", "--key", "k", "--", "true"], ["status", "k"], ["cancel", "k"]):
        result = cli.run(*args)
        assert result.code == EXIT_STATE and "not a resumable-core record" in one_error_line(result)
    assert rows(cli.state) == before and cli.job_dirs() == []
    assert cli.run("forget", "k").code == 0  # the way out the error message names
    assert cli.run("run", "--key", "k", "--", "true").code == 0


def test_an_unreachable_system_and_an_unverifiable_submission_have_their_own_exits(cli: Cli) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["spark-submit", "--key", "sp", "--master", f"spark://127.0.0.1:{port}", "--class", "a.Main", "file:/a.jar"]
    first = cli.run(*args)
    assert first.code == EXIT_UNREACHABLE and "could not reach" in one_error_line(first)
    # The connection was refused: the request provably never left, so nothing can exist and the
    # intent ended (SubmissionNotSent). The rerun is no ambiguity: it tries again, and says the same.
    record = load_record(SqliteStateStore(cli.state), "sp")
    assert record is not None and record.phase is Phase.FAILED
    second = cli.run(*args)
    assert second.code == EXIT_UNREACHABLE and "nothing was submitted" in one_error_line(second)

    # A master that takes the request and hangs up without an answer: the create may have been
    # accepted. The intent is kept and, without --master-web-ui, cannot be looked up: the rerun
    # must not guess; a human decides.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.settimeout(0.2)
        stop = threading.Event()

        def hang_up() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    continue
                with conn:
                    conn.recv(65536)  # the request arrived; no answer

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        try:
            lost = [*args[:2], "lost", "--master", f"spark://127.0.0.1:{server.getsockname()[1]}", *args[5:]]
            assert cli.run(*lost).code == EXIT_UNREACHABLE
            kept = load_record(SqliteStateStore(cli.state), "lost")
            assert kept is not None and kept.phase is Phase.INTENT
            again = cli.run(*lost)
            assert again.code == EXIT_AMBIGUOUS
            one_error_line(again)
        finally:
            stop.set()
            thread.join(timeout=10)


def test_state_location_defaults_and_overrides(cli: Cli) -> None:
    env = {k: v for k, v in cli.env.items() if k != "RESUMABLE_STATE"}
    xdg = Cli(cli.tmp, {**env, "XDG_DATA_HOME": str(cli.tmp / "xdg")})
    assert xdg.run("run", "--key", "loc", "--", "true").code == 0
    assert (cli.tmp / "xdg" / "resumable" / "state.db").exists()
    assert (cli.tmp / "xdg" / "resumable" / "state-jobs").is_dir()
    home = Cli(cli.tmp, env)
    assert home.run("run", "--key", "loc", "--", "true").code == 0
    assert (cli.tmp / "home" / ".local" / "share" / "resumable" / "state.db").exists()
    explicit = cli.tmp / "elsewhere" / "mine.db"
    assert cli.run("run", "--state", str(explicit), "--key", "loc", "--", "true").code == 0
    assert explicit.exists() and (explicit.parent / "mine-jobs").is_dir()
    assert cli.run("status", "--state", str(explicit), "loc").code == 0


def test_two_clients_racing_on_one_key_share_one_job(cli: Cli) -> None:
    command = ["sh", "-c", "sleep 0.5; echo once"]
    clients = [cli.start("run", "--json", "--key", "race", "--", *command) for _ in range(2)]
    outputs = [client.communicate(timeout=60) for client in clients]
    assert [client.returncode for client in clients] == [0, 0], [err for _, err in outputs]
    finals = [Result(0, out, err).events[-1] for out, err in outputs]
    assert finals[0]["result"]["job_id"] == finals[1]["result"]["job_id"]
    assert len(cli.job_dirs()) == 1
    rec = record(cli, "race")
    assert rec is not None and rec.submissions == 1


# -- the job's own exit status, a deleted job directory, what a wait says ------------------------


def test_a_command_killed_by_a_signal_exits_128_plus_the_signal_as_a_shell_says(cli: Cli) -> None:
    result = cli.run("run", "--json", "--key", "sig", "--", "sh", "-c", "kill -TERM $$")
    assert result.code == 128 + signal.SIGTERM
    assert result.events[-1]["event"] == "error" and result.events[-1]["job_exit_code"] == 128 + signal.SIGTERM


def test_a_deleted_job_directory_is_reattached_not_resubmitted_and_its_status_passed_on(cli: Cli) -> None:
    go = cli.tmp / "go"
    command = ["sh", "-c", f"{wait_for_file(go)}; exit 5"]
    client, job_id = start_and_wait_submitted(cli, "del", command)
    kill9(client)
    shutil.rmtree(cli.jobs_dir / job_id)  # a clean-up job, or a hand, while the job runs
    rerun = cli.start("run", "--json", "--key", "del", "--", *command)
    assert rerun.stdout is not None
    first = json.loads(rerun.stdout.readline())
    # The command still runs: the rerun attaches to it instead of starting a second copy.
    assert first["event"] == "reattached" and first["job_id"] == job_id and first["status"] == "ORPHANED"
    go.touch()
    out, err = rerun.communicate(timeout=60)
    events = [first] + Result(0, out, err).events
    assert "submitted" not in [e["event"] for e in events]
    # The runner recorded the exit in a new directory: the command's own status comes
    # back, after a reattach too.
    assert rerun.returncode == 5, err
    assert events[-1]["event"] == "error" and events[-1]["job_exit_code"] == 5
    assert cli.job_dirs() == [job_id]
    rec = record(cli, "del")
    assert rec is not None and rec.submissions == 1


def test_transient_failures_are_said_with_what_is_retried_and_until_when(cli: Cli) -> None:
    go = cli.tmp / "go"
    command = ["sh", "-c", wait_for_file(go)]
    client, job_id = start_and_wait_submitted(cli, "flaky", command)
    kill9(client)
    # A record that cannot be read (a directory in its place) is a transient failure
    # of the local job's status: the core retries it, and says nothing itself.
    unreadable = cli.jobs_dir / job_id / "cancel.json"
    unreadable.mkdir()
    rerun = cli.start("run", "--key", "flaky", "--", *command)
    assert rerun.stderr is not None
    line = rerun.stderr.readline()
    assert line.startswith(f"resumable: could not reach the external system (status of job {job_id}): ")
    assert "cancel.json" in line and "retrying (attempt 1 of at most 20) until " in line
    assert re.search(r"until \d\d:\d\d:\d\d at the latest$", line.strip()), line
    unreadable.rmdir()
    go.touch()
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert f"reached the external system again (status of job {job_id}) after " in err


def test_an_exhausted_retry_budget_names_the_job_once() -> None:
    # The core's budget error quotes the last failure, which already names the job.
    def failing() -> str:
        raise TransientError("master down", job_id="driver-1")

    poller = Poller(PollPolicy(min_interval=0, max_interval=0, transient_attempts=2), sleep=lambda s: None)
    with pytest.raises(TransientBudgetExhausted) as caught:
        poller.retry_transient(failing, what="status of job 'driver-1'", job_id="driver-1")
    text = describe(caught.value)
    assert text.count("job_id='driver-1'") == 1 and "master down" in text


# -- keys that are not valid Unicode -------------------------------------------------------------


@pytest.mark.parametrize("command", [["run", "--key", "KEY", "--", "true"], ["status", "KEY"], ["cancel", "KEY"]],
                         ids=lambda c: c[0])
def test_a_non_utf8_byte_in_the_key_is_bad_usage(cli: Cli, command: list[str]) -> None:
    # argv holds bytes; Python gives a non-UTF-8 one to us as a lone surrogate.
    key = os.fsdecode(b"nightly-\xff")
    result = cli.run(*[key if arg == "KEY" else arg for arg in command])
    assert result.code == EXIT_USAGE
    assert "not valid Unicode" in one_error_line(result)
    assert not cli.state.exists()
