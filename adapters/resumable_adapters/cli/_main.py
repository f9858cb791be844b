"""``resumable``: run a long job once, from any shell, cron entry or orchestrator.

A thin adapter over resumable_core: the state lives in a SQLite file
(``--state``, else ``$RESUMABLE_STATE``, else ``$XDG_DATA_HOME/resumable/state.db``,
else ``~/.local/share/resumable/state.db``); local jobs keep their directories
beside it. See docs/cli.md.

Exit status (also in docs/cli.md). A command that runs a job exits with the job's
own status when it ended with one, as ``timeout``, ``flock`` and ``nice`` do; the
command's own errors use a small reserved range, 117-123, below ``timeout``'s 124-127
and the shell's 126/127 and 128+N:

========  ===================================================================
0         success (the job succeeded, now or in a recorded earlier run)
1-255     a job command: the job's own exit status (its exit code, or 128+N
          when signal N killed it), also after a reattach, from its record
117       the job ended without a status of its own: cancelled, lost,
          refused, or a job that reports a state but no exit status
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
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from resumable_core import (
    ResumableError,
)
from resumable_core.redaction import redact

from ._common import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    STATE_ENV,
    CliError,
    describe,
    exit_code_for,
)
from ._plugins import systems
from ._records import cmd_cancel, cmd_forget, cmd_history, cmd_list, cmd_status
from ._watch import cmd_watch
from .plugin import Commands


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the usage is one --help away.
        raise CliError(f"{message} (see: {self.prog} --help)", EXIT_USAGE)


_EXIT_HELP = """exit status:
  a job command (run, spark-submit, ...): the job's own exit status (128+N if signal N killed it); 0 success
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

    # Each system's commands (run, spark-submit, ...): found, not listed here (_plugins.py).
    systems_commands = Commands(commands, common)
    for system in systems():
        system.add_commands(systems_commands)

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


__all__ = ["build_parser", "main"]
