"""``resumable run``: a local command as a resumable job (the local system's part of the command)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from resumable_core import ResumableError

from ..cli.plugin import (
    EXIT_USAGE,
    CliError,
    Commands,
    JobKind,
    ask_status,
    command_exit_status,
    default_jobs_dir,
    run_job,
    state_path,
)

if TYPE_CHECKING:
    from resumable_core import JsonValue, Policy, PollPolicy

    from ._job import LocalJobInfo, LocalProcessJob

KIND = "local"


class LocalKind:
    def __init__(self, *, jobs_dir: Path, grace: float = 10.0) -> None:
        self.jobs_dir = jobs_dir
        self.grace = grace

    # The job's module (subprocess, locks, the runner) loads when a job is built, not on every start.

    def job(self, argv: list[str]) -> LocalProcessJob:
        from ._job import LocalProcessJob

        return LocalProcessJob(argv, jobs_dir=self.jobs_dir, cwd=os.getcwd(), grace_period=self.grace)

    def meta(self) -> dict[str, JsonValue]:
        return {"kind": KIND, "jobs_dir": str(self.jobs_dir), "grace": self.grace}

    def policy(self) -> Policy:
        # A local submission is idempotent per reference (a lock and the job
        # directory guard it), so a crashed client's intent need not be honoured
        # for long: a rerun that submits the same reference gets the same job.
        from resumable_core import Policy

        return Policy(intent_lease=5.0)

    def poll_policy(self) -> PollPolicy:
        # Asking is a few file reads: poll often, so that a short job ends promptly.
        from resumable_core import PollPolicy

        return PollPolicy(min_interval=0.2, max_interval=2.0, transient_attempts=20, transient_seconds=60.0)

    def watcher(self) -> LocalProcessJob:
        from ._job import LocalProcessJob

        return LocalProcessJob(None, jobs_dir=self.jobs_dir, grace_period=self.grace)

    def _info(self, job_id: str | None) -> LocalJobInfo | None:
        if job_id is None:
            return None
        try:
            return self.watcher().inspect(job_id)
        except ResumableError:
            return None

    def started_at(self, job_id: str) -> float | None:
        info = self._info(job_id)
        return info.started_at if info is not None else None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        info = self._info(job_id)
        if info is None:
            return None
        if info.error:
            how = info.error
        elif info.exit_code is not None:
            how = f"exit code {info.exit_code}"
        elif info.signal is not None:
            how = f"killed by signal {info.signal}"
        elif info.cancel_requested:
            how = "cancelled"
        else:
            how = "its runner vanished without recording an exit code"
        return f"{how} (stderr: {info.stderr_path})"

    def exit_status(self, job_id: str) -> int | None:
        info = self._info(job_id)
        if info is None or info.cancel_requested:
            return None  # a cancel is a decision about the key, not the command's own failure
        return command_exit_status(info.exit_code, info.signal)

    def replay_output(self, job_id: str | None) -> None:
        """Copy the job's stdout and stderr to ours, as if it had run in the foreground."""
        info = self._info(job_id)
        if info is None:
            return
        import shutil

        for path, stream in ((info.stdout_path, sys.stdout), (info.stderr_path, sys.stderr)):
            try:
                with open(path, "rb") as handle:
                    stream.flush()
                    shutil.copyfileobj(handle, stream.buffer)
                    stream.buffer.flush()
            except OSError:
                pass  # output removed since: the summary still names where it was

    def success_summary(self, result: object) -> str:
        if not isinstance(result, dict):
            return "job succeeded"
        duration = result.get("duration")
        took = f" in {duration:.1f}s" if isinstance(duration, (int, float)) else ""
        return f"job {result.get('job_id')} succeeded{took}; output in {result.get('stdout')}"


    @classmethod
    def from_meta(cls, meta: dict[str, JsonValue]) -> LocalKind | None:
        jobs_dir, grace = meta.get("jobs_dir"), meta.get("grace")
        if meta.get("kind") != KIND or not isinstance(jobs_dir, str):
            return None
        return cls(jobs_dir=Path(jobs_dir), grace=float(grace) if isinstance(grace, (int, float)) else 10.0)


def cmd_run(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise CliError("run needs a command after -- (see: resumable run --help)", EXIT_USAGE)
    jobs_dir = Path(args.jobs_dir) if args.jobs_dir else default_jobs_dir(state_path(args))
    kind = LocalKind(jobs_dir=jobs_dir.absolute(), grace=args.grace)
    state = ["--state", args.state] if args.state else []
    hint = shlex.join(["resumable", "run", "--key", args.key, *state, "--", *argv])
    return run_job(args, kind, kind.job(argv), reattach_hint=hint)


class _Commands:
    def add_commands(self, commands: Commands) -> None:
        run = commands.add_job_command("run", help="run a local command as a resumable job", handler=cmd_run,
                                       usage="resumable run --key KEY [options] -- COMMAND [ARGS...]")
        run.add_argument("--jobs-dir", metavar="DIR", help="where local jobs keep their records and output "
                         "(default: beside the state file; must be the same for every run of a key)")
        run.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                         help="on cancel: seconds between SIGTERM and SIGKILL (default 10)")
        run.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND", help="the command and its arguments")

    def kind_from_meta(self, meta: dict[str, JsonValue]) -> JobKind | None:
        return LocalKind.from_meta(meta)


COMMANDS = _Commands()
