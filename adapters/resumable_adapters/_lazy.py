"""A package's public names, each loaded from its private module on first use.

The ``resumable`` command imports every system package on each start to find its commands
(``<system>/_cli.py``); a command that never touches a system (``resumable status`` of a local
job, ``--help``) must not pay for that system's client library (urllib3, botocore, the
Databricks SDK), nor fail without its extra. So a package's ``__init__`` names each public
name's home instead of importing it::

    __getattr__, __dir__ = exports(__name__, {"SparkRestJob": "_job", ...})

and keeps its literal ``__all__`` and its ``TYPE_CHECKING`` imports (what type checkers read).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, homes: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of *package*, whose public names live in
    the private modules *homes* names (name -> module relative to *package*, e.g. ``"_job"``)."""
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value  # once loaded, an ordinary attribute
        return value

    def __dir__() -> list[str]:
        # The public names are ``__all__`` (the eager ones included) and the homes': not the
        # helpers the ``__init__`` itself imports (``TYPE_CHECKING``, ``exports``, ``annotations``).
        public = set(homes) | set(namespace.get("__all__", ()))
        return sorted({n for n in namespace if n.startswith("_")} | public)

    return __getattr__, __dir__
