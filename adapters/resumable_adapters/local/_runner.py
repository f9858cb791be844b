"""The detached runner behind ``resumable_adapters.local.LocalProcessJob``.

Started by ``LocalProcessJob.submit_job`` as::

    python _runner.py TEMP_DIR FINAL_DIR LOCK_FD READY_FD   (spec JSON on stdin)

It detaches (fork, the first process exits, the second starts a session of its
own), records who it is in TEMP_DIR, renames TEMP_DIR to FINAL_DIR (so a job
directory never exists without its runner record), starts the command in its
process group with stdout/stderr to files, says "ok" on READY_FD, and finally
records the exit code. Every record is written atomically and durably.

The client starts it with ``RESUMABLE_JOB_DIR=FINAL_DIR`` in its environment, which
the command and everything it starts inherit: the process table then says which
processes belong to the job even when its records are gone (``LocalProcessJob``
scans ``/proc/*/environ`` before it declares a job lost or submits a reference again).
A failure to start is told to the client on READY_FD ("error: <reason>"), not only in
``runner.log``: with the disk full, that log cannot be written either.

Standard library only, and run by path rather than ``-m``: it must start fast
and must not depend on what the client's working directory or package set is.
The client imports the record helpers below, so both sides share one format.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

RECORD_VERSION = 1
RUNNER_RECORD = "runner.json"    # the runner: pid, start time, boot id
COMMAND_RECORD = "command.json"  # the command's pid and start time
EXIT_RECORD = "exit.json"        # how the command ended
CANCEL_RECORD = "cancel.json"    # written by the client before it signals the group
STDOUT_FILE = "stdout"
STDERR_FILE = "stderr"
RUNNER_LOG = "runner.log"        # the runner's own stderr, for when it cannot start
JOB_ENV = "RESUMABLE_JOB_DIR"    # set on the runner and inherited by the command: the job's mark
EXIT_RECORD_PATIENCE = 600.0     # seconds the runner keeps trying to record the exit (a full disk)


def write_json_durably(directory: str, name: str, value: dict[str, Any]) -> None:
    """Write *name* so that a reader sees the old file or the whole new one, even after a power cut."""
    final = os.path.join(directory, name)
    temp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        data = json.dumps(value, sort_keys=True).encode()
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, final)
    fsync_directory(directory)


def fsync_directory(directory: str) -> None:
    """Make a rename or a new entry in *directory* durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def boot_id() -> str:
    """Identifies this boot: start times are counted from boot, so they only compare within one."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def process_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group id, start time in clock ticks since boot) of a live *pid*, else None.

    A zombie counts as gone: it has exited, only its parent has not collected it
    (PID 1 in a container often never does).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ")".
    fields = raw[raw.rindex(")") + 2:].split()
    state, pgid, start_ticks = fields[0], int(fields[2]), int(fields[19])
    if state in ("Z", "X", "x"):
        return None
    return state, pgid, start_ticks


def _report(ready_fd: int, message: str) -> None:
    try:
        os.write(ready_fd, message.encode() + b"\n")
    except OSError:
        pass  # the client is gone (killed mid-submit): the records say everything it would learn
    finally:
        os.close(ready_fd)


_signalled: list[int] = []


def _note_signal(signum: int, frame: object) -> None:
    # TERM/INT/HUP reach the whole process group: the command decides how to end,
    # and the runner stays to record that ending. A handler (not SIG_IGN) so the
    # command, after exec, gets the default dispositions back.
    _signalled.append(signum)


def main(argv: list[str]) -> int:
    temp_dir, final_dir, lock_fd, ready_fd = argv[1], argv[2], int(argv[3]), int(argv[4])
    try:
        spec = json.load(sys.stdin)
        command: list[str] = spec["command"]
        cwd: str | None = spec.get("cwd")
        # First process: exit at once so the client can reap it; the second is
        # reparented to init and survives the client being SIGKILLed.
        if os.fork() > 0:
            os._exit(0)
        runner_record = _start(temp_dir, final_dir)
    except Exception as exc:
        # Nothing runs yet (the job directory does not exist): say why to the client,
        # through the pipe, since with a full disk runner.log is empty.
        _report(ready_fd, f"error: {type(exc).__name__}: {exc}")
        shutil.rmtree(temp_dir, ignore_errors=True)
        return 2
    if runner_record is None:
        # Another runner owns this reference already; the client holds a lock that
        # should make this impossible, so say so and run nothing.
        _report(ready_fd, "exists")
        shutil.rmtree(temp_dir, ignore_errors=True)
        return 3
    os.close(lock_fd)  # the job directory exists now: finders no longer need to wait
    return _run(command, cwd, final_dir, ready_fd, runner_record)


def _start(temp_dir: str, final_dir: str) -> dict[str, Any] | None:
    """Detach, record the runner and publish the job directory; None when it exists already."""
    os.setsid()  # its own session: pid == process group id, no controlling terminal
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _note_signal)

    me = process_stat(os.getpid())
    if me is None:
        raise OSError(f"cannot read /proc/{os.getpid()}/stat")
    started_at = time.time()
    runner_record = {"version": RECORD_VERSION, "pid": os.getpid(), "start_ticks": me[2], "boot_id": boot_id(),
                     "started_at": started_at}
    write_json_durably(temp_dir, RUNNER_RECORD, runner_record)
    try:
        os.rename(temp_dir, final_dir)
    except FileExistsError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENOTEMPTY:
            return None
        raise
    try:
        fsync_directory(os.path.dirname(final_dir))
    except OSError as exc:
        # The job exists from here on: a failed fsync must not leave it without its runner.
        print(f"runner: could not fsync {os.path.dirname(final_dir)}: {exc}", file=sys.stderr, flush=True)
    return runner_record


def _run(command: list[str], cwd: str | None, final_dir: str, ready_fd: int, runner_record: dict[str, Any]) -> int:
    """Start the command, record it, wait for it, record how it ended."""
    started = time.monotonic()
    if _signalled:
        # Cancelled while starting: the command never runs.
        _record_exit(final_dir, runner_record,
                     {"exit_code": None, "signal": _signalled[0], "error": "cancelled before the command started",
                      "duration": 0.0})
        _report(ready_fd, "ok")
        return 0
    try:
        with open(os.path.join(final_dir, STDOUT_FILE), "wb") as out, \
                open(os.path.join(final_dir, STDERR_FILE), "wb") as err:
            process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    except OSError as exc:
        # Same codes as a shell: 127 not found, 126 found but not runnable.
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        _record_exit(final_dir, runner_record,
                     {"exit_code": code, "signal": None, "error": str(exc), "duration": time.monotonic() - started})
        _report(ready_fd, "ok")
        return 0
    child = process_stat(process.pid)
    try:
        write_json_durably(
            final_dir,
            COMMAND_RECORD,
            {"version": RECORD_VERSION, "pid": process.pid, "start_ticks": child[2] if child else None,
             "started_at": time.time()},
        )
    except OSError as exc:
        # The command runs: stay to record its end. Without this record an orphaned
        # command is still found by its RESUMABLE_JOB_DIR mark.
        print(f"runner: could not record the command's pid: {exc}", file=sys.stderr, flush=True)
    _report(ready_fd, "ok")

    returncode = process.wait()
    _record_exit(final_dir, runner_record,
                 {"exit_code": returncode if returncode >= 0 else None,
                  "signal": -returncode if returncode < 0 else None,
                  "error": None, "duration": time.monotonic() - started})
    return 0


def _record_exit(final_dir: str, runner_record: dict[str, Any], ending: dict[str, Any]) -> None:
    """Record how the command ended, however long a full disk takes to free up.

    While the runner lives the job counts as running, so waiting here is what keeps
    an outcome from turning into LOST. A job directory deleted while the command ran
    is made again (with the runner's record), so its exit code is not lost either.
    """
    value = {"version": RECORD_VERSION, "ended_at": time.time(), **ending}
    deadline = time.monotonic() + EXIT_RECORD_PATIENCE
    while True:
        try:
            if os.path.isdir(final_dir):
                write_json_durably(final_dir, EXIT_RECORD, value)
            else:
                # Whole or not at all, as at the start: a reader never sees it half made.
                import tempfile  # only here: the runner starts without it

                parent = os.path.dirname(final_dir)
                os.makedirs(parent, mode=0o700, exist_ok=True)
                temp = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(final_dir)}-", dir=parent)
                write_json_durably(temp, RUNNER_RECORD, runner_record)
                write_json_durably(temp, EXIT_RECORD, value)
                os.rename(temp, final_dir)
                fsync_directory(parent)
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise
            print(f"runner: could not record the exit ({exc}); trying again", file=sys.stderr, flush=True)
            time.sleep(1.0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
