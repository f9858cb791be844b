"""``resumable flink run``: a jar on a Flink session cluster, with ``flink run``'s option names.

::

    resumable flink run --key etl --jobmanager http://jobmanager:8081 -c etl.Main -p 4 \\
        -D execution.checkpointing.interval=30s etl.jar 2026-11-24

``-c/--class``, ``-p/--parallelism``, ``-D key=value`` (the job's configuration),
``-n/--allowNonRestoredState`` and ``--restoreMode`` (``-rm``) are ``flink run``'s own;
``--jobmanager`` takes the REST address (``flink run -m`` takes host:port; both forms are
accepted here). ``--stop-with-savepoint`` makes ``resumable cancel`` stop the job with a
savepoint (into ``--savepoint-dir``). A rerun after a failure resumes from the last
checkpoint the job reported (``--no-resume`` starts afresh).
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from ..cli.plugin import EXIT_USAGE, CliError, Commands, JobKind, ask_status, run_job

if TYPE_CHECKING:
    from resumable_core import JsonValue, Policy, PollPolicy, ResumableJob

KIND = "flink"
# Every ``resumable`` start imports this module: the client and the job are imported when a command runs.


class FlinkKind:
    """A jar run on one Flink session cluster."""

    def __init__(self, *, jobmanager: str, jar: str, entry_class: str | None, stop_with_savepoint: bool,
                 savepoint_dir: str | None, resume: bool = True) -> None:
        self.jobmanager = jobmanager
        self.jar = jar
        self.entry_class = entry_class
        self.stop_with_savepoint = stop_with_savepoint
        self.savepoint_dir = savepoint_dir
        self.resume = resume

    def job(self, *, args: tuple[str, ...] = (), parallelism: int | None = None,
            configuration: dict[str, str] | None = None, allow_non_restored_state: bool = False,
            restore_mode: str = "NO_CLAIM") -> ResumableJob[Any]:
        from . import FlinkJob, FlinkRestClient, FlinkSubmission

        submission = FlinkSubmission(self.jar, entry_class=self.entry_class, args=args, parallelism=parallelism,
                                     configuration=configuration, allow_non_restored_state=allow_non_restored_state)
        job: ResumableJob[Any] = FlinkJob(FlinkRestClient(self.jobmanager), submission, restore_mode=restore_mode,
                                          stop_with_savepoint=self.stop_with_savepoint,
                                          savepoint_directory=self.savepoint_dir)
        return job

    def meta(self) -> dict[str, JsonValue]:
        # No arguments or configuration: they may hold secrets. What status and cancel need is here.
        return {"kind": KIND, "jobmanager": self.jobmanager, "jar": self.jar, "entry_class": self.entry_class,
                "stop_with_savepoint": self.stop_with_savepoint, "savepoint_dir": self.savepoint_dir}

    def policy(self) -> Policy:
        from resumable_core import Policy

        return Policy(resume=self.resume)

    def poll_policy(self) -> PollPolicy:
        from resumable_core import PollPolicy

        return PollPolicy(min_interval=1.0, max_interval=15.0)

    def watcher(self) -> ResumableJob[Any]:
        return self.job()  # status and cancel go by job id

    def started_at(self, job_id: str) -> float | None:
        return None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        return None

    def exit_status(self, job_id: str) -> int | None:
        return None  # Flink reports a state, not an exit code

    def replay_output(self, job_id: str | None) -> None:
        return None  # the job's output is in the TaskManagers' logs

    def success_summary(self, result: object) -> str:
        job_id = result.get("job_id") if isinstance(result, dict) else None
        return f"Flink job {job_id} finished" if job_id else "Flink job finished"


def jobmanager_url(value: str) -> str:
    """``flink run -m host:port`` or a REST URL, as the REST URL."""
    text = value.strip()
    return text if "://" in text else f"http://{text}"


def flink_run_job(args: argparse.Namespace) -> tuple[FlinkKind, ResumableJob[Any]]:
    configuration: dict[str, str] = {}
    for item in args.dynamic:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"-D expects key=value, got {name!r}" + ("=..." if sep else ""), EXIT_USAGE)
        configuration[name] = value
    if args.parallelism is not None and args.parallelism < 1:
        raise CliError(f"-p/--parallelism must be a positive number, got {args.parallelism}", EXIT_USAGE)
    if args.savepoint_dir and not args.stop_with_savepoint:
        raise CliError("--savepoint-dir is where --stop-with-savepoint writes; give both", EXIT_USAGE)
    kind = FlinkKind(jobmanager=jobmanager_url(args.jobmanager), jar=args.jar, entry_class=args.entry_class,
                     stop_with_savepoint=args.stop_with_savepoint, savepoint_dir=args.savepoint_dir,
                     resume=not args.no_resume)
    job = kind.job(args=tuple(args.jar_args), parallelism=args.parallelism, configuration=configuration,
                   allow_non_restored_state=args.allow_non_restored_state, restore_mode=args.restore_mode)
    return kind, job


def cmd_flink(args: argparse.Namespace) -> int:
    kind, job = flink_run_job(args)  # before the state file is opened: a usage error writes nothing
    hint = f"rerun the same resumable flink run command with --key {shlex.quote(args.key)}"
    return run_job(args, kind, job, reattach_hint=hint)


def add_flink_run_options(flink: argparse.ArgumentParser) -> None:
    flink.add_argument("action", choices=("run",), help="run: submit the jar, or reattach to it")
    flink.add_argument("--jobmanager", "-m", required=True, metavar="URL",
                       help="the JobManager's REST address (http://host:8081, or host:port as flink run -m)")
    flink.add_argument("--class", "-c", dest="entry_class", metavar="CLASS", help="the program's entry class")
    flink.add_argument("--parallelism", "-p", type=int, metavar="N")
    flink.add_argument("-D", dest="dynamic", action="append", default=[], metavar="KEY=VALUE",
                       help="a configuration option of the job (repeatable)")
    flink.add_argument("--allowNonRestoredState", "-n", dest="allow_non_restored_state", action="store_true",
                       help="when resuming, skip state that maps to no operator")
    flink.add_argument("--restoreMode", "-rm", dest="restore_mode", default="NO_CLAIM",
                       choices=("CLAIM", "NO_CLAIM", "LEGACY"), help="how a resumed job treats its checkpoint")
    flink.add_argument("--stop-with-savepoint", action="store_true",
                       help="resumable cancel stops the job with a savepoint (the next run starts from it)")
    flink.add_argument("--savepoint-dir", metavar="DIR", help="where that savepoint goes (default: the cluster's)")
    flink.add_argument("--no-resume", action="store_true",
                       help="after a failure, start afresh instead of from the last checkpoint")
    flink.add_argument("jar", metavar="JAR", help="the job's jar (a local file; uploaded once per content)")
    flink.add_argument("jar_args", nargs=argparse.REMAINDER, metavar="ARGS")


def _kind_from_meta(meta: dict[str, JsonValue]) -> JobKind | None:
    if meta.get("kind") != KIND:
        return None
    jobmanager, jar, entry = meta.get("jobmanager"), meta.get("jar"), meta.get("entry_class")
    if not isinstance(jobmanager, str) or not isinstance(jar, str):
        return None
    savepoint_dir = meta.get("savepoint_dir")
    return FlinkKind(jobmanager=jobmanager, jar=jar, entry_class=entry if isinstance(entry, str) else None,
                     stop_with_savepoint=meta.get("stop_with_savepoint") is True,
                     savepoint_dir=savepoint_dir if isinstance(savepoint_dir, str) else None)


class _Commands:
    def add_commands(self, commands: Commands) -> None:
        flink = commands.add_job_command(
            "flink", handler=cmd_flink, help="run a jar on a Flink session cluster (resumes from its checkpoints)",
            usage="resumable flink run --key KEY --jobmanager URL [-c CLASS] [-p N] [-D KEY=VALUE] JAR [ARGS...]")
        add_flink_run_options(flink)

    def kind_from_meta(self, meta: dict[str, JsonValue]) -> JobKind | None:
        return _kind_from_meta(meta)


COMMANDS = _Commands()


__all__ = ["COMMANDS", "FlinkKind", "flink_run_job", "jobmanager_url"]
