"""What the ``resumable`` command's modules share: exit statuses, its error, where the state lives."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..sqlite import SqliteStateStore

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_AMBIGUOUS = 3
EXIT_UNREACHABLE = 4
EXIT_STATE = 5
EXIT_NO_RECORD = 6
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a filter killed by SIGPIPE would exit

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


def meta_key(key: str) -> str:
    return META_PREFIX + key


def default_jobs_dir(state: Path) -> Path:
    return state.parent / f"{state.stem}-jobs"
