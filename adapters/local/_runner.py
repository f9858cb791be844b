"""The detached runner behind ``adapters.local.LocalProcessJob``.

Started by ``LocalProcessJob.submit_job`` as::

    python _runner.py TEMP_DIR FINAL_DIR LOCK_FD READY_FD   (spec JSON on stdin)

It detaches (fork, the first process exits, the second starts a session of its
own), records who it is in TEMP_DIR, renames TEMP_DIR to FINAL_DIR (so a job
directory never exists without its runner record), starts the command in its
process group with stdout/stderr to files, says "ok" on READY_FD, and finally
records the exit code. Every record is written atomically and durably.

Standard library only, and run by path rather than ``-m``: it must start fast
and must not depend on what the client's working directory or package set is.
The client imports the record helpers below, so both sides share one format.
"""

from __future__ import annotations

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
    spec = json.load(sys.stdin)
    command: list[str] = spec["command"]
    cwd: str | None = spec.get("cwd")

    # First process: exit at once so the client can reap it; the second is
    # reparented to init and survives the client being SIGKILLed.
    if os.fork() > 0:
        os._exit(0)
    os.setsid()  # its own session: pid == process group id, no controlling terminal
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _note_signal)

    me = process_stat(os.getpid())
    assert me is not None
    started_at = time.time()
    write_json_durably(
        temp_dir,
        RUNNER_RECORD,
        {"version": RECORD_VERSION, "pid": os.getpid(), "start_ticks": me[2], "boot_id": boot_id(),
         "started_at": started_at},
    )
    try:
        os.rename(temp_dir, final_dir)
    except OSError:
        # Another runner owns this reference already; the client holds a lock that
        # should make this impossible, so say so and run nothing.
        _report(ready_fd, "exists")
        shutil.rmtree(temp_dir, ignore_errors=True)
        return 3
    fsync_directory(os.path.dirname(final_dir))
    os.close(lock_fd)  # the job directory exists now: finders no longer need to wait

    started = time.monotonic()
    if _signalled:
        # Cancelled while starting: the command never runs.
        write_json_durably(
            final_dir,
            EXIT_RECORD,
            {"version": RECORD_VERSION, "exit_code": None, "signal": _signalled[0],
             "error": "cancelled before the command started", "ended_at": time.time(), "duration": 0.0},
        )
        _report(ready_fd, "ok")
        return 0
    try:
        with open(os.path.join(final_dir, STDOUT_FILE), "wb") as out, \
                open(os.path.join(final_dir, STDERR_FILE), "wb") as err:
            process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    except OSError as exc:
        # Same codes as a shell: 127 not found, 126 found but not runnable.
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        write_json_durably(
            final_dir,
            EXIT_RECORD,
            {"version": RECORD_VERSION, "exit_code": code, "signal": None, "error": str(exc),
             "ended_at": time.time(), "duration": time.monotonic() - started},
        )
        _report(ready_fd, "ok")
        return 0
    child = process_stat(process.pid)
    write_json_durably(
        final_dir,
        COMMAND_RECORD,
        {"version": RECORD_VERSION, "pid": process.pid, "start_ticks": child[2] if child else None,
         "started_at": time.time()},
    )
    _report(ready_fd, "ok")

    returncode = process.wait()
    write_json_durably(
        final_dir,
        EXIT_RECORD,
        {"version": RECORD_VERSION,
         "exit_code": returncode if returncode >= 0 else None,
         "signal": -returncode if returncode < 0 else None,
         "error": None, "ended_at": time.time(), "duration": time.monotonic() - started},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
