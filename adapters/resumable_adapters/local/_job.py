"""LocalProcessJob: a detached local command as a ResumableJob."""


from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resumable_core import (
    InvalidArgument,
    JobNotFound,
    JsonValue,
    ProtocolError,
    SubmissionRejected,
    TransientError,
)

from . import _runner as records

RUNNING = "RUNNING"
CANCELLING = "CANCELLING"  # cancel asked, the process group has not ended yet
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
ORPHANED = "ORPHANED"  # the runner or the records are gone, a process of the job still runs
LOST = "LOST"  # the runner vanished without recording an exit code, and the command is gone

ACTIVE_STATUSES = frozenset({RUNNING, CANCELLING, ORPHANED})
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}")
_KILL_WAIT = 5.0  # seconds a SIGKILLed process group may take to disappear from /proc
_RUNNER = str(Path(records.__file__).resolve())


def job_name(reference: str) -> str:
    """The directory (and job id) for a submission reference.

    References that are already safe file names are used as they are, so that
    the directory is recognisable; anything else is hashed.
    """
    if _SAFE_NAME.fullmatch(reference):
        return reference
    return "ref-" + hashlib.sha256(reference.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class LocalJobInfo:
    """What the records of one local job say (the status adds the process table)."""

    job_id: str
    directory: Path
    runner_pid: int | None
    command_pid: int | None
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    signal: int | None
    duration: float | None
    error: str | None
    cancel_requested: bool

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def stdout_path(self) -> Path:
        return self.directory / records.STDOUT_FILE

    @property
    def stderr_path(self) -> Path:
        return self.directory / records.STDERR_FILE


class LocalProcessJob:
    """Runs *command* (an argv list, no shell) as a detached local process.

    Implements ``ResumableJob[dict]`` with find-by-reference, cancel and a
    fingerprint. Constructed with ``command=None`` it can watch, cancel and
    fetch results of jobs in *jobs_dir* but not submit.

    The environment is inherited at submission and never written to disk;
    the fingerprint covers the command and working directory only.
    """

    def __init__(
        self,
        command: Sequence[str] | None,
        *,
        jobs_dir: str | os.PathLike[str],
        cwd: str | os.PathLike[str] | None = None,
        grace_period: float = 10.0,
        start_timeout: float = 30.0,
        python: str = sys.executable,
    ) -> None:
        if command is not None and (isinstance(command, str) or not all(isinstance(a, str) for a in command)):
            raise InvalidArgument("command must be a sequence of strings (an argv list), not one string")
        self.command = list(command) if command is not None else None
        self.jobs_dir = Path(jobs_dir).absolute()
        self.cwd = str(Path(cwd).absolute()) if cwd is not None else None
        self.grace_period = grace_period
        self.start_timeout = start_timeout
        self.python = python

    # -- ResumableJob -------------------------------------------------------

    def submit_job(self, reference: str) -> str:
        if not self.command:
            raise InvalidArgument("no command to run: this LocalProcessJob can only watch and cancel")
        name = job_name(reference)
        try:
            self.jobs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Another submitter of this reference (a rerun that took over a slow
            # submission's intent) is starting it: wait, then adopt what it started.
            lock_fd = self._lock(name, create=True, wait=self.start_timeout)
        except OSError as exc:
            # Before the lock nothing can have started: a definite "not submitted".
            raise SubmissionRejected(f"cannot use the jobs directory {str(self.jobs_dir)!r}: {exc}") from exc
        if lock_fd is None:
            raise TransientError(f"another submission with reference {reference!r} is in progress")
        try:
            # Under the lock: an earlier attempt's runner may have got this far already,
            # or its processes run on after someone deleted its directory.
            if (self.jobs_dir / name).is_dir() or self._marked_processes(name):
                return name
            return self._launch(name, lock_fd)
        finally:
            os.close(lock_fd)

    def get_job_status(self, job_id: str) -> str:
        try:
            info = self.inspect(job_id)
        except JobNotFound:
            # The directory is gone (deleted by hand, a clean-up job...). While a process
            # carrying the job's mark lives, the job is not lost: saying so would make the
            # client start a second copy beside it. Its runner, if alive, writes the
            # directory again with the exit code when the command ends.
            if _SAFE_NAME.fullmatch(job_id) and self._marked_processes(job_id):
                return ORPHANED
            if not (self.jobs_dir / job_id).is_dir():
                raise
            info = self.inspect(job_id)  # the runner made it again between the two looks
        if info.ended:
            return _ended_status(info)
        if self._runner_alive(info):
            return CANCELLING if info.cancel_requested else RUNNING
        # The runner may have recorded the exit and gone between the two looks.
        info = self.inspect(job_id)
        if info.ended:
            return _ended_status(info)
        if self._orphan_alive(info) or self._marked_processes(job_id):
            # The runner was killed but the command (or a process it started) runs on.
            # Still active, so that nobody submits a duplicate beside it; its exit code
            # is lost with the runner.
            return CANCELLING if info.cancel_requested else ORPHANED
        return CANCELLED if info.cancel_requested else LOST

    def is_job_active(self, status: str) -> bool:
        return status in ACTIVE_STATUSES

    def is_job_succeeded(self, status: str) -> bool:
        return status == SUCCEEDED

    def get_job_result(self, job_id: str, status: str) -> dict[str, JsonValue]:
        info = self.inspect(job_id)
        return {
            "job_id": info.job_id,
            "status": status,
            "exit_code": info.exit_code,
            "signal": info.signal,
            "error": info.error,
            "duration": info.duration,
            "started_at": info.started_at,
            "ended_at": info.ended_at,
            "pid": info.command_pid,
            "runner_pid": info.runner_pid,
            "stdout": str(info.stdout_path),
            "stderr": str(info.stderr_path),
        }

    # -- capabilities -------------------------------------------------------

    def find_job_by_reference(self, reference: str) -> str | None:
        name = job_name(reference)
        if (self.jobs_dir / name).is_dir():
            return name
        lock_fd = self._lock(name, create=False)
        if lock_fd is None:
            if (self.jobs_dir / ".locks" / name).exists():
                raise TransientError(f"the submission with reference {reference!r} is still starting")
            # No submission took the lock here, unless the directories were deleted
            # under a job that still runs: its processes carry its mark.
            return name if self._marked_processes(name) else None
        try:
            if (self.jobs_dir / name).is_dir():
                return name  # its runner finished starting just now
            # Nobody holds the lock: temp directories left for this name are from
            # runners that died before their job existed. Nothing ran; tidy up.
            if self._marked_processes(name):
                return name  # its directory was deleted; its processes run on
            for stale in self.jobs_dir.glob(f".tmp-{name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            return None
        finally:
            os.close(lock_fd)

    def cancel_job(self, job_id: str) -> None:
        try:
            info = self.inspect(job_id)
        except JobNotFound:
            # No records left, but the job may run on: its marked processes are what to stop.
            if not (_SAFE_NAME.fullmatch(job_id) and self._stop_marked(job_id)):
                raise
            return
        if info.ended:
            return
        if not info.cancel_requested:
            records.write_json_durably(
                str(info.directory), records.CANCEL_RECORD,
                {"version": records.RECORD_VERSION, "requested_at": time.time()},
            )
        if not self._signal_group(info, signal.SIGTERM):
            return
        if self._wait_gone(info, self.grace_period):
            return
        self._signal_group(info, signal.SIGKILL)
        # SIGKILL is not instant either: return once the status no longer says it runs.
        self._wait_gone(info, _KILL_WAIT)

    def job_fingerprint(self) -> str:
        spec = json.dumps({"command": self.command, "cwd": self.cwd}, sort_keys=True)
        return "local-sha256:" + hashlib.sha256(spec.encode()).hexdigest()

    # -- inspection ---------------------------------------------------------

    def inspect(self, job_id: str) -> LocalJobInfo:
        """The records of *job_id*; JobNotFound when there is no such job directory."""
        if not _SAFE_NAME.fullmatch(job_id):
            raise JobNotFound(f"{job_id!r} is not a local job id", job_id=job_id)
        directory = self.jobs_dir / job_id
        if not directory.is_dir():
            raise JobNotFound(f"no local job {job_id!r} in {self.jobs_dir}", job_id=job_id)
        runner = _read_record(directory, records.RUNNER_RECORD, job_id)
        command = _read_record(directory, records.COMMAND_RECORD, job_id)
        ended = _read_record(directory, records.EXIT_RECORD, job_id)
        cancel = _read_record(directory, records.CANCEL_RECORD, job_id)
        if runner is None:
            raise ProtocolError(f"local job {job_id!r} has no runner record", job_id=job_id)
        return LocalJobInfo(
            job_id=job_id,
            directory=directory,
            runner_pid=_opt(runner, "pid", int, job_id),
            command_pid=_opt(command, "pid", int, job_id),
            started_at=_opt(runner, "started_at", float, job_id),
            ended_at=_opt(ended, "ended_at", float, job_id),
            exit_code=_opt(ended, "exit_code", int, job_id),
            signal=_opt(ended, "signal", int, job_id),
            duration=_opt(ended, "duration", float, job_id),
            error=_opt(ended, "error", str, job_id),
            cancel_requested=cancel is not None,
        )

    # -- internals ----------------------------------------------------------

    def _lock(self, name: str, *, create: bool, wait: float = 0.0) -> int | None:
        """An fd holding the exclusive flock for *name*, or None when someone else holds it
        for longer than *wait* seconds."""
        locks = self.jobs_dir / ".locks"
        if create:
            locks.mkdir(mode=0o700, exist_ok=True)
        try:
            fd = os.open(locks / name, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
        except FileNotFoundError:
            return None
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.05)

    def _launch(self, name: str, lock_fd: int) -> str:
        try:
            temp_dir = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=self.jobs_dir))
        except OSError as exc:
            raise SubmissionRejected(f"cannot prepare local job {name!r}: {exc}") from exc
        final_dir = self.jobs_dir / name
        # The mark every process of the job inherits: the process table says what runs
        # for this job even when its directory is gone.
        env = {**os.environ, records.JOB_ENV: self._mark_value(name)}
        ready_r, ready_w = os.pipe()
        try:
            with open(temp_dir / records.RUNNER_LOG, "wb") as log:
                runner = subprocess.Popen(
                    [self.python, _RUNNER, str(temp_dir), str(final_dir), str(lock_fd), str(ready_w)],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                    pass_fds=(lock_fd, ready_w), start_new_session=True, env=env,
                )
            os.close(ready_w)
            ready_w = -1
            spec = {"command": self.command, "cwd": self.cwd}
            runner.communicate(json.dumps(spec).encode(), timeout=self.start_timeout)
            answer = _read_answer(ready_r, self.start_timeout)
        except subprocess.TimeoutExpired as exc:
            raise TransientError(f"the runner for {name!r} did not start within {self.start_timeout}s") from exc
        except OSError as exc:
            raise SubmissionRejected(f"could not start the runner for {name!r}: {exc}") from exc
        finally:
            os.close(ready_r)
            if ready_w >= 0:
                os.close(ready_w)
        if answer in ("ok", "exists") or final_dir.is_dir():
            return name
        # The runner says why on the pipe ("error: ..."), which works with the disk full;
        # its log may add a traceback. Nothing ran: a definite rejection.
        reason = answer[len("error:"):].strip() if answer.startswith("error:") else ""
        log_text = _tail(temp_dir / records.RUNNER_LOG)
        shutil.rmtree(temp_dir, ignore_errors=True)
        why = "; ".join(part for part in (reason, log_text) if part) or (
            f"it exited with status {runner.returncode} and said nothing")
        raise SubmissionRejected(f"the runner for {name!r} failed to start: {why}")

    def _mark_value(self, job_id: str) -> str:
        # The resolved path: two spellings of one jobs directory give one mark.
        return os.path.join(os.path.realpath(self.jobs_dir), job_id)

    def _marked_processes(self, job_id: str) -> list[tuple[int, int, int]]:
        """(pid, process group, start ticks) of every live process of ours that carries the
        job's mark in its environment: the runner, the command, and what they started."""
        return _processes_marked(f"{records.JOB_ENV}={self._mark_value(job_id)}")

    def _stop_marked(self, job_id: str) -> bool:
        """TERM, then after the grace period KILL, the job's marked processes; False if none."""
        found = self._marked_processes(job_id)
        if not found:
            return False
        for signum, patience in ((signal.SIGTERM, self.grace_period), (signal.SIGKILL, _KILL_WAIT)):
            for pid, _, start_ticks in found:
                _signal_if_same(pid, start_ticks, signum)
            deadline = time.monotonic() + patience
            while found and time.monotonic() < deadline:
                time.sleep(0.05)
                found = self._marked_processes(job_id)
            if not found:
                break
        return True

    def _runner_alive(self, info: LocalJobInfo) -> bool:
        record = _read_record(info.directory, records.RUNNER_RECORD, info.job_id) or {}
        if record.get("boot_id") != records.boot_id():
            return False  # recorded in another boot: that process is gone whatever its pid says
        return _is_same_process(record)

    def _group_alive(self, info: LocalJobInfo) -> bool:
        """True while the runner, or the command it started, is still the recorded process,
        or another process of the job (one that left the group) still carries its mark."""
        return self._runner_alive(info) or self._orphan_alive(info) or bool(self._marked_processes(info.job_id))

    def _orphan_alive(self, info: LocalJobInfo) -> bool:
        """True when the command outlived its runner and is verifiably still the recorded process
        (same pid, start time and boot, still in the runner's process group)."""
        runner = _read_record(info.directory, records.RUNNER_RECORD, info.job_id) or {}
        if runner.get("boot_id") != records.boot_id():
            return False
        command = _read_record(info.directory, records.COMMAND_RECORD, info.job_id)
        if command is None or info.runner_pid is None or not isinstance(command.get("pid"), int):
            return False
        stat = records.process_stat(command["pid"])
        return stat is not None and stat[2] == command.get("start_ticks") and stat[1] == info.runner_pid

    def _wait_gone(self, info: LocalJobInfo, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self._group_alive(info):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _signal_group(self, info: LocalJobInfo, signum: int) -> bool:
        """Signal the job's process group if it is verifiably still the job's, and each marked
        process that left that group; False if nothing of the job is left."""
        group_signalled = False
        if info.runner_pid is not None and (self._runner_alive(info) or self._orphan_alive(info)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(info.runner_pid, signum)
                group_signalled = True
        sent = group_signalled
        for pid, group, start_ticks in self._marked_processes(info.job_id):
            if group_signalled and group == info.runner_pid:
                continue  # the group signal reached it: one signal each, as a terminal would send
            sent = _signal_if_same(pid, start_ticks, signum) or sent
        return sent


def _ended_status(info: LocalJobInfo) -> str:
    if info.exit_code == 0:
        return SUCCEEDED
    return CANCELLED if info.cancel_requested else FAILED


def _processes_marked(entry: str) -> list[tuple[int, int, int]]:
    """Our own live processes whose environment holds *entry* (``NAME=value``) exactly.

    ``/proc/<pid>/environ`` is the environment a process was started with; it is
    readable for our own processes only, which are the only ones a job of ours runs as.
    """
    needle = b"\0" + os.fsencode(entry) + b"\0"
    me, uid = os.getpid(), os.getuid()
    found: list[tuple[int, int, int]] = []
    try:
        names = os.listdir("/proc")
    except OSError as exc:
        raise TransientError(f"cannot read the process table (/proc): {exc}") from exc
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if needle in b"\0" + environ:
            stat = records.process_stat(int(name))
            if stat is not None:  # a zombie has ended: it runs nothing
                found.append((int(name), stat[1], stat[2]))
    return found


def _signal_if_same(pid: int, start_ticks: int, signum: int) -> bool:
    """Send *signum* to *pid* if it is still the process that started at *start_ticks* (not a
    pid the kernel handed on meanwhile); True when sent."""
    stat = records.process_stat(pid)
    if stat is None or stat[2] != start_ticks:
        return False
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _is_same_process(record: dict[str, Any]) -> bool:
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    stat = records.process_stat(pid)
    return stat is not None and stat[2] == record.get("start_ticks")


def _read_record(directory: Path, name: str, job_id: str) -> dict[str, Any] | None:
    try:
        with open(directory / name, "rb") as handle:
            value = json.load(handle)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TransientError(f"could not read {name} of local job {job_id!r}: {exc}", job_id=job_id) from exc
    except ValueError as exc:
        raise ProtocolError(f"{name} of local job {job_id!r} is not JSON: {exc}", job_id=job_id) from exc
    if not isinstance(value, dict) or value.get("version") != records.RECORD_VERSION:
        raise ProtocolError(f"{name} of local job {job_id!r} is not a version 1 record", job_id=job_id)
    return value


def _opt(record: dict[str, Any] | None, field: str, kind: type, job_id: str) -> Any:
    value = None if record is None else record.get(field)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProtocolError(f"local job {job_id!r}: {field} is not {kind.__name__}", job_id=job_id)
    return value


def _read_answer(fd: int, timeout: float) -> str:
    """The runner's one-line answer on the ready pipe ('' if it closed the pipe without one)."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired("runner", timeout)
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def _tail(path: Path, limit: int = 400) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return ""
        return str(exc)
    return " ".join(text.splitlines()[-3:])[-limit:]


__all__ = ["ACTIVE_STATUSES", "CANCELLED", "CANCELLING", "FAILED", "LOST", "ORPHANED", "RUNNING", "SUCCEEDED", "LocalJobInfo", "LocalProcessJob", "job_name"]
