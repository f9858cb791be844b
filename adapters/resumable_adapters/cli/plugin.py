"""What a system implements to plug its commands into ``resumable``; the only part of this
package other integrations import.

A system package ``resumable_adapters.<system>`` that has a ``_cli`` module takes part: that
module defines ``COMMANDS``, an object with the two methods of :class:`SystemCommands`. The
command finds it by that convention (``_plugins.py``), so the command's own code names no
system::

    class _Commands:
        def add_commands(self, commands: Commands) -> None:
            sub = commands.add_job_command("pod", help="run a pod", handler=cmd_pod)
            sub.add_argument("--image", required=True)

        def kind_from_meta(self, meta: dict[str, JsonValue]) -> JobKind | None:
            return PodKind.from_meta(meta) if meta.get("kind") == "pod" else None

    COMMANDS = _Commands()

A handler gets the parsed arguments and returns the exit status; one that runs a job ends
with ``run_job(args, kind, job, reattach_hint=...)``, which does what every job command does
(the record read before anything is written, events, interrupts, the job's own exit status).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol

from resumable_core import JsonValue, ResumableJob
from resumable_core.store import check_key

from ._common import EXIT_USAGE, CliError, command_exit_status, default_jobs_dir, open_store, state_path
from ._kinds import JobKind, ask_status

Handler = Callable[[argparse.Namespace], int]


class Commands:
    """Where a system adds its subcommands; each gets the options every command takes."""

    def __init__(self, subcommands: Any, common: argparse.ArgumentParser) -> None:
        self._subcommands = subcommands  # argparse's private _SubParsersAction
        self._common = common

    def add_command(self, name: str, *, help: str, handler: Handler, usage: str | None = None,
                    aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        """A subcommand with the common options (--state, --json, --debug)."""
        sub: argparse.ArgumentParser = self._subcommands.add_parser(
            name, parents=[self._common], help=help, usage=usage, aliases=list(aliases))
        sub.set_defaults(handler=handler)
        return sub

    def add_job_command(self, name: str, *, help: str, handler: Handler, usage: str | None = None,
                        aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        """A subcommand that runs a job under a key: also --key, --fresh and --cancel-on-interrupt."""
        sub = self.add_command(name, help=help, handler=handler, usage=usage, aliases=aliases)
        sub.add_argument("--key", required=True, help="names the logical job: same key, same job")
        sub.add_argument("--fresh", action="store_true", help="ignore a recorded success and run again")
        sub.add_argument("--cancel-on-interrupt", action="store_true",
                         help="on Ctrl-C or SIGTERM cancel the job (default: detach, leaving it running)")
        return sub


class SystemCommands(Protocol):
    """A system's part of the command: its subcommands, and its jobs rebuilt from their meta."""

    def add_commands(self, commands: Commands) -> None: ...

    def kind_from_meta(self, meta: dict[str, JsonValue]) -> JobKind | None:
        """The kind that stored ``meta`` (see ``JobKind.meta``), or None when it is another system's."""
        ...


def run_job(args: argparse.Namespace, kind: JobKind, job: ResumableJob[Any], *, reattach_hint: str) -> int:
    """Run ``job`` under ``args.key`` in the state file ``args`` names: what every job command ends with.

    Build the job before calling: a usage error then writes nothing, not even the state file.
    """
    from ._drive import drive  # the runner and its output: loaded by the command that runs a job

    key = check_key(args.key)
    store = open_store(args)
    return drive(args, store, key, kind, job, reattach_hint=reattach_hint)


__all__ = [
    "EXIT_USAGE",
    "CliError",
    "Commands",
    "Handler",
    "JobKind",
    "SystemCommands",
    "ask_status",
    "command_exit_status",
    "default_jobs_dir",
    "run_job",
    "state_path",
]
