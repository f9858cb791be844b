"""The ``resumable`` command: run, reattach, inspect and cancel resumable jobs from a shell.

``resumable = "resumable_adapters.cli:main"`` (pyproject) and ``python -m resumable_adapters.cli``; see docs/cli.md.
"""

from __future__ import annotations

from ._common import (
    EXIT_AMBIGUOUS,
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_NO_RECORD,
    EXIT_OK,
    EXIT_STATE,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from ._main import build_parser, main

__all__ = [
    "EXIT_AMBIGUOUS",
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_JOB_FAILED",
    "EXIT_NO_RECORD",
    "EXIT_OK",
    "EXIT_STATE",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]
