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
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from resumable_core import ResumableError
from resumable_core.redaction import redact

from ._common import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    STATE_ENV,
    CliError,
    configure_logging,
    describe,
    exit_code_for,
)

# Imported by nothing at start: each command loads what it needs when it runs (a handler is
# named, not imported), and the systems' plugins load only for a command that is not one of
# these (or for the whole --help). status, list and history answer in about twice a bare
# interpreter's start (docs/performance.md).
_BUILTIN: dict[str, tuple[str, str, str]] = {
    "status": ("._records", "cmd_status", "show the record (and the job's live status)"),
    "history": ("._records", "cmd_history", "list every submission made for a key"),
    "cancel": ("._records", "cmd_cancel", "cancel the job recorded under a key"),
    "forget": ("._records", "cmd_forget", "delete the record: the next run submits afresh"),
    "list": ("._records", "cmd_list", "list the keys in the state file"),
    "watch": ("._watch", "cmd_watch", "follow every unfinished key to its end"),
}
# Commands that only read the state file: nothing in them logs unless they ask a job.
_QUIET = frozenset({"status", "history", "list"})


def _columns() -> int:
    """The terminal's width as argparse finds it, without the shutil it imports for that (and
    shutil's compression modules): every parser builds a formatter, so every start paid for it."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]  # None: caught
    except (AttributeError, ValueError, OSError):
        return 80


class _Help(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width if width is not None else _columns() - 2)


class _RawDescriptionHelp(_Help, argparse.RawDescriptionHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the usage is one --help away.
        raise CliError(f"{message} (see: {self.prog} --help)", EXIT_USAGE)


class _Handler:
    """A command's handler, imported when the command runs."""

    __slots__ = ("function", "module")

    def __init__(self, module: str, function: str) -> None:
        self.module = module
        self.function = function

    def __call__(self, args: argparse.Namespace) -> int:
        handler = getattr(importlib.import_module(self.module, __package__), self.function)
        code: int = handler(args)
        return code


_EXIT_HELP = """exit status:
  a job command (run, spark-submit, ...): the job's own exit status (128+N if signal N killed it); 0 success
  watch: 0 when every followed job succeeded, else the largest code among the keys
  117 job cancelled/lost/failed without a status of its own   118 ambiguous submission
  119 could not reach the external system   120 state file unusable   121 nothing recorded
  122 bad usage   123 internal error   130 interrupted (detached or cancelled)   141 stdout closed
see docs/cli.md"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with *command* (a built-in such as ``status``), only what it needs:
    no system's plugin is loaded for it."""
    parser = _Parser(prog="resumable", description="Run a long job once; reattach after a crash.",
                     epilog=_EXIT_HELP, formatter_class=_RawDescriptionHelp)
    _add_common_options(parser, defaults=True)
    # The same options after the subcommand; SUPPRESS keeps a subcommand's unset
    # option from overwriting one given before the subcommand.
    common = _Parser(add_help=False)
    _add_common_options(common, defaults=False)
    commands = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    if command not in _BUILTIN:
        # Each system's commands (run, spark-submit, ...): found, not listed here (_plugins.py).
        from ._plugins import systems
        from .plugin import Commands

        systems_commands = Commands(commands, common)
        for system in systems():
            system.add_commands(systems_commands)

    for name, (module, function, text) in _BUILTIN.items():
        sub = commands.add_parser(name, parents=[common], help=text)
        if name not in ("list", "watch"):
            sub.add_argument("key", metavar="KEY")
        if name in ("status", "history", "cancel"):  # the commands that ask a job: bounded (docs/cli.md)
            sub.add_argument("--timeout", type=float, metavar="SECONDS", default=None,
                             help="end within this long (default: 30 for status and history, 60 for cancel)")
        elif name == "watch":
            sub.add_argument("--key-prefix", metavar="P", default="", help="only the keys that start with P")
            sub.add_argument("--max-concurrent-calls", type=int, default=64, metavar="N",
                             help="bound on calls in flight to the external systems (default 64)")
        sub.set_defaults(handler=_Handler(module, function))
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand *argv* names, when it comes after only the common options; else None."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--state":
            next(tokens, None)
        elif token in ("--json", "--debug") or token.startswith("--state="):
            continue
        else:
            return None if token.startswith("-") else token
    return None


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
        command = command_of(args_list)
        args = build_parser(command).parse_args(args_list)
        debug = bool(args.debug)
        if debug or command not in _QUIET:
            # Third-party libraries log too (urllib3 with --debug): no credential in any line.
            configure_logging(debug)
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
        import traceback

        sys.stderr.write(redact(traceback.format_exc()))
    sys.stderr.write(f"resumable: error: {redact(' '.join(message.splitlines()))}\n")
    sys.stderr.flush()


__all__ = ["build_parser", "command_of", "main"]
