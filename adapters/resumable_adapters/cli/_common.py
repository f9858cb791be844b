"""What the ``resumable`` command's modules share: exit statuses, its error and how a library
error is said and mapped to a status, where the state lives."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from resumable_core import (
    AmbiguousSubmission,
    InvalidArgument,
    ProtocolError,
    RecordCorrupt,
    ResumableError,
    StoreError,
    TransientError,
)
from resumable_core.errors import RecordFromNewerVersion, SubmissionNotSent
from resumable_core.redaction import redact

from ..sqlite import SqliteStateStore

EXIT_OK = 0
# `run` and `spark-submit` exit with the job's own status when it ended with one (a
# command's exit code, or 128+N when signal N killed it), as timeout, flock and nice
# do, so that a cron entry can tell its command's failures apart. resumable's own
# outcomes keep a small reserved range, 117-123: below timeout's 124-127 (so that
# `timeout 1h resumable run ...` stays readable) and the shell's 126/127 (command not
# runnable / not found, which a local job reports as its own exit code) and 128+N.
EXIT_JOB_FAILED = 117   # the job ended without a status of its own: cancelled, lost, refused, a driver FAILED
EXIT_AMBIGUOUS = 118    # a submission may exist that cannot be looked up: a human decides
EXIT_UNREACHABLE = 119  # could not reach the external system, or it answered nonsense
EXIT_STATE = 120        # the state file cannot be used
EXIT_NO_RECORD = 121    # nothing recorded under the key
EXIT_USAGE = 122        # bad usage: unknown option or command, missing argument, invalid key
EXIT_INTERNAL = 123     # a bug
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports an interrupted command
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a filter killed by SIGPIPE would exit


def command_exit_status(exit_code: int | None, signal: int | None) -> int | None:
    """A command's status as a shell reports it: its exit code, or 128+N for signal N."""
    if exit_code is not None:
        return exit_code
    if signal is not None:
        return 128 + signal
    return None


STATE_ENV = "RESUMABLE_STATE"
# The CLI remembers, per key, which adapter ran it (so that cancel/status can
# rebuild the job). The prefix holds a control character, which check_key
# refuses, so it can never collide with a user's key.
META_PREFIX = "\x1fresumable-cli\x1f"


class CliError(Exception):
    """An error the command reports as one line with its own exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(exc: ResumableError) -> int:
    if isinstance(exc, InvalidArgument):
        return EXIT_USAGE
    if isinstance(exc, AmbiguousSubmission):
        return EXIT_AMBIGUOUS
    if isinstance(exc, (TransientError, ProtocolError, SubmissionNotSent)):
        return EXIT_UNREACHABLE  # a submission that never left is not the system's refusal
    if isinstance(exc, StoreError):
        return EXIT_STATE
    return EXIT_JOB_FAILED


def describe(exc: ResumableError) -> str:
    text = error_text(exc)
    if isinstance(exc, (TransientError, SubmissionNotSent)):
        return f"could not reach the external system: {text}"
    if isinstance(exc, (RecordCorrupt, RecordFromNewerVersion)):
        return text
    if isinstance(exc, StoreError):
        return f"state file unusable: {text}"
    return text


def error_text(exc: ResumableError) -> str:
    """The error's message and the key, job id and status it names, each said once.

    ``str(exc)`` appends ``(key=..., job_id=...)`` to the message; a message that quotes
    another error (an exhausted retry budget quotes the last failure) already holds it.
    """
    details = [
        f"{name}={value!r}"
        for name, value in (("key", exc.key), ("job_id", exc.job_id), ("status", exc.status))
        if value is not None and f"{name}={value!r}" not in exc.message
    ]
    return exc.message + (f" ({', '.join(details)})" if details else "")


def state_path(args: argparse.Namespace) -> Path:
    if args.state:
        return Path(args.state)
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data_home) / "resumable" / "state.db"


def open_store(args: argparse.Namespace) -> SqliteStateStore:
    """The state store, created (with its directory) when missing."""
    path = state_path(args)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create the directory of the state file {str(path)!r}: {exc}", EXIT_STATE) from exc
    return SqliteStateStore(path)


def existing_store(args: argparse.Namespace) -> SqliteStateStore | None:
    """The state store, or None when there is no state file: reading commands never create one."""
    path = state_path(args)
    return SqliteStateStore(path) if path.exists() else None


_logging_configured = False


def configure_logging(debug: bool) -> None:
    """Send log lines (the core's, third-party libraries' such as urllib3's) to stderr, redacted:
    every line with --debug, none otherwise. Called by a command before anything that may log:
    the commands that only read the state file never import logging at all."""
    import logging

    global _logging_configured
    if _logging_configured:  # once per process, as basicConfig itself
        return
    _logging_configured = True

    class RedactingFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return redact(super().format(record))

    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("resumable: %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.CRITICAL + 1, handlers=[handler])


def meta_key(key: str) -> str:
    return META_PREFIX + key


def default_jobs_dir(state: Path) -> Path:
    return state.parent / f"{state.stem}-jobs"
