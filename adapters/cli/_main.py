"""``resumable``: run a long job once, from any shell, cron entry or orchestrator.

A thin adapter over resumable_core: the state lives in a SQLite file
(``--state``, else ``$RESUMABLE_STATE``, else ``$XDG_DATA_HOME/resumable/state.db``,
else ``~/.local/share/resumable/state.db``); local jobs keep their directories
beside it. See docs/cli.md.

Exit status (also in docs/cli.md). ``run`` and ``spark-submit`` exit with the job's
own status when it ended with one, as ``timeout``, ``flock`` and ``nice`` do; the
command's own errors use a small reserved range, 117-123, below ``timeout``'s 124-127
and the shell's 126/127 and 128+N:

========  ===================================================================
0         success (the job succeeded, now or in a recorded earlier run)
1-255     run/spark-submit: the job's own exit status (its exit code, or 128+N
          when signal N killed it), also after a reattach, from its record
117       the job ended without a status of its own: cancelled, lost,
          refused, or a Spark driver that FAILED/KILLED/ERROR
118       ambiguous submission: a job may exist that cannot be looked up
119       could not reach the external system (or it answered nonsense)
120       the state file cannot be used (unreadable, corrupt, newer version)
121       nothing is recorded under that key
122       bad usage: unknown option, missing argument, invalid key
123       internal error (a bug: rerun with --debug and report it)
130       interrupted: the client detached (the job keeps running) or cancelled it
141       the reader of stdout went away (``| head``)
========  ===================================================================

A job whose own status falls in 117-123 (or is 130/141) is told apart in ``--json``:
its ``error`` object carries ``job_exit_code``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from resumable_core import (
    JobCancelled,
    JobFailed,
    ResumableError,
    ResumableJob,
    cancel_resumable,
    load_record,
    run_resumable,
)
from resumable_core.redaction import redact
from resumable_core.store import check_key

from ..sqlite import SqliteStateStore
from ._common import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    STATE_ENV,
    CliError,
    default_jobs_dir,
    describe,
    exit_code_for,
    meta_key,
    open_store,
    state_path,
)
from ._jobs import JobKind, LocalKind
from ._observed import observed
from ._output import Output, RetryBudget, output_mode
from ._records import cmd_cancel, cmd_forget, cmd_history, cmd_list, cmd_status
from ._spark_submit import add_spark_submit_options, spark_submit_job
from ._watch import cmd_watch


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the usage is one --help away.
        raise CliError(f"{message} (see: {self.prog} --help)", EXIT_USAGE)


_EXIT_HELP = """exit status:
  run, spark-submit: the job's own exit status (128+N if signal N killed it); 0 success
  watch: 0 when every followed job succeeded, else the largest code among the keys
  117 job cancelled/lost/failed without a status of its own   118 ambiguous submission
  119 could not reach the external system   120 state file unusable   121 nothing recorded
  122 bad usage   123 internal error   130 interrupted (detached or cancelled)   141 stdout closed
see docs/cli.md"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resumable", description="Run a long job once; reattach after a crash.",
                     epilog=_EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common_options(parser, defaults=True)
    # The same options after the subcommand; SUPPRESS keeps a subcommand's unset
    # option from overwriting one given before the subcommand.
    common = _Parser(add_help=False)
    _add_common_options(common, defaults=False)
    commands = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser("run", parents=[common], help="run a local command as a resumable job",
                              usage="resumable run --key KEY [options] -- COMMAND [ARGS...]")
    _add_run_options(run)
    run.add_argument("--jobs-dir", metavar="DIR", help="where local jobs keep their records and output "
                     "(default: beside the state file; must be the same for every run of a key)")
    run.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                     help="on cancel: seconds between SIGTERM and SIGKILL (default 10)")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND", help="the command and its arguments")
    run.set_defaults(handler=cmd_run)

    spark = commands.add_parser("spark-submit", parents=[common], help="submit a Spark application in cluster mode "
                                "(standalone, YARN, Kubernetes)")
    _add_run_options(spark)
    add_spark_submit_options(spark)
    spark.set_defaults(handler=cmd_spark_submit)

    for name, handler, text in (
        ("status", cmd_status, "show the record (and the job's live status)"),
        ("history", cmd_history, "list every submission made for a key"),
        ("cancel", cmd_cancel, "cancel the job recorded under a key"),
        ("forget", cmd_forget, "delete the record: the next run submits afresh"),
    ):
        sub = commands.add_parser(name, parents=[common], help=text)
        sub.add_argument("key", metavar="KEY")
        sub.set_defaults(handler=handler)
    listing = commands.add_parser("list", parents=[common], help="list the keys in the state file")
    listing.set_defaults(handler=cmd_list)

    watch = commands.add_parser("watch", parents=[common], help="follow every unfinished key to its end")
    watch.add_argument("--key-prefix", metavar="P", default="", help="only the keys that start with P")
    watch.add_argument("--max-concurrent-calls", type=int, default=64, metavar="N",
                       help="bound on calls in flight to the external systems (default 64)")
    watch.set_defaults(handler=cmd_watch)
    return parser


def _add_common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    parser.add_argument("--state", metavar="PATH", default=None if defaults else argparse.SUPPRESS,
                        help=f"state file (default: ${STATE_ENV} or a per-user file)")
    parser.add_argument("--json", action="store_true", default=False if defaults else argparse.SUPPRESS,
                        help="print one JSON object per line on stdout")
    parser.add_argument("--debug", action="store_true", default=False if defaults else argparse.SUPPRESS,
                        help="show tracebacks and the core's log")


def _add_run_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--key", required=True, help="names the logical job: same key, same job")
    sub.add_argument("--fresh", action="store_true", help="ignore a recorded success and run again")
    sub.add_argument("--cancel-on-interrupt", action="store_true",
                     help="on Ctrl-C or SIGTERM cancel the job (default: detach, leaving it running)")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = False  # a usage error needs no traceback
    try:
        args = build_parser().parse_args(args_list)
        debug = bool(args.debug)
        handler = logging.StreamHandler()
        # Third-party libraries log too (urllib3 with --debug): no credential in any line.
        handler.setFormatter(_RedactingFormatter("resumable: %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.DEBUG if debug else logging.CRITICAL + 1, handlers=[handler])
        code: int = args.handler(args)
        return code
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except CliError as exc:
        _error(str(exc), debug)
        return exc.code
    except ResumableError as exc:
        code = exit_code_for(exc)
        _error(describe(exc), debug)
        return code
    except KeyboardInterrupt:
        _error("interrupted", debug)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our stdout went away (| head): like any filter, stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug: one line unless --debug
        _error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", debug)
        return EXIT_INTERNAL


def _error(message: str, debug: bool) -> None:
    if debug and sys.exc_info()[0] is not None:
        sys.stderr.write(redact(traceback.format_exc()))
    sys.stderr.write(f"resumable: error: {redact(' '.join(message.splitlines()))}\n")
    sys.stderr.flush()


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# -- run and spark-submit -------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise CliError("run needs a command after -- (see: resumable run --help)", EXIT_USAGE)
    key = check_key(args.key)
    store = open_store(args)
    jobs_dir = Path(args.jobs_dir) if args.jobs_dir else default_jobs_dir(state_path(args))
    kind = LocalKind(jobs_dir=jobs_dir.absolute(), grace=args.grace)
    job = kind.job(argv)
    hint = shlex.join(["resumable", "run", "--key", key, *_state_args(args), "--", *argv])
    return drive(args, store, key, kind, job, reattach_hint=hint)


def cmd_spark_submit(args: argparse.Namespace) -> int:
    key = check_key(args.key)
    kind, job = spark_submit_job(args)  # before the state file is opened: a usage error writes nothing
    store = open_store(args)
    hint = f"rerun the same spark-submit command with --key {shlex.quote(key)}"
    return drive(args, store, key, kind, job, reattach_hint=hint)


def _state_args(args: argparse.Namespace) -> list[str]:
    return ["--state", args.state] if args.state else []


def drive(
    args: argparse.Namespace, store: SqliteStateStore, key: str, kind: JobKind, job: ResumableJob[Any], *, reattach_hint: str
) -> int:
    # Read the record before writing anything: a corrupt one stops us with the file untouched.
    load_record(store, key)
    meta = kind.meta()
    if store.get(meta_key(key)) != meta:
        store.set(meta_key(key), meta)
    poll = kind.poll_policy()
    output = Output(output_mode(args.json), started_at=kind.started_at, is_active=job.is_job_active,
                    retry_budget=RetryBudget(poll.transient_attempts, poll.transient_seconds))
    output.key = key
    try:
        with _sigterm_as_interrupt():
            try:
                result = run_resumable(
                    observed(job, output), store, key=key, fresh=args.fresh, policy=kind.policy(), poll=poll,
                    listener=output.event, sleep=output.sleep,
                )
            except KeyboardInterrupt:
                return _interrupted(args, store, key, job, output, reattach_hint)
    except JobFailed as exc:
        output.close()
        job_status: int | None = None
        if isinstance(exc, JobCancelled):
            # Cancelled now or earlier: either way the key stays cancelled until asked again.
            message = (f"key {key!r}: job {exc.job_id} was cancelled; to run it again add --fresh "
                       f"(or: resumable forget {shlex.quote(key)})")
        else:
            details = kind.failure_details(exc.job_id) if exc.job_id else None
            message = f"key {key!r}: job {exc.job_id} ended {exc.status}" + (f": {details}" if details else "")
            # The job's own status, as timeout/flock/nice pass it on: also after a reattach,
            # read from the job's exit record.
            job_status = kind.exit_status(exc.job_id) if exc.job_id else None
        code = job_status if job_status is not None else EXIT_JOB_FAILED
        if output.mode == "json":
            output.json_line({"event": "error", "key": key, "job_id": exc.job_id, "status": exc.status,
                              "message": message, "exit_code": code, "job_exit_code": job_status})
        else:
            kind.replay_output(exc.job_id)
        raise CliError(message, code) from exc
    except ResumableError as exc:
        output.close()
        if output.mode == "json":
            output.json_line({"event": "error", "key": key, "message": describe(exc),
                              "exit_code": exit_code_for(exc), "job_exit_code": None})
        raise
    output.close()
    if output.mode == "json":
        output.json_line({"event": "result", "key": key, "job_id": output.job_id, "how": output.how,
                          "result": result if isinstance(result, dict) else None, "exit_code": EXIT_OK,
                          "job_exit_code": EXIT_OK})
    else:
        kind.replay_output(output.job_id)
        output.say(kind.success_summary(result))
    return EXIT_OK


def _interrupted(
    args: argparse.Namespace, store: SqliteStateStore, key: str, job: ResumableJob[Any], output: Output, hint: str
) -> int:
    output.close()
    if args.cancel_on_interrupt:
        output.say("interrupted: cancelling the job")
        record = cancel_resumable(job, store, key=key, listener=output.event)
        job_id = record.job_id if record is not None else None
        if output.mode == "json":
            output.json_line({"event": "interrupted", "key": key, "job_id": job_id, "cancelled": True,
                              "exit_code": EXIT_INTERRUPTED})
        return EXIT_INTERRUPTED
    record = load_record(store, key)
    job_id = record.job_id if record is not None else None
    if output.mode == "json":
        output.json_line({"event": "interrupted", "key": key, "job_id": job_id, "cancelled": False,
                          "reattach": hint, "exit_code": EXIT_INTERRUPTED})
    else:
        running = f"job {job_id} keeps running" if job_id else "the submission keeps its reference"
        output.say(f"detached: {running}. Reattach with: {hint}")
    return EXIT_INTERRUPTED


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (an orchestrator stopping us) is handled like Ctrl-C: detach, or cancel if asked."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["build_parser", "main"]
