"""Which systems plug commands into ``resumable``: found, not listed.

A system package of ``resumable_adapters`` that has a ``_cli`` module takes part: the module's
``COMMANDS`` (a :class:`~resumable_adapters.cli.plugin.SystemCommands`) adds the system's
subcommands and rebuilds its jobs from what they stored. This package names no system, so a
new system is one new ``_cli`` module and no edit here, and nothing here imports a system
that its own module does not (no import cycle to dodge).

The scan is a directory listing, not ``importlib.metadata`` entry points: those read every
installed distribution's metadata (an Airflow environment has hundreds) on each start of a
command that should answer at once.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from typing import TYPE_CHECKING

from resumable_core import JsonValue

from ._kinds import JobKind

if TYPE_CHECKING:
    from .plugin import SystemCommands

_PACKAGE = __name__.rsplit(".", 2)[0]  # resumable_adapters
PLUGIN_MODULE = "_cli"


def _system_names() -> list[str]:
    package = importlib.import_module(_PACKAGE)
    names: set[str] = set()
    for folder in package.__path__:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            if os.path.isfile(os.path.join(folder, entry, PLUGIN_MODULE + ".py")):
                names.add(entry)
    return sorted(names)


@cache
def systems() -> tuple[SystemCommands, ...]:
    """Every system's commands, in the order of their package names (that of ``--help``)."""
    found: list[SystemCommands] = []
    for name in _system_names():
        module = importlib.import_module(f"{_PACKAGE}.{name}.{PLUGIN_MODULE}")
        found.append(module.COMMANDS)
    return tuple(found)


def kind_from_meta(meta: JsonValue) -> JobKind | None:
    """The kind that ran a key, rebuilt from its stored meta; None for a key no system claims."""
    if not isinstance(meta, dict):
        return None
    for system in systems():
        kind = system.kind_from_meta(meta)
        if kind is not None:
            return kind
    return None


__all__ = ["kind_from_meta", "systems"]
