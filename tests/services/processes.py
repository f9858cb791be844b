"""What every test service that runs a process shares: a free port, its PID file, a stop by that PID.

A PID file is ``$RESUMABLE_TEST_RUN_DIR/pids/<stem>.pid`` when that variable is set (so a
crashed pytest run can still be cleaned up by scripts/test.sh), and nothing otherwise. A
process is stopped by its own PID only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    """A port free right now on 127.0.0.1 (another process may still take it: callers retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_path(stem: str) -> Path | None:
    run_dir = os.environ.get("RESUMABLE_TEST_RUN_DIR")
    return Path(run_dir) / "pids" / f"{stem}.pid" if run_dir else None


def record_pid(stem: str, pid: int) -> None:
    path = _pid_path(stem)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{pid}\n")


def forget_pid(stem: str) -> None:
    path = _pid_path(stem)
    if path is not None:
        path.unlink(missing_ok=True)


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """*sig* to the process by its PID, SIGKILL when it outlives *timeout*; waited for either way."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout)


def log_tail(path: Path, lines: int) -> str:
    """The last *lines* lines of a service's log, or nothing when it cannot be read."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


__all__ = ["forget_pid", "free_port", "log_tail", "record_pid", "stop_process"]
